"""Delivery fails per tenant: a tenant whose channel settings cannot work, or whose server cannot
be reached, fails alone (its failure recorded for its admins, its channel left alone until the
next attempt), and the others' messages go out in the same run. Nothing is cut to fit."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from renewflow import accounts
from renewflow.db import Database, Migrator
from renewflow.jobs.failures import list_failures
from renewflow.notify import (
    RECIPIENT_MAX,
    TITLE_MAX,
    DeliveryError,
    InAppChannel,
    OutboundMessage,
    UndeliverableMessage,
    enqueue,
)
from renewflow.notify.delivery import DELIVERY_JOB, deliver_now
from renewflow.notify.models import DEDUPE_KEY_MAX, NOTIFICATION_TYPE_MAX
from tests.notify.conftest import SmtpServer, free_port


@pytest.fixture(scope="module")
def db(make_database: Callable[[], str]) -> Iterator[Database]:
    url = make_database()  # delivery claims across tenants: a database of its own
    Migrator(url).migrate()
    with Database(url, max_size=4) as database:
        yield database


def _smtp(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "smtp": {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from_address": "rf@vendor.example",
            **extra,
        }
    }


def _tenant(db: Database, notifications: object = None, raw: str | None = None) -> uuid.UUID:
    with db.service_transaction() as conn:
        tenant: uuid.UUID = accounts.create_tenant(conn, f"Mail {uuid.uuid4().hex[:6]}")["id"]
        if raw is not None:  # JSON that no Python value can be written as
            conn.execute(
                "UPDATE tenants SET settings = jsonb_build_object('notifications', %s::jsonb) "
                "WHERE id = %s",
                (raw, tenant),
            )
        elif notifications is not None:
            conn.execute(
                "UPDATE tenants SET settings = %s WHERE id = %s",
                (Jsonb({"notifications": notifications}), tenant),
            )
    return tenant


def _queue(db: Database, tenant: uuid.UUID, count: int, prefix: str = "r") -> None:
    with db.tenant_transaction(tenant) as conn:
        for i in range(count):
            enqueue(
                conn,
                OutboundMessage(recipient=f"{prefix}{i}@vendor.example", title="T", message="B"),
                "email",
            )


def _states(db: Database, tenant: uuid.UUID) -> list[tuple[str, int]]:
    with db.tenant_transaction(tenant) as conn:
        rows = conn.execute("SELECT status, attempts FROM notifications").fetchall()
    return sorted((r["status"], r["attempts"]) for r in rows)


def _errors(db: Database, tenant: uuid.UUID) -> set[str]:
    with db.tenant_transaction(tenant) as conn:
        rows = conn.execute("SELECT last_error FROM notifications").fetchall()
    return {r["last_error"] for r in rows}


def _channel_failures(db: Database, tenant: uuid.UUID) -> list[dict[str, Any]]:
    with db.tenant_transaction(tenant) as conn:
        rows, _ = list_failures(conn, job=DELIVERY_JOB)
    return rows


def test_broken_channel_settings_fail_their_tenant_alone(
    db: Database, smtp_server: SmtpServer
) -> None:
    inbox, port = smtp_server()
    good = _tenant(db, _smtp(port))
    invalid = _tenant(db, {"smtp": {"host": "127.0.0.1", "port": "not a port"}})
    not_an_object = _tenant(db, "smtp://somewhere")
    too_deep = _tenant(db, raw='{"smtp": ' + '{"a": ' * 3000 + "1" + "}" * 3001)
    for tenant in (good, invalid, not_an_object, too_deep):
        _queue(db, tenant, 3)

    deliver_now(db)

    assert _states(db, good) == [("sent", 1)] * 3
    assert sorted(m["to"][0] for m in inbox.messages) == [f"r{i}@vendor.example" for i in range(3)]
    for broken in (invalid, not_an_object, too_deep):
        assert _states(db, broken) == [("failed", 1)] * 3  # permanent, as before: visible
        [failure] = _channel_failures(db, broken)
        assert (failure["subject_type"], failure["subject_id"], failure["field"]) == (
            "channel",
            "email",
            "settings.notifications.smtp",
        )
    assert next(iter(_errors(db, too_deep))).startswith(
        "permanent: email: the tenant's settings cannot be read (RecursionError)"
    )
    assert _channel_failures(db, good) == []

    # until its next attempt the broken channel is left alone: new messages wait, uncharged,
    # and go out if the settings are fixed meanwhile
    _queue(db, invalid, 2, prefix="later")
    _queue(db, good, 1, prefix="later")
    deliver_now(db)
    assert _states(db, invalid) == [("failed", 1)] * 3 + [("pending", 0)] * 2
    assert _states(db, good) == [("sent", 1)] * 4
    with db.service_transaction() as conn:
        conn.execute(
            "UPDATE tenants SET settings = %s WHERE id = %s",
            (Jsonb({"notifications": _smtp(port)}), invalid),
        )
    deliver_now(db, now=datetime.now(UTC) + timedelta(minutes=6))
    assert _states(db, invalid) == [("failed", 1)] * 3 + [("sent", 1)] * 2
    assert _channel_failures(db, invalid) == []  # resolved by the message that got through


def test_an_unreachable_server_costs_its_tenant_one_attempt_per_run(
    db: Database, smtp_server: SmtpServer
) -> None:
    inbox, port = smtp_server()
    good = _tenant(db, _smtp(port))
    down = _tenant(db, _smtp(free_port()))  # nothing listens there: connection refused
    _queue(db, down, 3)
    _queue(db, good, 2)

    deliver_now(db)

    assert _states(db, good) == [("sent", 1)] * 2
    # one attempt, charged; the others handed back untried: they are not the server's fault
    assert _states(db, down) == [("failed", 1), ("pending", 0), ("pending", 0)]
    [failure] = _channel_failures(db, down)
    assert failure["subject_id"] == "email"
    assert "cannot reach the SMTP server" in failure["error"]

    deliver_now(db)  # waiting: not tried again, not charged
    assert _states(db, down) == [("failed", 1), ("pending", 0), ("pending", 0)]

    with db.service_transaction() as conn:  # the server is back (here: another address)
        conn.execute(
            "UPDATE tenants SET settings = %s WHERE id = %s",
            (Jsonb({"notifications": _smtp(port)}), down),
        )
    deliver_now(db, now=datetime.now(UTC) + timedelta(minutes=6))
    assert _states(db, down) == [("sent", 1), ("sent", 1), ("sent", 2)]
    assert _channel_failures(db, down) == []
    assert len(inbox.messages) == 5


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never says a word (a server that hangs)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_a_server_that_never_answers_holds_up_one_message_per_run(
    db: Database, smtp_server: SmtpServer, silent_server: int
) -> None:
    _, port = smtp_server()
    good = _tenant(db, _smtp(port))
    hanging = _tenant(db, _smtp(silent_server, timeout=1))
    _queue(db, hanging, 5)
    _queue(db, good, 2)
    started = time.monotonic()
    deliver_now(db)
    took = time.monotonic() - started
    assert took < 3, "every message waited for the hanging server"
    assert _states(db, good) == [("sent", 1)] * 2
    assert _states(db, hanging) == [("failed", 1)] + [("pending", 0)] * 4
    assert "did not answer in time" in _channel_failures(db, hanging)[0]["error"]


def test_the_limits_are_the_columns(db: Database) -> None:
    with db.owner_connection() as conn:
        rows = conn.execute(
            "SELECT column_name, character_maximum_length AS n FROM information_schema.columns "
            "WHERE table_name = 'notifications' AND column_name IN "
            "('recipient', 'title', 'notification_type', 'dedupe_key')"
        ).fetchall()
    assert {r["column_name"]: r["n"] for r in rows} == {
        "recipient": RECIPIENT_MAX,
        "title": TITLE_MAX,
        "notification_type": NOTIFICATION_TYPE_MAX,
        "dedupe_key": DEDUPE_KEY_MAX,
    }


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            OutboundMessage(recipient="a@vendor.example", title="T" * 501, message="B"),
            "the title is 501 characters long, over the 500 it may have",
        ),
        (
            OutboundMessage(recipient="a" * 321, title="T", message="B"),
            "the recipient is 321 characters long, over the 320 it may have",
        ),
        (
            OutboundMessage(recipient="a@vendor.example", title="T", message="B\x00"),
            "the message contains a NUL character",
        ),
    ],
)
def test_a_message_that_does_not_fit_is_refused_never_cut(
    db: Database, message: OutboundMessage, reason: str
) -> None:
    tenant = _tenant(db)
    with db.tenant_transaction(tenant) as conn:
        with pytest.raises(UndeliverableMessage, match=reason):
            enqueue(conn, message, "email")
        with pytest.raises(DeliveryError, match=reason) as refused:
            InAppChannel(conn).deliver(message)
        assert refused.value.retryable is False
        assert conn.execute("SELECT count(*) AS n FROM notifications").fetchone() == {"n": 0}
