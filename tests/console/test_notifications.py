"""The notifications outbox: for admins and managers only, every delivery state (undeliverable
ones apart from those that will be retried), the next retry, filters in the URL, keyset pages,
messages escaped, another tenant's notifications never."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from renewflow.db import Database
from tests.console.conftest import SignedIn

ROW = re.compile(r'<span class="note-title">([^<]+)</span>')


def _note(database: Database, tenant: uuid.UUID, **fields: Any) -> None:
    values = {
        "recipient": "pat@customer.example",
        "channel": "email",
        "notification_type": "plan-ready",
        "title": "Renewal plan ready",
        "message": "Please review.",
        "priority": "medium",
        "status": "pending",
        "attempts": 0,
        "last_error": None,
        "sent_at": None,
        "age": 0,
        **fields,
    }
    with database.tenant_transaction(tenant) as conn:
        conn.execute(
            """INSERT INTO notifications (tenant_id, recipient, channel, notification_type, title,
                 message, priority, status, attempts, last_error, sent_at, created_at, updated_at)
               VALUES (current_tenant_id(), %(recipient)s, %(channel)s, %(notification_type)s,
                 %(title)s, %(message)s, %(priority)s, %(status)s, %(attempts)s, %(last_error)s,
                 %(sent_at)s, now() - make_interval(secs => %(age)s),
                 now() - make_interval(secs => %(age)s))""",
            values,
        )


def _titles(page: str) -> list[str]:
    return ROW.findall(page)


def test_the_outbox_is_for_admins_and_managers(console_as: Callable[..., SignedIn]) -> None:
    csm = console_as("csm")
    refused = csm.client.get("/admin/notifications")
    assert refused.status_code == 403
    assert "Not for your role" in refused.text
    for role in ("admin", "manager"):
        page = console_as(role).client.get("/admin/notifications")
        assert page.status_code == 200
        assert "The outbox is empty" in page.text


def test_every_delivery_state_with_attempts_and_next_retry(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager")
    tenant = signed.tenant
    _note(database, tenant, title="Waiting", age=50)
    _note(database, tenant, title="Delivered", status="sent", attempts=1, sent_at="now", age=40)
    _note(
        database,
        tenant,
        title="Seen",
        channel="in_app",
        status="acknowledged",
        attempts=1,
        sent_at="now",
        age=35,
    )
    _note(
        database,
        tenant,
        title="Retrying",
        status="failed",
        attempts=2,
        last_error="retryable: SMTP 451 try later",
        age=30,
    )
    _note(
        database,
        tenant,
        title="Undeliverable",
        status="failed",
        attempts=0,
        last_error="permanent: notifications[plan-ready].title: the template failed",
        age=20,
    )
    _note(
        database,
        tenant,
        title="Spent",
        status="failed",
        attempts=5,
        last_error="retryable: connection refused",
        age=10,
    )
    _note(
        database,
        tenant,
        title="Escaped",
        channel="webhook",
        message="<script>alert(1)</script> & more",
        recipient="war-room",
        age=5,
    )
    page = signed.client.get("/admin/notifications").text
    assert _titles(page) == [
        "Escaped",
        "Spent",
        "Undeliverable",
        "Retrying",
        "Seen",
        "Delivered",
        "Waiting",
    ]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "<script>alert(1)</script>" not in page
    assert 'class="delivery delivery-undeliverable">undeliverable</span>' in page
    assert "never: it cannot be delivered" in page
    assert 'class="delivery delivery-retrying">retrying</span>' in page
    assert re.search(r"retry \d\d \w{3} \d{4}, \d\d:\d\d", page)
    assert 'class="delivery delivery-gave-up">gave up</span>' in page
    assert "no more attempts" in page
    assert "at the next delivery run" in page
    assert "retryable: SMTP 451 try later" in page
    assert "Webhook (Slack)" in page
    assert "war-room" in page
    assert re.search(r'<span class="count-value">3</span> failed \(any\)', page)


def test_filters_by_status_and_channel(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("admin")
    _note(database, signed.tenant, title="Email pending")
    _note(database, signed.tenant, title="Hook pending", channel="webhook")
    _note(
        database, signed.tenant, title="Broken", status="failed", last_error="permanent: no address"
    )
    _note(
        database,
        signed.tenant,
        title="Later",
        status="failed",
        attempts=1,
        last_error="retryable: timeout",
    )
    undeliverable = signed.client.get("/admin/notifications?status=undeliverable").text
    assert _titles(undeliverable) == ["Broken"]
    failed = signed.client.get("/admin/notifications?status=failed").text
    assert sorted(_titles(failed)) == ["Broken", "Later"]
    hooks = signed.client.get("/admin/notifications?channel=webhook").text
    assert _titles(hooks) == ["Hook pending"]
    both = signed.client.get("/admin/notifications?channel=email&status=pending").text
    assert _titles(both) == ["Email pending"]
    none = signed.client.get("/admin/notifications?channel=in_app").text
    assert "No notification matches these filters." in none
    odd = signed.client.get("/admin/notifications?status=lost&channel=pigeon&after=zzz")
    assert odd.status_code == 200
    assert "Ignored what the link asked for status, channel, after" in odd.text
    assert len(_titles(odd.text)) == 4


def test_keyset_pages(database: Database, console_as: Callable[..., SignedIn]) -> None:
    signed = console_as("manager")
    for i in range(55):
        _note(database, signed.tenant, title=f"Note {i:02d}", age=100 - i)
    first = signed.client.get("/admin/notifications").text
    titles = _titles(first)
    assert len(titles) == 50
    assert titles[0] == "Note 54"
    found = re.search(r'href="(/admin/notifications\?after=[^"]+)" rel="next"', first)
    assert found
    second = signed.client.get(found.group(1).replace("&amp;", "&")).text
    assert _titles(second) == [f"Note {i:02d}" for i in range(4, -1, -1)]
    assert 'rel="next"' not in second
    assert "First page" in second


def test_another_tenants_notifications_never_show(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    mine = console_as("admin")
    theirs = console_as("admin")
    _note(database, theirs.tenant, title="Their secret")
    _note(database, mine.tenant, title="Ours")
    page = mine.client.get("/admin/notifications").text
    assert _titles(page) == ["Ours"]
    assert "Their secret" not in page
