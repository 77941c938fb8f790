"""The task queue on real PostgreSQL: claims, the fence, the reaper, retries with backoff,
processors (built in and failing ones) run with no transaction held, batched finishes, periodic
slots."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from renewflow import tasks
from renewflow.db import Connection, Database
from renewflow.jobs import Lease, Outcome, PeriodicJob, PeriodicScheduler, retry_delay, slot_start
from renewflow.tasks import ProcessorResult, TaskQueue
from tests.jobs.procs import registry
from tests.tasks.helpers import World, ai_data, enqueue, make_world


@pytest.fixture
def world(queue_db: Database) -> World:
    return make_world(queue_db)


@pytest.fixture
def queue(queue_db: Database) -> TaskQueue:
    return TaskQueue(queue_db, registry(), backoff=lambda n: retry_delay(n, base=0.2))


def _row(database: Database, task_id: uuid.UUID) -> dict[str, Any]:
    with database.service_transaction() as conn:
        row = conn.execute("SELECT * FROM workflow_tasks WHERE id = %s", (task_id,)).fetchone()
    assert row is not None
    return row


def _effects(database: Database, task_id: uuid.UUID | None = None) -> int:
    with database.owner_connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM test_effects WHERE %(id)s::uuid IS NULL OR task_id = %(id)s",
            {"id": task_id},
        ).fetchone()
    assert row is not None
    return int(row["n"])


def _runs(database: Database, task_id: uuid.UUID) -> int:
    """How many runs wrote the task's effect (the effect itself is one row, an upsert)."""
    with database.owner_connection() as conn:
        row = conn.execute(
            "SELECT coalesce(sum(runs), 0) AS n FROM test_effects WHERE task_id = %s", (task_id,)
        ).fetchone()
    assert row is not None
    return int(row["n"])


def _create(database: Database, world: World, processor: str, **overrides: Any) -> uuid.UUID:
    with database.tenant_transaction(world.tenant_id) as conn:
        return tasks.create_task(conn, ai_data(world, processor, **overrides)).id


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n, base=2, cap=10) for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]
    with pytest.raises(ValueError, match="start at 1"):
        retry_delay(0)


def test_concurrent_claims_never_share_a_task(
    queue_db: Database, world: World, queue: TaskQueue
) -> None:
    enqueue(queue_db, world, 60)
    claimed: list[Lease] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while leases := queue.claim(name, 4, 30):
            with lock:
                claimed.extend(leases)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 60
    assert len({lease.job_id for lease in claimed}) == 60
    assert queue.depth() == {"queued": 0, "waiting": 0, "running": 60}


def test_claim_order_is_priority_then_age(
    queue_db: Database, world: World, queue: TaskQueue
) -> None:
    low = _create(queue_db, world, "noop", priority=4)
    urgent_old = _create(queue_db, world, "noop", priority=1)
    urgent_new = _create(queue_db, world, "noop", priority=1)
    order = [queue.claim("w", 1, 30)[0].job_id for _ in range(3)]
    assert order == [urgent_old, urgent_new, low]


def test_success_commits_the_effect_with_the_result(
    queue_db: Database, world: World, queue: TaskQueue
) -> None:
    task_id = _create(queue_db, world, "effect")
    (lease,) = queue.claim("w", 5, 30)
    running = _row(queue_db, task_id)
    assert (running["execution_status"], running["claimed_by"]) == ("running", "w")
    assert queue.run(lease) is Outcome.SUCCESS
    done = _row(queue_db, task_id)
    assert (done["status"], done["execution_status"], done["attempts"]) == (
        "completed",
        "success",
        1,
    )
    assert done["lease_token"] is None
    assert done["executed_at"] is not None
    assert done["execution_result"]["success"] is True
    assert _effects(queue_db, task_id) == 1


def test_retryable_failure_backs_off_then_succeeds_with_one_effect(
    queue_db: Database, world: World, queue: TaskQueue
) -> None:
    task_id = _create(queue_db, world, "flaky", metadata={"succeed_on": 3})
    delays = []
    for attempt in (1, 2):
        (lease,) = queue.claim("w", 1, 30)
        assert lease.attempt == attempt
        assert queue.run(lease) is Outcome.RETRY
        row = _row(queue_db, task_id)
        assert row["execution_status"] == "queued"
        assert row["last_error"] == f"CRM timeout on attempt {attempt}"
        delays.append((row["run_after"] - row["updated_at"]).total_seconds())
        assert queue.claim("w", 1, 30) == []  # not before its backoff
        time.sleep(retry_delay(attempt, base=0.2) + 0.05)
    assert delays[0] == pytest.approx(0.2, abs=0.05)
    assert delays[1] == pytest.approx(0.4, abs=0.05)
    (lease,) = queue.claim("w", 1, 30)
    assert queue.run(lease) is Outcome.SUCCESS
    # a processor's own writes commit on their own: every run wrote (idempotently)
    assert _effects(queue_db, task_id) == 1
    assert _runs(queue_db, task_id) == 3
    assert _row(queue_db, task_id)["attempts"] == 3


def test_retries_stop_at_max_attempts(queue_db: Database, world: World, queue: TaskQueue) -> None:
    task_id = _create(queue_db, world, "flaky", max_attempts=2)
    outcomes = []
    for _ in range(2):
        deadline = time.monotonic() + 3
        while not (leases := queue.claim("w", 1, 30)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        outcomes.append(queue.run(leases[0]))
    assert outcomes == [Outcome.RETRY, Outcome.FAILED]
    row = _row(queue_db, task_id)
    assert (row["execution_status"], row["status"]) == ("failed", "pending")
    assert "gave up after 2 attempts" in row["last_error"]
    assert row["execution_result"]["retryable"] is True


@pytest.mark.parametrize(
    ("processor", "error"),
    [
        ("refuse", "the CRM rejected the record"),
        ("nope", "unknown processor 'nope' (registered: "),
    ],
)
def test_permanent_failures_fail_at_once(
    queue_db: Database, world: World, queue: TaskQueue, processor: str, error: str
) -> None:
    task_id = _create(queue_db, world, processor)
    (lease,) = queue.claim("w", 1, 30)
    assert queue.run(lease) is Outcome.FAILED
    row = _row(queue_db, task_id)
    assert row["execution_status"] == "failed"
    assert row["attempts"] == 1
    assert row["last_error"].startswith(error)
    assert row["execution_result"] == {
        "success": False,
        "error": row["last_error"],
        "retryable": False,
        "attempt": 1,
    }
    assert _effects(queue_db, task_id) == 0


def test_a_raising_processor_is_a_retryable_failure(
    queue_db: Database, world: World, queue: TaskQueue
) -> None:
    """The task fails with the error kept, retried until max_attempts; the transaction the
    processor raised in rolled back, so nothing is half-written."""
    task_id = _create(queue_db, world, "explode", max_attempts=2)
    (lease,) = queue.claim("w", 1, 30)
    assert queue.run(lease) is Outcome.RETRY
    row = _row(queue_db, task_id)
    assert (row["execution_status"], row["lease_token"]) == ("queued", None)
    assert row["last_error"] == "processor 'explode' raised RuntimeError: boom"
    assert row["execution_result"]["error"] == row["last_error"]
    time.sleep(0.25)
    (lease,) = queue.claim("w", 1, 30)
    assert queue.run(lease) is Outcome.FAILED
    row = _row(queue_db, task_id)
    assert (row["execution_status"], row["status"]) == ("failed", "pending")
    assert row["last_error"] == (
        "processor 'explode' raised RuntimeError: boom (gave up after 2 attempts)"
    )
    assert row["execution_result"] == {
        "success": False,
        "error": row["last_error"],
        "retryable": True,
        "attempt": 2,
    }
    assert _effects(queue_db, task_id) == 0


def test_expired_lease_is_reaped_and_the_late_write_is_fenced_off(
    queue_db: Database, world: World, queue: TaskQueue
) -> None:
    task_id = _create(queue_db, world, "effect")
    (stale,) = queue.claim("dead-worker", 1, 0.2)
    time.sleep(0.3)
    # expired but not yet reaped: the fence already refuses the write
    assert queue.finish_fenced(stale, ProcessorResult.ok()) is Outcome.LOST
    assert queue.reap() == 1
    row = _row(queue_db, task_id)
    assert row["execution_status"] == "queued"
    assert row["last_error"] == "lease of dead-worker expired on attempt 1"
    (fresh,) = queue.claim("live-worker", 1, 30)
    assert fresh.token != stale.token
    assert fresh.attempt == 2
    # the old holder can neither run (run checks the lease first) nor write
    assert queue.run(stale) is Outcome.LOST
    assert queue.run(fresh) is Outcome.SUCCESS
    assert queue.finish_fenced(stale, ProcessorResult.fail("late")) is Outcome.LOST
    assert _row(queue_db, task_id)["execution_status"] == "success"
    assert _effects(queue_db, task_id) == 1


def test_reaper_fails_a_task_out_of_attempts(
    queue_db: Database, world: World, queue: TaskQueue
) -> None:
    task_id = _create(queue_db, world, "effect", max_attempts=1)
    queue.claim("w", 1, 0.05)
    time.sleep(0.1)
    assert queue.reap() == 1
    row = _row(queue_db, task_id)
    assert row["execution_status"] == "failed"
    assert row["execution_result"]["error"] == "the worker's lease expired on attempt 1 of 1"


def test_heartbeat_extends_and_release_hands_back(
    queue_db: Database, world: World, queue: TaskQueue
) -> None:
    task_id = _create(queue_db, world, "effect")
    (lease,) = queue.claim("w", 1, 0.5)
    first = _row(queue_db, task_id)["lease_expires_at"]
    assert queue.heartbeat([lease], 30) == 1
    assert _row(queue_db, task_id)["lease_expires_at"] > first + timedelta(seconds=20)
    assert queue.release([lease]) == 1
    row = _row(queue_db, task_id)
    assert (row["execution_status"], row["attempts"], row["claimed_by"]) == ("queued", 0, None)
    assert queue.heartbeat([lease], 30) == 0  # a released lease is gone


def test_spec_sample_contact_update(queue_db: Database, world: World, queue: TaskQueue) -> None:
    with queue_db.tenant_transaction(world.tenant_id) as conn:
        conn.execute(
            "INSERT INTO contacts (tenant_id, customer_id, external_id, name, is_primary) "
            "VALUES (current_tenant_id(), %s, '003ABC123', 'Sarah Chen', true)",
            (world.customer_id,),
        )
    task_id = _create(
        queue_db,
        world,
        "salesforce-contact-updater.js",
        metadata={
            "oldContact": {"name": "Sarah Chen", "salesforceId": "003ABC123"},
            "newContact": {"name": "Eric Estrada", "salesforceId": "003ABC456", "title": "CFO"},
        },
    )
    (lease,) = queue.claim("w", 1, 30)
    assert queue.run(lease) is Outcome.SUCCESS
    with queue_db.tenant_transaction(world.tenant_id) as conn:
        contacts = conn.execute(
            "SELECT name, external_id, title, is_primary FROM contacts WHERE customer_id = %s "
            "ORDER BY name",
            (world.customer_id,),
        ).fetchall()
    assert contacts == [
        {"name": "Eric Estrada", "external_id": "003ABC456", "title": "CFO", "is_primary": True},
        {"name": "Sarah Chen", "external_id": "003ABC123", "title": None, "is_primary": False},
    ]
    result = _row(queue_db, task_id)["execution_result"]
    assert result["updatedFields"] == ["primary_contact_id"]
    assert result["created"] is True


class _Hook:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.statuses: list[int] = []


@pytest.fixture
def webhook() -> Iterator[tuple[str, _Hook]]:
    hook = _Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            hook.requests.append((dict(self.headers), body))
            status = hook.statuses.pop(0) if hook.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", hook
    server.shutdown()
    server.server_close()


def _configure_webhook(database: Database, world: World, url: str) -> None:
    with database.service_transaction() as conn:
        conn.execute(
            "UPDATE tenants SET settings = jsonb_set(settings, '{webhooks}', %s::jsonb) WHERE id = %s",
            (json.dumps({"crm": {"url": url, "headers": {"X-Token": "t0ken"}}}), world.tenant_id),
        )


def test_webhook_posts_once_with_an_idempotency_key(
    queue_db: Database, world: World, queue: TaskQueue, webhook: tuple[str, _Hook]
) -> None:
    url, hook = webhook
    _configure_webhook(queue_db, world, url)
    task_id = _create(
        queue_db, world, "post-webhook", metadata={"webhook": "crm", "payload": {"renewal": 1}}
    )
    hook.statuses = [503]
    (lease,) = queue.claim("w", 1, 30)
    assert queue.run(lease) is Outcome.RETRY
    assert "answered 503" in _row(queue_db, task_id)["last_error"]
    time.sleep(0.25)
    (lease,) = queue.claim("w", 1, 30)
    assert queue.run(lease) is Outcome.SUCCESS
    assert len(hook.requests) == 2
    headers, body = hook.requests[-1]
    assert headers["Idempotency-Key"] == str(task_id) == hook.requests[0][0]["Idempotency-Key"]
    assert headers["X-Token"] == "t0ken"
    assert body["payload"] == {"renewal": 1}
    assert body["task_id"] == str(task_id)


def test_webhook_client_errors_and_unknown_hooks_fail(
    queue_db: Database, world: World, queue: TaskQueue, webhook: tuple[str, _Hook]
) -> None:
    url, hook = webhook
    _configure_webhook(queue_db, world, url)
    bad = _create(queue_db, world, "post-webhook", metadata={"webhook": "crm"})
    missing = _create(queue_db, world, "post-webhook", metadata={"webhook": "slack"})
    hook.statuses = [400]
    for lease in queue.claim("w", 2, 30):
        assert queue.run(lease) is Outcome.FAILED
    assert _row(queue_db, bad)["last_error"] == "webhook 'crm' answered 400"
    assert _row(queue_db, missing)["last_error"] == "the tenant has no webhook named 'slack'"


def test_periodic_job_runs_once_per_slot_across_workers(queue_db: Database) -> None:
    runs: list[datetime] = []
    job = PeriodicJob(
        "test.tick", timedelta(minutes=5), lambda conn: runs.append(datetime.now(UTC))
    )
    schedulers = [PeriodicScheduler(queue_db, [job], f"w{i}") for i in range(3)]
    now = datetime(2026, 11, 30, 10, 2, tzinfo=UTC)
    barrier = threading.Barrier(3)

    def tick(s: PeriodicScheduler) -> None:
        barrier.wait()
        s.tick(now)

    threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(runs) == 1
    for s in schedulers:
        s.tick(now + timedelta(minutes=1))  # same slot
    assert len(runs) == 1
    for s in schedulers:
        s.tick(now + timedelta(minutes=4))  # the next slot
    assert len(runs) == 2
    assert slot_start(timedelta(minutes=5), now) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_a_running_slot_never_blocks_another_worker(queue_db: Database) -> None:
    """The second worker is told "busy" at once (it used to wait on the first one's insert for as
    long as the job ran), and takes the slot over if the first one's run fails."""
    started, release = threading.Event(), threading.Event()
    runs: list[str] = []

    def slow(conn: Connection) -> None:
        runs.append("start")
        started.set()
        assert release.wait(30)
        raise RuntimeError("the first run fails and rolls its slot back")

    now = datetime(2026, 11, 30, 11, 2, tzinfo=UTC)
    first = PeriodicScheduler(
        queue_db, [PeriodicJob("test.slow", timedelta(minutes=5), slow)], "w0"
    )
    errors: list[BaseException] = []

    def run_first() -> None:
        try:
            first.tick(now)
        except RuntimeError as error:
            errors.append(error)

    running = threading.Thread(target=run_first)
    running.start()
    assert started.wait(10)
    second = PeriodicScheduler(
        queue_db,
        [PeriodicJob("test.slow", timedelta(minutes=5), lambda conn: runs.append("second"))],
        "w1",
    )
    asking = threading.Thread(target=second.tick, args=(now,))
    asking.start()
    asking.join(10)
    assert not asking.is_alive(), "the second worker waited for the first one's job"
    assert runs == ["start"]  # busy: not run twice
    release.set()
    running.join(10)
    assert [str(e) for e in errors] == ["the first run fails and rolls its slot back"]
    assert second.tick(now) == ["test.slow"]  # not marked as seen while busy: it takes over
    assert runs == ["start", "second"]


def test_a_job_alone_runs_once_per_slot_after_its_slot_is_committed(queue_db: Database) -> None:
    seen: list[int] = []

    def deliver(should_stop: Callable[[], bool]) -> None:
        assert not should_stop()
        # another transaction already sees the slot taken: nothing of the tick's is still open
        with queue_db.service_transaction() as conn:
            row = conn.execute(
                "SELECT count(*) AS n FROM periodic_runs WHERE job_name = 'test.alone'"
            ).fetchone()
        assert row is not None
        seen.append(row["n"])

    job = PeriodicJob.alone("test.alone", timedelta(minutes=5), deliver)
    now = datetime(2026, 11, 30, 12, 1, tzinfo=UTC)
    schedulers = [PeriodicScheduler(queue_db, [job], f"w{i}") for i in range(2)]
    assert [s.tick(now) for s in schedulers] == [["test.alone"], []]
    assert seen == [1]
    with pytest.raises(ValueError, match="exactly one of run and run_alone"):
        PeriodicJob("test.both", timedelta(minutes=5), lambda conn: None, run_alone=print)
