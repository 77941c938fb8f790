"""Scheduled notifications (the overdue ladder) fire once each, even with two processes running
the schedule at once; queued email and webhook notifications are delivered with visible retries."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from psycopg.types.json import Jsonb

from renewflow import accounts, context
from renewflow.db import Database, Migrator
from renewflow.engine import run_schedule, sweep
from renewflow.notify.delivery import deliver_now
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core
from tests.api.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
RENEWAL = date(2026, 11, 1)
EXPECTED = {  # (notification, channel): recipients, over the 31 days after the renewal date
    ("overdue-daily-reminder", "in_app"): 31,
    ("manager-escalation", "email"): 1,
    ("vp-escalation", "email"): 2,
    ("war-room-escalation", "webhook"): 4,
    ("ceo-escalation", "email"): 2,
    ("final-escalation", "email"): 3,
}


@pytest.fixture
def ladder_db(make_database: Callable[[], str]) -> Iterator[tuple[str, Database]]:
    url = make_database()
    Migrator(url).migrate()
    with Database(url, max_size=4) as db:
        with db.service_transaction() as conn:
            seed_core(conn, core_library())
        yield url, db


def _overdue_customer(
    db: Database, arr: int = 100_000, settings: dict[str, Any] | None = None
) -> uuid.UUID:
    with db.service_transaction() as conn:
        tenant: uuid.UUID = accounts.create_tenant(conn, f"Ladder {uuid.uuid4().hex[:6]}")["id"]
        conn.execute(
            "UPDATE tenants SET settings = %s WHERE id = %s",
            (
                Jsonb(
                    {
                        "vpCustomerSuccess": "vp@vendor.example",
                        "ceo": "ceo@vendor.example",
                        "warRoom": "#war-room",
                        **(settings or {}),
                    }
                ),
                tenant,
            ),
        )
    with db.tenant_transaction(tenant) as conn:
        manager = accounts.create_user(conn, email="mia@vendor.example", role=accounts.Role.MANAGER)
        context.upsert_customer(
            conn,
            context.CustomerIn.model_validate(
                {
                    "name": "Late Co",
                    "arr": arr,
                    "renewalDate": RENEWAL.isoformat(),
                    "csmEmail": "sarah@vendor.example",
                }
            ),
        )
        conn.execute(
            "UPDATE users SET manager_id = %s WHERE email = 'sarah@vendor.example'",
            (manager["id"],),
        )
    with db.service_transaction() as conn:
        assert sweep(conn, _day(-1)).started == 1  # the overdue workflow, one day after the date
    return tenant


def _day(days_until_renewal: int) -> datetime:
    return datetime.combine(
        RENEWAL - timedelta(days=days_until_renewal), datetime.min.time(), UTC
    ) + timedelta(hours=12)


def _counts(db: Database, tenant: uuid.UUID) -> dict[tuple[str, str], int]:
    with db.tenant_transaction(tenant) as conn:
        rows = conn.execute(
            "SELECT notification_type, channel, count(*) AS n FROM notifications GROUP BY 1, 2"
        ).fetchall()
    return {(r["notification_type"], r["channel"]): r["n"] for r in rows}


def test_overdue_ladder_fires_each_notification_once(ladder_db: tuple[str, Database]) -> None:
    _, db = ladder_db
    tenant = _overdue_customer(db)
    for day in range(-1, -32, -1):
        run_schedule(db, _day(day))
        run_schedule(db, _day(day) + timedelta(hours=3))  # a second run the same day adds nothing
    assert _counts(db, tenant) == EXPECTED
    with db.tenant_transaction(tenant) as conn:
        recipients = {
            r["recipient"]
            for r in conn.execute(
                "SELECT recipient FROM notifications WHERE notification_type = 'final-escalation'"
            )
        }
    assert recipients == {"ceo@vendor.example", "vp@vendor.example", "mia@vendor.example"}


def test_a_missed_day_still_fires_late(ladder_db: tuple[str, Database]) -> None:
    _, db = ladder_db
    tenant = _overdue_customer(db)
    run_schedule(db, _day(-9))  # the scheduler was down on days -1 to -8
    counts = _counts(db, tenant)
    assert counts[("manager-escalation", "email")] == 1
    assert counts[("vp-escalation", "email")] == 2
    assert ("war-room-escalation", "webhook") not in counts


def test_high_value_condition(ladder_db: tuple[str, Database]) -> None:
    _, db = ladder_db
    tenant = _overdue_customer(db, arr=300_000)
    run_schedule(db, _day(-1))
    assert _counts(db, tenant)[("high-value-overdue", "email")] == 1


SCHEDULER = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    from renewflow.db import Database
    from renewflow.engine import run_schedule
    with Database(sys.argv[1]) as db:
        for moment in sys.argv[2:]:
            run_schedule(db, datetime.fromisoformat(moment))
    """
)


def test_two_processes_running_the_schedule_at_once(ladder_db: tuple[str, Database]) -> None:
    url, db = ladder_db
    tenant = _overdue_customer(db)
    moments = [_day(day).isoformat() for day in range(-1, -32, -1)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SCHEDULER, url, *moments],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], errors
    assert _counts(db, tenant) == EXPECTED


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []
    fail_first = 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
        else:
            _Hook.received.append(body)
            self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_delivery_by_email_and_webhook_with_a_visible_retry(
    ladder_db: tuple[str, Database],
) -> None:
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    _Hook.received, _Hook.fail_first = [], 1
    try:
        with _collecting_smtp() as (smtp_port, received):
            _, db = ladder_db
            settings = {
                "notifications": {
                    "smtp": {
                        "host": "127.0.0.1",
                        "port": smtp_port,
                        "security": "none",
                        "from_address": "renewflow@vendor.example",
                    },
                    "webhook": {
                        "url": f"http://127.0.0.1:{hook.server_address[1]}/hook",
                        "format": "slack",
                    },
                }
            }
            tenant = _overdue_customer(db, settings=settings)
            run_schedule(db, _day(-15))  # manager 1, vp 2, war room 4 (webhook)
            # 3 emails and 3 of the 4 webhook posts go through; the first post meets a 503
            assert deliver_now(db) == (6, 1)
            assert sorted(m["To"] for m in received) == [
                "mia@vendor.example",
                "mia@vendor.example",
                "vp@vendor.example",
            ]
            with db.tenant_transaction(tenant) as conn:
                waiting = conn.execute(
                    "SELECT status, attempts, last_error FROM notifications WHERE channel = 'webhook' AND status <> 'sent'"
                ).fetchall()
                assert [w["last_error"].split(":")[0] for w in waiting] == ["retryable"]
                assert waiting[0]["attempts"] == 1
            assert deliver_now(db) == (0, 0)  # too soon: the retry waits for its backoff
            assert deliver_now(db, now=datetime.now(UTC) + timedelta(minutes=5)) == (1, 0)
            assert len(_Hook.received) == 4
            with db.tenant_transaction(tenant) as conn:
                statuses = {
                    r["status"]
                    for r in conn.execute(
                        "SELECT status FROM notifications WHERE channel <> 'in_app'"
                    )
                }
            assert statuses == {"sent"}
    finally:
        hook.shutdown()
        hook.server_close()


def test_no_delivery_configured_is_a_permanent_visible_failure(
    ladder_db: tuple[str, Database],
) -> None:
    _, db = ladder_db
    tenant = _overdue_customer(db)
    run_schedule(db, _day(-7))
    assert deliver_now(db) == (0, 1)
    with db.tenant_transaction(tenant) as conn:
        row = conn.execute(
            "SELECT status, last_error FROM notifications WHERE channel = 'email'"
        ).fetchone()
    assert row is not None
    assert row["status"] == "failed"
    assert row["last_error"].startswith(
        "permanent: email: this tenant has no email delivery configured"
    )
    assert deliver_now(db) == (0, 0)  # not retried, and still there to see


class _SlowHook(BaseHTTPRequestHandler):
    arrived: ClassVar[threading.Event] = threading.Event()
    release: ClassVar[threading.Event] = threading.Event()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        _SlowHook.arrived.set()
        _SlowHook.release.wait(30)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_no_lock_is_held_while_a_server_answers(ladder_db: tuple[str, Database]) -> None:
    _, db = ladder_db
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    _SlowHook.arrived.clear()
    _SlowHook.release.clear()
    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    tenant = _overdue_customer(db, settings={"notifications": {"webhook": {"url": url}}})
    run_schedule(db, _day(-15))
    results: list[tuple[int, int]] = []
    delivering = threading.Thread(target=lambda: results.append(deliver_now(db)))
    delivering.start()
    try:
        assert _SlowHook.arrived.wait(10)
        # while the webhook keeps the first post waiting, the rows are claimed but not locked
        with db.tenant_transaction(tenant) as conn:
            claimed = conn.execute(
                "SELECT status, claimed_until FROM notifications WHERE channel = 'webhook' "
                "FOR UPDATE NOWAIT"
            ).fetchall()
        assert claimed
        assert {r["status"] for r in claimed} == {"sending"}
        assert all(r["claimed_until"] is not None for r in claimed)
    finally:
        _SlowHook.release.set()
        delivering.join(30)
        hook.shutdown()
        hook.server_close()
    webhooks = len(claimed)
    assert results == [(webhooks, 3)]  # the 3 emails fail: this tenant has no SMTP server
    with db.tenant_transaction(tenant) as conn:
        settled = conn.execute(
            "SELECT status, claimed_until, attempts FROM notifications WHERE channel = 'webhook'"
        ).fetchall()
    assert [(r["status"], r["claimed_until"], r["attempts"]) for r in settled] == [
        ("sent", None, 1)
    ] * webhooks


def test_an_interrupted_claim_expires_counts_and_is_retried(
    ladder_db: tuple[str, Database],
) -> None:
    _, db = ladder_db
    tenant = _overdue_customer(db)
    run_schedule(db, _day(-7))  # one email to the manager

    def email() -> dict[str, Any]:
        with db.tenant_transaction(tenant) as conn:
            row = conn.execute(
                "SELECT status, attempts, last_error FROM notifications WHERE channel = 'email'"
            ).fetchone()
        assert row is not None
        return row

    def leave_claimed(until: str) -> None:  # as a worker killed while sending leaves it
        with db.tenant_transaction(tenant) as conn:
            conn.execute(
                "UPDATE notifications SET status = 'sending', claim_token = gen_random_uuid(), "
                "claimed_until = now() + %s::interval WHERE channel = 'email'",
                (until,),
            )

    leave_claimed("10 minutes")
    assert deliver_now(db) == (0, 0)  # still claimed: nobody else sends it
    assert email()["status"] == "sending"
    leave_claimed("-1 minute")
    assert deliver_now(db) == (0, 0)  # expired: a counted, retryable attempt, waiting its turn
    assert email() == {
        "status": "failed",
        "attempts": 1,
        "last_error": "retryable: the delivery was interrupted before its outcome was recorded",
    }
    assert deliver_now(db, now=datetime.now(UTC) + timedelta(minutes=5)) == (0, 1)
    assert email()["attempts"] == 2
    assert email()["last_error"].startswith("permanent: email: this tenant has no email delivery")


def test_a_message_that_cannot_be_sent_fails_alone(ladder_db: tuple[str, Database]) -> None:
    """A recipient the email format cannot carry fails that row, permanently; the rest of its
    batch is delivered (it used to escape and leave the whole batch claimed). A title rendered
    over several lines becomes a one-line subject."""
    _, db = ladder_db
    with _collecting_smtp() as (port, received):
        tenant = _smtp_tenant(db, port)
        _queue_emails(
            db,
            tenant,
            [
                ("ok@vendor.example", "Renewal\nat risk"),
                ("bad@vendor.example\nBcc: spy@elsewhere.example", "Injected"),
                ("also-ok@vendor.example", "Second"),
            ],
        )
        assert deliver_now(db) == (2, 1)
    assert sorted((m["To"], m["Subject"]) for m in received) == [
        ("also-ok@vendor.example", "Second"),
        ("ok@vendor.example", "Renewal at risk"),
    ]
    with db.tenant_transaction(tenant) as conn:
        rows = conn.execute(
            "SELECT status, last_error FROM notifications WHERE channel = 'email' "
            "AND recipient LIKE 'bad@%%'"
        ).fetchall()
        left = conn.execute("SELECT count(*) AS n FROM notifications WHERE status = 'sending'")
        assert left.fetchone() == {"n": 0}
    assert [r["status"] for r in rows] == ["failed"]
    assert rows[0]["last_error"].startswith("permanent: email: the message cannot be written")


def _smtp_tenant(db: Database, port: int) -> uuid.UUID:
    smtp = {"host": "127.0.0.1", "port": port, "security": "none"}
    return _overdue_customer(
        db, settings={"notifications": {"smtp": smtp | {"from_address": "rf@vendor.example"}}}
    )


def _queue_emails(db: Database, tenant: uuid.UUID, messages: list[tuple[str, str]]) -> None:
    """Queues one email per (recipient, title)."""
    from renewflow.notify import OutboundMessage, enqueue

    with db.tenant_transaction(tenant) as conn:
        for recipient, title in messages:
            enqueue(conn, OutboundMessage(recipient=recipient, title=title, message="B"), "email")


@contextmanager
def _collecting_smtp() -> Iterator[tuple[int, list[Any]]]:
    """A local SMTP server on a free port, and the messages it receives."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message as MessageHandler

    received: list[Any] = []

    class Collect(MessageHandler):
        def handle_message(self, message: Any) -> None:
            received.append(message)

    port = free_port()
    smtp = Controller(Collect(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        yield port, received
    finally:
        smtp.stop()


def _email_states(db: Database, tenant: uuid.UUID) -> dict[str, tuple[str, int]]:
    with db.tenant_transaction(tenant) as conn:
        rows = conn.execute(
            "SELECT recipient, status, attempts FROM notifications WHERE channel = 'email'"
        ).fetchall()
    return {r["recipient"]: (r["status"], r["attempts"]) for r in rows}


def test_a_server_reply_with_a_nul_is_recorded_and_the_queue_moves_on(
    ladder_db: tuple[str, Database],
) -> None:
    """A tenant's own mail server may answer anything; its answer, quoted in last_error, used to
    make the recording fail, so the row was never charged and blocked every later round."""
    from aiosmtpd.controller import Controller

    class Refuse:
        async def handle_RCPT(
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            if address.startswith("odd@"):
                return "451 try\x00later"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    port = free_port()
    smtp = Controller(Refuse(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        _, db = ladder_db
        tenant = _smtp_tenant(db, port)
        _queue_emails(db, tenant, [("odd@vendor.example", "T"), ("fine@vendor.example", "T")])
        assert deliver_now(db) == (1, 1)
    finally:
        smtp.stop()
    assert _email_states(db, tenant) == {
        "odd@vendor.example": ("failed", 1),
        "fine@vendor.example": ("sent", 1),
    }
    with db.tenant_transaction(tenant) as conn:
        row = conn.execute(
            "SELECT last_error FROM notifications WHERE recipient = 'odd@vendor.example'"
        ).fetchone()
    assert row is not None
    assert row["last_error"].startswith("retryable:")
    assert "\x00" not in row["last_error"]


def test_a_stopping_worker_hands_untried_messages_back(ladder_db: tuple[str, Database]) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    from renewflow.notify.delivery import deliver_pending

    port = free_port()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        _, db = ladder_db
        tenant = _smtp_tenant(db, port)
        _queue_emails(db, tenant, [(f"r{i}@vendor.example", "T") for i in range(5)])
        delivered: list[int] = []

        def should_stop() -> bool:  # the worker is told to stop once two have gone out
            delivered.append(1)
            return len(delivered) > 2

        assert deliver_pending(db, should_stop=should_stop) == (2, 0)
    finally:
        smtp.stop()
    states = sorted(_email_states(db, tenant).values())
    assert states == [("pending", 0)] * 3 + [("sent", 1)] * 2  # back in the queue, uncharged


class _BusyHook(BaseHTTPRequestHandler):
    """429 with Retry-After: 600 the first time, then 200."""

    calls: ClassVar[int] = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        _BusyHook.calls += 1
        self.send_response(429 if _BusyHook.calls == 1 else 200)
        if _BusyHook.calls == 1:
            self.send_header("retry-after", "600")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_receivers_retry_after_holds_the_retry_back(ladder_db: tuple[str, Database]) -> None:
    from renewflow.notify import OutboundMessage, enqueue

    hook = ThreadingHTTPServer(("127.0.0.1", 0), _BusyHook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    _BusyHook.calls = 0
    try:
        _, db = ladder_db
        url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
        tenant = _overdue_customer(db, settings={"notifications": {"webhook": {"url": url}}})
        with db.tenant_transaction(tenant) as conn:
            enqueue(conn, OutboundMessage(recipient="war-room", title="T", message="B"), "webhook")
        assert deliver_now(db) == (0, 1)
        later = datetime.now(UTC)
        assert deliver_now(db, now=later + timedelta(minutes=5)) == (
            0,
            0,
        )  # backoff over, 600 s not
        assert deliver_now(db, now=later + timedelta(minutes=11)) == (1, 0)
    finally:
        hook.shutdown()
        hook.server_close()
    assert _BusyHook.calls == 2
