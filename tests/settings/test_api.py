"""GET and PATCH /api/tenant: admins only, JSON Merge Patch applied whole or not at all, errors
at their dotted key, unknown keys refused, secrets write-only, every change audited; channel
and LLM tests that report what the other end said."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from renewflow.db import Database
from tests.api.conftest import bearer
from tests.notify.conftest import SmtpServer, free_port
from tests.settings.conftest import Admin, Hook

MERGE = {"Content-Type": "application/merge-patch+json"}


def _patch(admin: Admin, body: Any) -> httpx.Response:
    return admin.http.patch("/api/tenant", json=body, headers=MERGE)


def test_an_admin_reads_the_defaults(admin: Admin) -> None:
    answer = admin.http.get("/api/tenant")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["display_name"].startswith("Settings ")
    assert body["time_zone"] == "UTC"
    assert body["company"] == {"vp_customer_success": None, "ceo": None, "war_room": None}
    assert body["llm"]["provider"] == "mock"
    assert body["tasks"] == {"snooze_deadline_days": 7}
    assert body["secrets"] == {}


def test_a_merge_patch_changes_only_what_it_names_and_is_audited(admin: Admin) -> None:
    answer = _patch(
        admin,
        {
            "display_name": "Acme Customer Success",
            "time_zone": "Europe/Paris",
            "company": {"vp_customer_success": "vp@acme.example", "war_room": "#renewals"},
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["company"]["war_room"] == "#renewals"
    answer = _patch(admin, {"company": {"ceo": "ceo@acme.example", "war_room": None}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["display_name"] == "Acme Customer Success"
    assert body["time_zone"] == "Europe/Paris"
    assert body["company"] == {
        "vp_customer_success": "vp@acme.example",
        "ceo": "ceo@acme.example",
        "war_room": None,
    }
    me = admin.http.get("/api/me").json()
    assert me["tenant"]["time_zone"] == "Europe/Paris"  # the column the sweeps read
    audit = admin.http.get("/api/tenant/audit").json()
    assert audit["total"] == 2
    newest, oldest = audit["changes"]
    assert newest["keys"] == ["company.ceo", "company.war_room"]
    assert oldest["keys"] == [
        "company.vp_customer_success",
        "company.war_room",
        "display_name",
        "time_zone",
    ]
    assert {c["actor"] for c in audit["changes"]} == {admin.email}
    assert {c["actor_user_id"] for c in audit["changes"]} == {str(admin.user)}
    # the same patch again changes nothing and records nothing
    assert _patch(admin, {"company": {"ceo": "ceo@acme.example"}}).status_code == 200
    assert admin.http.get("/api/tenant/audit").json()["total"] == 2


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"company": {"ceo": "not an address"}}, "company.ceo"),
        (
            {"company": {"vp_customer_success": "a@b.example,c@d.example"}},
            "company.vp_customer_success",
        ),
        (
            {"notifications": {"webhook": {"url": "ftp://hooks.example/x"}}},
            "notifications.webhook.url",
        ),
        (
            {
                "notifications": {
                    "smtp": {"host": "smtp.example", "port": 70000, "from_address": "a@b.example"}
                }
            },
            "notifications.smtp.port",
        ),
        (
            {
                "notifications": {
                    "smtp": {
                        "host": "smtp.example",
                        "security": "tls",
                        "from_address": "a@b.example",
                    }
                }
            },
            "notifications.smtp.security",
        ),
        (
            {"notifications": {"smtp": {"host": "smtp.example", "from_address": "nobody@local"}}},
            "notifications.smtp.from_address",
        ),
        (
            {
                "notifications": {
                    "smtp": {"host": "smtp example", "from_address": "rf@acme.example"}
                }
            },
            "notifications.smtp.host",
        ),
        ({"llm": {"base_url": "localhost:11434/v1"}}, "llm.base_url"),
        ({"llm": {"provider": "skynet"}}, "llm.provider"),
        ({"company": {"cfo": "cfo@acme.example"}}, "company.cfo"),
        ({"vpCustomerSuccess": "vp@acme.example"}, "vpCustomerSuccess"),
        ({"llm": {"api_key_secret": "nope"}}, "llm.api_key_secret"),
        ({"display_name": None}, "display_name"),
        ({"demo": {"seed": 1}}, "demo"),
    ],
)
def test_invalid_input_is_422_at_the_dotted_key_and_changes_nothing(
    admin: Admin, patch: dict[str, Any], field: str
) -> None:
    before = admin.http.get("/api/tenant").json()
    # a valid change in the same patch is not applied either
    answer = _patch(admin, {**patch, "default_currency": "EUR"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    fields = [e["field"] for e in answer.json()["errors"]]
    assert field in fields, answer.json()
    assert admin.http.get("/api/tenant").json() == before
    assert admin.http.get("/api/tenant/audit").json()["total"] == 0


def test_every_error_is_listed(admin: Admin) -> None:
    answer = _patch(
        admin,
        {
            "time_zone": "Nowhere/Else",
            "company": {"ceo": "x"},
            "tasks": {"snooze_deadline_days": 0},
        },
    )
    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} == {
        "time_zone",
        "company.ceo",
        "tasks.snooze_deadline_days",
    }


def test_a_patch_that_is_not_an_object_is_refused(admin: Admin) -> None:
    answer = admin.http.patch("/api/tenant", json=["company"], headers=MERGE)
    assert answer.status_code == 422


@pytest.mark.parametrize("role", ["manager", "csm", "service"])
def test_only_admins(
    api_url: str,
    tenant_factory: Callable[..., uuid.UUID],
    make_key: Callable[..., tuple[uuid.UUID, str]],
    database: Database,
    role: str,
) -> None:
    tenant = tenant_factory()
    _, key = make_key(tenant, role)
    with httpx.Client(base_url=api_url, headers=bearer(key)) as http:
        for method, path, body in (
            ("GET", "/api/tenant", None),
            ("PATCH", "/api/tenant", {"company": {"ceo": "ceo@acme.example"}}),
            ("GET", "/api/tenant/audit", None),
            ("POST", "/api/tenant/notifications/test", {"channel": "email"}),
            ("POST", "/api/tenant/llm/test", None),
        ):
            answer = http.request(method, path, json=body)
            assert answer.status_code == 403, (method, path)
    with database.tenant_transaction(tenant) as conn:
        row = conn.execute("SELECT settings FROM tenants").fetchone()
    assert row == {"settings": {}}


def test_secrets_are_write_only(admin: Admin, secret_key: str) -> None:
    answer = _patch(admin, {"secrets": {"smtp-password": "hunter2-smtp"}})
    assert answer.status_code == 200, answer.text
    status = answer.json()["secrets"]["smtp-password"]
    assert status["set"] is True
    assert status["set_by"] == admin.email
    assert "hunter2" not in answer.text
    assert "hunter2" not in admin.http.get("/api/tenant").text
    [change] = admin.http.get("/api/tenant/audit").json()["changes"]
    assert change["keys"] == ["secrets.smtp-password"]
    # a setting may name it now
    answer = _patch(
        admin,
        {
            "notifications": {
                "smtp": {
                    "host": "smtp.acme.example",
                    "from_address": "renewals@acme.example",
                    "username": "renewals",
                    "password_secret": "smtp-password",
                }
            }
        },
    )
    assert answer.status_code == 200, answer.text
    # and it cannot be removed while named
    answer = _patch(admin, {"secrets": {"smtp-password": None}})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "notifications.smtp.password_secret"
    answer = _patch(admin, {"secrets": {"smtp-password": None}, "notifications": {"smtp": None}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["secrets"] == {}


def test_a_secret_cannot_be_set_without_an_envelope_key(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RENEWFLOW_SECRET_KEY", raising=False)
    monkeypatch.delenv("RENEWFLOW_SECRET_KEY_FILE", raising=False)
    answer = _patch(admin, {"secrets": {"openai": "sk-not-stored"}})
    assert answer.status_code == 409
    assert "RENEWFLOW_SECRET_KEY" in answer.json()["detail"]
    assert "sk-not-stored" not in answer.text
    assert admin.http.get("/api/tenant").json()["secrets"] == {}


@pytest.mark.parametrize(
    "query", ["?secrets.openai=sk-in-the-url", "?password=x", "?api_key=sk-live-123"]
)
def test_a_secret_in_a_query_string_is_refused(admin: Admin, secret_key: str, query: str) -> None:
    for method in ("GET", "PATCH"):
        answer = admin.http.request(
            method, f"/api/tenant{query}", json={"secrets": {"openai": "sk-body"}}
        )
        assert answer.status_code == 400, (method, answer.text)
        assert "sk-" not in answer.text
    assert admin.http.get("/api/tenant/audit?limit=5").status_code == 200
    assert admin.http.get("/api/tenant").json()["secrets"] == {}


def test_testing_email_reports_the_servers_answer(admin: Admin, smtp_server: SmtpServer) -> None:
    inbox, port = smtp_server()
    smtp = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "rf@acme.example",
    }
    assert _patch(admin, {"notifications": {"smtp": smtp}}).status_code == 200
    answer = admin.http.post("/api/tenant/notifications/test", json={"channel": "email"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is True
    assert body["answer"] == "250 Message accepted for delivery"
    assert body["target"] == f"smtp://127.0.0.1:{port}"
    [message] = inbox.messages
    assert message["to"] == [admin.email]  # by default, the admin who asked
    inbox.refuse["nobody@acme.example"] = "550 5.1.1 No such user here"
    answer = admin.http.post(
        "/api/tenant/notifications/test", json={"channel": "email", "to": "nobody@acme.example"}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is False
    assert "550 5.1.1 No such user here" in body["error"]


def test_testing_an_unreachable_server_is_200_with_the_error(admin: Admin) -> None:
    smtp = {
        "host": "127.0.0.1",
        "port": free_port(),
        "security": "none",
        "from_address": "rf@acme.example",
    }
    assert _patch(admin, {"notifications": {"smtp": smtp}}).status_code == 200
    answer = admin.http.post("/api/tenant/notifications/test", json={"channel": "email"})
    assert answer.status_code == 200
    assert answer.json()["ok"] is False
    assert "cannot reach the SMTP server" in answer.json()["error"]


def test_testing_a_channel_not_configured(admin: Admin) -> None:
    answer = admin.http.post("/api/tenant/notifications/test", json={"channel": "webhook"})
    assert answer.status_code == 200
    assert answer.json()["ok"] is False
    assert "not configured" in answer.json()["error"]


def test_testing_a_webhook_reports_its_answer_and_hides_its_secret_url(
    admin: Admin, webhook: Hook, secret_key: str
) -> None:
    answer = _patch(
        admin,
        {
            "secrets": {"slack-url": webhook.url, "hook-signing": "whsec-123"},
            "notifications": {
                "webhook": {
                    "url_secret": "slack-url",
                    "format": "slack",
                    "signing_secret": "hook-signing",
                }
            },
        },
    )
    assert answer.status_code == 200, answer.text
    assert "SLACKPATHSECRET" not in answer.text
    result = admin.http.post("/api/tenant/notifications/test", json={"channel": "webhook"})
    assert result.status_code == 200
    assert result.json()["ok"] is True
    assert result.json()["answer"] == "HTTP 200: ok"
    [sent] = webhook.received
    assert sent.path.endswith("SLACKPATHSECRET")
    assert sent.json()["text"].startswith("*renewflow test message*")
    assert sent.headers["X-Renewflow-Signature"].startswith("v1=")
    webhook.statuses = [404]
    result = admin.http.post("/api/tenant/notifications/test", json={"channel": "webhook"})
    assert result.status_code == 200
    body = result.json()
    assert body["ok"] is False
    assert body["answer"] == "HTTP 404: no_service"
    assert "SLACKPATHSECRET" not in result.text


def test_testing_the_llm_reports_model_latency_and_cost(admin: Admin, database: Database) -> None:
    answer = admin.http.post("/api/tenant/llm/test")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is True
    assert body["provider"] == "mock"
    assert body["model"] == "mock"
    assert body["latency_ms"] >= 0
    assert float(body["cost_usd"]) == 0.0
    with database.tenant_transaction(admin.tenant) as conn:
        row = conn.execute("SELECT count(*) AS n FROM llm_calls").fetchone()
    assert row == {"n": 1}  # recorded like any other call


def test_testing_an_llm_whose_key_is_missing_is_200_with_the_error(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RF_TEST_NO_SUCH_KEY", raising=False)
    assert (
        _patch(
            admin, {"llm": {"provider": "openai", "api_key_env": "RF_TEST_NO_SUCH_KEY"}}
        ).status_code
        == 200
    )
    answer = admin.http.post("/api/tenant/llm/test")
    assert answer.status_code == 200
    assert answer.json()["ok"] is False
    assert "RF_TEST_NO_SUCH_KEY" in answer.json()["error"]
