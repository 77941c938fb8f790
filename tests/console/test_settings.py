"""The settings screen at the HTML level: admins only, CSRF, each error at its dotted field with
the input kept and nothing saved, secrets set write-only (never back on a page), channel tests
showing the receiver's answer, and the audit trail."""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from renewflow.db import Database
from renewflow.settings.secrets import KEY_ENV, new_key
from tests.console.conftest import SignedIn
from tests.notify.conftest import SmtpServer, certificate, certificate_or_none, smtp_server

__all__ = ["certificate", "certificate_or_none", "smtp_server"]


def _settings(database: Database, tenant: uuid.UUID) -> dict[str, Any]:
    with database.tenant_transaction(tenant) as conn:
        row = conn.execute("SELECT name, time_zone, settings FROM tenants").fetchone()
    assert row is not None
    return row


def _form(signed: SignedIn, **values: str) -> dict[str, str]:
    """The settings form as the page has it, with `values` changed (dots as in the keys)."""
    page = signed.client.get("/admin/settings").text
    import re

    fields = dict(re.findall(r'<input id="f-[^"]+" name="([^"]+)"[^>]*value="([^"]*)"', page))
    fields = {k: html.unescape(v) for k, v in fields.items()}
    for select in re.findall(r'<select id="f-[^"]+" name="([^"]+)"', page):
        fields.setdefault(select, "")
    return {**fields, **values}


@pytest.mark.parametrize("role", ["csm", "manager", "service"])
def test_only_admins_see_or_change_settings(
    database: Database, console_as: Callable[..., SignedIn], role: str
) -> None:
    signed = console_as(role)
    assert signed.client.get("/admin/settings").status_code == 403
    token = signed.csrf()
    for path, data in (
        ("/admin/settings", {"company.ceo": "ceo@acme.example"}),
        ("/admin/settings/secrets", {"name": "x", "value": "y"}),
        ("/admin/settings/test", {"channel": "llm"}),
    ):
        assert signed.client.post(path, data={"csrf": token, **data}).status_code == 403, path
    assert _settings(database, signed.tenant)["settings"] == {}


def test_a_post_without_the_csrf_token_changes_nothing(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    admin = console_as("admin")
    for path, data in (
        ("/admin/settings", _form(admin, **{"company.ceo": "ceo@acme.example"})),
        ("/admin/settings/secrets", {"name": "x", "value": "y"}),
    ):
        refused = admin.client.post(path, data=data)
        assert refused.status_code == 403
        assert "security token" in refused.text
        forged = admin.client.post(path, data={**data, "csrf": "0" * 64})
        assert forged.status_code == 403
    assert _settings(database, admin.tenant)["settings"] == {}


def test_saving_the_form_and_the_audit_trail(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    admin = console_as("admin")
    answer = admin.post(
        "/admin/settings",
        _form(
            admin,
            **{
                "company.vp_customer_success": "vp@acme.example",
                "company.war_room": "#renewals",
                "time_zone": "America/New_York",
                "tasks.snooze_deadline_days": "3",
            },
        ),
    )
    assert answer.status_code == 303, answer.text
    stored = _settings(database, admin.tenant)
    assert stored["time_zone"] == "America/New_York"
    assert stored["settings"] == {
        "company": {"vp_customer_success": "vp@acme.example", "war_room": "#renewals"},
        "tasks": {"snooze_deadline_days": 3},
    }
    page = admin.client.get(answer.headers["location"]).text
    assert "Saved." in page
    assert admin.email in page
    assert "<code>company.war_room</code>" in page
    # saving the same form again changes nothing
    again = admin.post("/admin/settings", _form(admin))
    assert again.headers["location"].startswith("/admin/settings?done=unchanged")


def test_errors_are_at_their_field_with_the_input_kept_and_nothing_saved(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    admin = console_as("admin")
    answer = admin.post(
        "/admin/settings",
        _form(
            admin,
            **{
                "company.ceo": "not-an-address",
                "time_zone": "Mars/Olympus",
                "company.vp_customer_success": "vp@acme.example",
                "notifications.smtp.host": "smtp.acme.example",
                "notifications.smtp.port": "99999",
                "notifications.smtp.from_address": "rf@acme.example",
            },
        ),
    )
    assert answer.status_code == 422
    page = answer.text
    assert "Nothing was saved: 3 settings to correct." in page
    for dom in ("f-company-ceo", "f-time-zone", "f-notifications-smtp-port"):
        assert f'id="{dom}-error"' in page, dom
        assert f'aria-describedby="{dom}-help {dom}-error"' in page or (
            f'aria-describedby="{dom}-error"' in page
        ), dom
    assert 'value="not-an-address"' in page
    assert 'value="99999"' in page
    assert 'value="vp@acme.example"' in page  # the valid input is kept too, not saved
    assert _settings(database, admin.tenant)["settings"] == {}


def test_the_advanced_patch_and_its_errors(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    admin = console_as("admin")
    answer = admin.post(
        "/admin/settings", {**_form(admin), "advanced": '{"webhooks": {"crm": {"url": "nope"}}}'}
    )
    assert answer.status_code == 422
    assert "<code>webhooks.crm.url</code>" in answer.text
    assert answer.text.count("nope") >= 1  # the patch is kept
    answer = admin.post(
        "/admin/settings",
        {**_form(admin), "advanced": '{"webhooks": {"crm": {"url": "https://crm.example/h"}}}'},
    )
    assert answer.status_code == 303
    assert _settings(database, admin.tenant)["settings"] == {
        "webhooks": {"crm": {"url": "https://crm.example/h"}}
    }


def test_a_secret_is_set_write_only(
    database: Database, console_as: Callable[..., SignedIn], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, new_key())
    admin = console_as("admin")
    answer = admin.post("/admin/settings/secrets", {"name": "smtp-password", "value": "s3cr3t-pw!"})
    assert answer.status_code == 303
    page = admin.client.get("/admin/settings").text
    assert "<code>smtp-password</code>" in page
    assert "s3cr3t-pw!" not in page
    assert "s3cr3t-pw!" not in str(_settings(database, admin.tenant))
    # a refused secret (a bad name) comes back without its value
    refused = admin.post("/admin/settings/secrets", {"name": "no spaces", "value": "v4lue-kept?"})
    assert refused.status_code == 422
    assert "v4lue-kept?" not in refused.text
    assert 'value="no spaces"' in refused.text
    # named by a setting, it cannot be removed
    admin.post(
        "/admin/settings",
        _form(
            admin,
            **{
                "notifications.smtp.host": "smtp.acme.example",
                "notifications.smtp.from_address": "rf@acme.example",
                "notifications.smtp.username": "rf",
                "notifications.smtp.password_secret": "smtp-password",
            },
        ),
    )
    kept = admin.post("/admin/settings/secrets", {"remove": "smtp-password"})
    assert kept.status_code == 422
    assert "notifications.smtp.password_secret" in html.unescape(kept.text)


def test_testing_email_shows_the_servers_answer(
    console_as: Callable[..., SignedIn], smtp_server: SmtpServer
) -> None:
    admin = console_as("admin")
    inbox, port = smtp_server()
    saved = admin.post(
        "/admin/settings",
        _form(
            admin,
            **{
                "notifications.smtp.host": "127.0.0.1",
                "notifications.smtp.port": str(port),
                "notifications.smtp.security": "none",
                "notifications.smtp.from_address": "rf@acme.example",
            },
        ),
    )
    assert saved.status_code == 303, saved.text
    answer = admin.post("/admin/settings/test", {"channel": "email", "to": "qa@acme.example"})
    assert answer.status_code == 200
    assert "email: accepted" in answer.text
    assert "250 Message accepted for delivery" in answer.text
    assert inbox.messages[0]["to"] == ["qa@acme.example"]
    failed = admin.post("/admin/settings/test", {"channel": "webhook"})
    assert failed.status_code == 200
    assert "webhook: failed" in failed.text
    assert "not configured" in failed.text
