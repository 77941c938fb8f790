"""The in-app inbox and the delivery log over HTTP."""

from __future__ import annotations

import uuid

import httpx

from renewflow.db import Database
from tests.api.conftest import bearer


def _notify(
    database: Database,
    tenant: uuid.UUID,
    recipient: str,
    channel: str = "in_app",
    status: str = "sent",
) -> str:
    with database.tenant_transaction(tenant) as conn:
        row = conn.execute(
            """INSERT INTO notifications (tenant_id, recipient, channel, notification_type, title, message, status,
                                          last_error, attempts)
               VALUES (current_tenant_id(), %s, %s, 'escalation', 'Renewal at risk', 'Acme renews in 5 days', %s,
                       CASE WHEN %s = 'failed' THEN 'retryable: smtp: 451' END, CASE WHEN %s = 'failed' THEN 1 ELSE 0 END)
               RETURNING id""",
            (recipient, channel, status, status, status),
        ).fetchone()
    assert row is not None
    return str(row["id"])


def test_inbox_acknowledge_and_delivery_log(
    client: httpx.Client, database: Database, tenant_factory, make_key
) -> None:
    tenant = tenant_factory()
    _, csm = make_key(tenant, "csm", "sarah@vendor.example")
    _, other = make_key(tenant, "csm", "omar@vendor.example")
    _, manager = make_key(tenant, "manager")
    mine = _notify(database, tenant, "Sarah@Vendor.example")
    _notify(database, tenant, "omar@vendor.example")
    failed = _notify(database, tenant, "vp@vendor.example", channel="email", status="failed")

    inbox = client.get("/api/notifications", headers=bearer(csm)).json()
    assert [n["id"] for n in inbox["items"]] == [mine]
    assert (
        client.post(f"/api/notifications/{mine}/acknowledge", headers=bearer(other)).status_code
        == 404
    )
    acked = client.post(f"/api/notifications/{mine}/acknowledge", headers=bearer(csm)).json()
    assert acked["status"] == "acknowledged"
    again = client.post(f"/api/notifications/{mine}/acknowledge", headers=bearer(csm)).json()
    assert again["acknowledgedAt"] == acked["acknowledgedAt"]
    assert (
        client.get("/api/notifications?unacknowledged=true", headers=bearer(csm)).json()["items"]
        == []
    )

    assert client.get("/api/notifications?scope=tenant", headers=bearer(csm)).status_code == 403
    log = client.get(
        "/api/notifications?scope=tenant&status=failed", headers=bearer(manager)
    ).json()
    assert [(n["id"], n["lastError"], n["attempts"]) for n in log["items"]] == [
        (failed, "retryable: smtp: 451", 1)
    ]
    assert client.get("/api/notifications?status=lost", headers=bearer(manager)).status_code == 422


def test_other_tenants_notifications_are_invisible(
    client: httpx.Client, database: Database, tenant_factory, make_key
) -> None:
    theirs_tenant, mine_tenant = tenant_factory(), tenant_factory()
    _, key = make_key(mine_tenant, "admin", "same@vendor.example")
    theirs = _notify(database, theirs_tenant, "same@vendor.example")
    assert client.get("/api/notifications", headers=bearer(key)).json()["items"] == []
    assert client.get("/api/notifications?scope=tenant", headers=bearer(key)).json()["items"] == []
    assert (
        client.post(f"/api/notifications/{theirs}/acknowledge", headers=bearer(key)).status_code
        == 404
    )
    assert client.get("/api/notifications").status_code == 401
