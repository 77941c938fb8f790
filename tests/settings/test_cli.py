"""`renewflow tenants show|set|audit` and `renewflow notifications test` as an operator runs them:
real processes against the test database, a local SMTP server and a local webhook receiver. Bad
input is one line on stderr, a non-zero exit, and nothing changed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest

from renewflow.db import Database
from tests.notify.conftest import SmtpServer, free_port
from tests.settings.conftest import Hook
from tests.test_cli import run


def _stored(database: Database, tenant: uuid.UUID) -> dict[str, object]:
    with database.tenant_transaction(tenant) as conn:
        row = conn.execute("SELECT name, time_zone, settings FROM tenants").fetchone()
    assert row is not None
    return dict(row)


def test_set_dotted_keys_then_show_and_audit(
    migrated_url: str, database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory("Cli")
    done = run(
        migrated_url,
        "tenants",
        "set",
        "--tenant",
        str(tenant),
        "company.ceo=ceo@acme.example",
        "company.war_room=#renewals",
        "time_zone=Europe/Paris",
        "tasks.snooze_deadline_days=3",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "changed company.ceo, company.war_room, tasks.snooze_deadline_days, time_zone"
    )
    stored = _stored(database, tenant)
    assert stored["time_zone"] == "Europe/Paris"
    assert stored["settings"] == {
        "company": {"ceo": "ceo@acme.example", "war_room": "#renewals"},
        "tasks": {"snooze_deadline_days": 3},  # a JSON number, not the text "3"
    }

    shown = run(migrated_url, "tenants", "show", "--tenant", str(tenant))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert 'company.ceo = "ceo@acme.example"' in lines
    assert "tasks.snooze_deadline_days = 3" in lines
    assert 'time_zone = "Europe/Paris"' in lines
    assert "company.vp_customer_success = null" in lines  # defaults are shown too
    as_json = json.loads(
        run(migrated_url, "tenants", "show", "--tenant", str(tenant), "--json").stdout
    )
    assert as_json["company"]["war_room"] == "#renewals"

    # null removes a key (back to its default); the same value again changes nothing
    removed = run(migrated_url, "tenants", "set", "--tenant", str(tenant), "company.war_room=null")
    assert removed.stdout.strip() == "changed company.war_room"
    again = run(
        migrated_url, "tenants", "set", "--tenant", str(tenant), "company.ceo=ceo@acme.example"
    )
    assert again.stdout.strip() == "nothing changed"

    audit = run(migrated_url, "tenants", "audit", "--tenant", str(tenant))
    assert audit.returncode == 0, audit.stderr
    newest, oldest = audit.stdout.splitlines()
    assert newest.endswith("update  company.war_room")
    assert "cli" in oldest
    assert "company.ceo, company.war_room" in oldest
    assert "ceo@acme.example" not in audit.stdout  # keys only, never values


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (("time_zone=Mars/Olympus",), "time_zone: unknown time zone 'Mars/Olympus'"),
        (("company.ceo=not-an-address",), "company.ceo: "),
        (("notifications.smtp.port=70000",), "notifications.smtp."),
        (("company.cfo=cfo@acme.example",), "company.cfo: unknown setting"),
        (("llm.provider=skynet",), "llm.provider: "),
        (("company.ceo",), "company.ceo: give KEY=VALUE"),
        (("company=1", "company.ceo=ceo@acme.example"), "set to a value and to an object"),
        (
            ("secrets.smtp=hunter2",),
            "secrets.smtp: set secrets with `renewflow tenants secrets set`",
        ),
    ],
)
def test_bad_input_is_one_line_non_zero_and_changes_nothing(
    migrated_url: str,
    database: Database,
    tenant_factory: Callable[..., uuid.UUID],
    pairs: tuple[str, ...],
    message: str,
) -> None:
    tenant = tenant_factory("Cli")
    before = _stored(database, tenant)
    # a valid pair alongside is not applied either
    done = run(
        migrated_url, "tenants", "set", "--tenant", str(tenant), "default_currency=EUR", *pairs
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr
    assert _stored(database, tenant) == before


def test_show_or_set_for_a_tenant_that_is_not_there(migrated_url: str) -> None:
    for args in (("show",), ("set", "company.ceo=ceo@acme.example")):
        done = run(migrated_url, "tenants", *args[:1], "--tenant", str(uuid.uuid4()), *args[1:])
        assert done.returncode != 0
        assert done.stderr.strip().count("\n") == 0, done.stderr
        assert "tenant not found" in done.stderr


def test_notifications_test_sends_through_the_configured_server(
    migrated_url: str,
    tenant_factory: Callable[..., uuid.UUID],
    smtp_server: SmtpServer,
    webhook: Hook,
) -> None:
    tenant = tenant_factory("Cli")
    inbox, port = smtp_server()
    configured = run(
        migrated_url,
        "tenants",
        "set",
        "--tenant",
        str(tenant),
        "notifications.smtp.host=127.0.0.1",
        f"notifications.smtp.port={port}",
        "notifications.smtp.security=none",
        "notifications.smtp.from_address=rf@vendor.example",
        f"notifications.webhook.url={webhook.url}",
        "notifications.webhook.format=slack",
    )
    assert configured.returncode == 0, configured.stderr

    email = run(
        migrated_url,
        "notifications",
        "test",
        "--tenant",
        str(tenant),
        "--channel",
        "email",
        "--to",
        "ops@vendor.example",
    )
    assert email.returncode == 0, email.stderr
    assert email.stdout.startswith(f"email (smtp://127.0.0.1:{port}): accepted in ")
    assert [m["to"] for m in inbox.messages] == [["ops@vendor.example"]]

    hook = run(
        migrated_url, "notifications", "test", "--tenant", str(tenant), "--channel", "webhook"
    )
    assert hook.returncode == 0, hook.stderr
    assert "webhook (http://127.0.0.1:" in hook.stdout
    assert "accepted" in hook.stdout
    assert "SLACKPATHSECRET" not in hook.stdout  # a Slack URL's path is its credential
    assert len(webhook.received) == 1
    assert webhook.received[0].json()["text"].startswith("*renewflow test message*")

    webhook.statuses.append(404)
    refused = run(
        migrated_url, "notifications", "test", "--tenant", str(tenant), "--channel", "webhook"
    )
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "failed" in refused.stderr
    assert "no_service" in refused.stderr
    assert "SLACKPATHSECRET" not in refused.stderr


def test_notifications_test_reports_an_unreachable_server_in_one_line(
    migrated_url: str, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory("Cli")
    run(
        migrated_url,
        "tenants",
        "set",
        "--tenant",
        str(tenant),
        "notifications.smtp.host=127.0.0.1",
        f"notifications.smtp.port={free_port()}",  # nobody listens
        "notifications.smtp.security=none",
        "notifications.smtp.from_address=rf@vendor.example",
    )
    done = run(
        migrated_url,
        "notifications",
        "test",
        "--tenant",
        str(tenant),
        "--to",
        "ops@vendor.example",
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert done.stderr.startswith("renewflow: error: email (smtp://127.0.0.1:"), done.stderr
    assert "failed" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--channel", "sms"), "--channel: email or webhook"),
        (("--channel", "email"), "--to: give the address"),
        (("--channel", "email", "--to", "not-an-address"), "--to: "),
        (
            (
                "--channel",
                "webhook",
                "--tenant-typo",
            ),
            "No such option",
        ),
    ],
)
def test_notifications_test_bad_input(
    migrated_url: str,
    tenant_factory: Callable[..., uuid.UUID],
    args: tuple[str, ...],
    message: str,
) -> None:
    tenant = tenant_factory("Cli")
    done = run(migrated_url, "notifications", "test", "--tenant", str(tenant), *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert message in done.stderr, done.stderr


def test_notifications_test_of_a_channel_not_configured(
    migrated_url: str, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory("Cli")
    done = run(
        migrated_url, "notifications", "test", "--tenant", str(tenant), "--channel", "webhook"
    )
    assert done.returncode == 1
    assert "the webhook is not configured: set notifications.webhook" in done.stderr
