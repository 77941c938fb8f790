"""The escalation ladder reaches the people the settings name: an admin configures the company
contacts, the CSM's manager, SMTP and a Slack-style webhook through the API; an account 22 days
overdue then delivers its manager, VP, war-room and CEO notifications to exactly those
recipients, each once. A notification whose recipients resolve to nobody is recorded
undeliverable, with the reason, never dropped."""

from __future__ import annotations

import email
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from renewflow import accounts, context
from renewflow.db import Database, Migrator
from renewflow.engine import run_schedule, sweep
from renewflow.notify.delivery import deliver_now
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core
from tests.api.conftest import bearer, serve_in_thread
from tests.notify.conftest import SmtpServer
from tests.settings.conftest import Hook

RENEWAL = date(2026, 11, 1)
VP, CEO, MANAGER, CSM = (
    "vp@vendor.example",
    "ceo@vendor.example",
    "mia@vendor.example",
    "sarah@vendor.example",
)
WAR_ROOM = "#renewals-war-room"  # a channel of the Slack-style webhook


@pytest.fixture
def own_db(make_database: Callable[[], str]) -> Iterator[tuple[Database, str]]:
    """A database and server of their own: the schedule and delivery span every tenant."""
    url = make_database()
    Migrator(url).migrate()
    with Database(url, max_size=6) as db:
        with db.service_transaction() as conn:
            seed_core(conn, core_library())
        for api in serve_in_thread(db):
            yield db, api


def _day(days_until_renewal: int) -> datetime:
    noon = datetime.combine(RENEWAL, datetime.min.time(), UTC) + timedelta(hours=12)
    return noon - timedelta(days=days_until_renewal)


def _tenant_with_an_overdue_customer(db: Database) -> tuple[uuid.UUID, str]:
    """A tenant with an admin (and their API key) and one customer past its renewal date, its
    overdue workflow started: nothing else is configured."""
    with db.service_transaction() as conn:
        tenant: uuid.UUID = accounts.create_tenant(conn, f"Escalations {uuid.uuid4().hex[:6]}")[
            "id"
        ]
    with db.tenant_transaction(tenant) as conn:
        admin = accounts.create_user(conn, email="admin@vendor.example", role=accounts.Role.ADMIN)
        key = accounts.issue_key(
            conn, user_id=admin["id"], tenant_id=tenant, role=accounts.Role.ADMIN
        )
        context.upsert_customer(
            conn,
            context.CustomerIn.model_validate(
                {
                    "name": "Late Co",
                    "arr": 100_000,
                    "renewalDate": RENEWAL.isoformat(),
                    "csmEmail": CSM,
                }
            ),
        )
    with db.service_transaction() as conn:
        assert sweep(conn, _day(-1)).started == 1  # the overdue workflow
    return tenant, key.secret


def _configure(api: str, key: str, smtp_port: int, hook: Hook) -> None:
    """Everything an admin sets, through the API only: the CSM's manager (a new person), the
    company contacts, SMTP and a Slack-style webhook whose URL is a secret."""
    with httpx.Client(base_url=api, headers=bearer(key)) as http:
        boss = http.post("/api/users", json={"email": MANAGER, "role": "manager", "name": "Mia"})
        assert boss.status_code == 201, boss.text
        (csm,) = [u for u in http.get("/api/users").json() if u["email"] == CSM]
        assigned = http.patch(f"/api/users/{csm['id']}", json={"manager_id": boss.json()["id"]})
        assert assigned.status_code == 200, assigned.text
        assert assigned.json()["manager_email"] == MANAGER
        answer = http.patch(
            "/api/tenant",
            headers={"Content-Type": "application/merge-patch+json"},
            json={
                "company": {
                    "vp_customer_success": VP,
                    "ceo": CEO,
                    "war_room": WAR_ROOM,
                },
                "secrets": {"slack-webhook": hook.url},
                "notifications": {
                    "smtp": {
                        "host": "127.0.0.1",
                        "port": smtp_port,
                        "security": "none",
                        "from_address": "renewflow@vendor.example",
                    },
                    "webhook": {"url_secret": "slack-webhook", "format": "slack"},
                },
            },
        )
        assert answer.status_code == 200, answer.text


def _rows(db: Database, tenant: uuid.UUID) -> list[dict[str, Any]]:
    with db.tenant_transaction(tenant) as conn:
        return conn.execute(
            "SELECT notification_type, channel, recipient, status, attempts, last_error "
            "FROM notifications ORDER BY created_at"
        ).fetchall()


def test_a_22_day_overdue_account_reaches_manager_vp_war_room_and_ceo_once_each(
    own_db: tuple[Database, str], smtp_server: SmtpServer, webhook: Hook, secret_key: str
) -> None:
    db, api = own_db
    inbox, port = smtp_server()
    tenant, key = _tenant_with_an_overdue_customer(db)
    _configure(api, key, port, webhook)

    for day in range(-1, -23, -1):  # the schedule runs every day, twice
        run_schedule(db, _day(day))
        run_schedule(db, _day(day) + timedelta(hours=3))
    sent, failed = deliver_now(db)
    assert failed == 0
    assert deliver_now(db) == (0, 0)  # nothing left, nothing twice

    rows = _rows(db, tenant)
    assert [r for r in rows if r["status"] == "failed"] == []
    queued = Counter(
        (r["notification_type"], r["channel"], r["recipient"])
        for r in rows
        if r["channel"] != "in_app"
    )
    assert queued == {
        ("manager-escalation", "email", MANAGER): 1,
        ("vp-escalation", "email", VP): 1,
        ("vp-escalation", "email", MANAGER): 1,
        ("war-room-escalation", "webhook", WAR_ROOM): 1,
        ("war-room-escalation", "webhook", VP): 1,
        ("war-room-escalation", "webhook", MANAGER): 1,
        ("war-room-escalation", "webhook", CSM): 1,
        ("ceo-escalation", "email", CEO): 1,
        ("ceo-escalation", "email", VP): 1,
    }
    assert {r["status"] for r in rows} == {"sent"}
    assert sent == len(queued)

    received: Counter[tuple[str, ...]] = Counter()
    for message in inbox.messages:
        parsed = email.message_from_bytes(message["content"])
        received[(parsed["X-Renewflow-Type"], *message["to"])] += 1
    assert received == {
        ("manager-escalation", MANAGER): 1,
        ("vp-escalation", VP): 1,
        ("vp-escalation", MANAGER): 1,
        ("ceo-escalation", CEO): 1,
        ("ceo-escalation", VP): 1,
    }
    # one post per war-room recipient, through the Slack-style webhook the secret names
    assert len(webhook.received) == 4
    assert {post.json()["text"].split("\n")[0] for post in webhook.received} == {
        "*War room: Late Co 15 days overdue*"
    }
    assert len({post.headers["Idempotency-Key"] for post in webhook.received}) == 4


def test_recipients_that_resolve_to_nobody_are_undeliverable_with_the_reason(
    own_db: tuple[Database, str],
) -> None:
    db, api = own_db
    tenant, key = _tenant_with_an_overdue_customer(db)  # no manager, no contacts
    for day in range(-1, -23, -1):
        run_schedule(db, _day(day))
    undeliverable = {
        r["notification_type"]: r["last_error"]
        for r in _rows(db, tenant)
        if r["status"] == "failed" and r["attempts"] == 0
    }
    assert undeliverable["manager-escalation"] == (
        "permanent: undeliverable: notifications[manager-escalation].recipients: nobody to send "
        "to: recipients[0] {{csm.manager}} resolved to nobody: the CSM has no manager "
        "(PATCH /api/users/{id} manager_id, or renewflow users set --manager)"
    )
    assert "company.vp_customer_success is not set" in undeliverable["vp-escalation"]
    ceo = undeliverable["ceo-escalation"]
    assert ceo.startswith(
        "permanent: undeliverable: notifications[ceo-escalation].recipients: nobody"
    )
    assert "{{company.ceo}} resolved to nobody: company.ceo is not set" in ceo
    # the war room still reaches the account team (the CSM); who was left out is recorded
    war_room = undeliverable["war-room-escalation"]
    assert "nobody to send to" not in war_room
    assert "{{company.vpCustomerSuccess}} resolved to nobody" in war_room
    assert "{{csm.manager}} resolved to nobody" in war_room
    assert "{{company.warRoom}} resolved to nobody" in war_room
    # each once, however often the schedule runs
    run_schedule(db, _day(-22) + timedelta(hours=5))
    counts = Counter(
        r["notification_type"]
        for r in _rows(db, tenant)
        if r["attempts"] == 0 and r["status"] == "failed"
    )
    assert all(n == 1 for n in counts.values()), counts
    # admins see them in the outbox (the API's and the console's)
    with httpx.Client(base_url=api, headers=bearer(key)) as http:
        failed = http.get(
            "/api/notifications", params={"scope": "tenant", "status": "failed", "limit": 100}
        ).json()
    shown = {n["type"]: n["lastError"] for n in failed["items"]}
    assert {"manager-escalation", "vp-escalation", "ceo-escalation"} <= set(shown)
    assert "resolved to nobody" in shown["ceo-escalation"]
