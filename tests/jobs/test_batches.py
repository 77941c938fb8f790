"""Processors run with no transaction held, write through their own short tenant transactions, and
a claimed batch is finished in one fenced statement (real PostgreSQL, no mocks)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from renewflow import tasks
from renewflow.db import Database, connect
from renewflow.jobs import BatchQueue, Lease, Outcome, Worker, WorkerConfig
from renewflow.tasks import ProcessorContext, ProcessorRegistry, ProcessorResult, Task, TaskQueue
from tests.jobs.procs import record_effect, registry
from tests.jobs.workers import wait_for
from tests.tasks.helpers import World, ai_data, enqueue, make_world, task_data

# sessions of ours in a transaction right now (active or idle in it), as the owner sees them
_OPEN_TRANSACTIONS = """
SELECT count(*) AS n FROM pg_stat_activity
WHERE datname = current_database() AND usename IN ('renewflow_app', 'renewflow_service')
  AND xact_start IS NOT NULL
"""


@pytest.fixture
def world(queue_db: Database) -> World:
    return make_world(queue_db)


def _queue(database: Database, **processors: Any) -> TaskQueue:
    reg: ProcessorRegistry = registry()
    for name, processor in processors.items():
        reg.register(name.replace("_", "-"), processor)
    return TaskQueue(database, reg, flush_after=60)


def _rows(database: Database) -> dict[uuid.UUID, dict[str, Any]]:
    with database.service_transaction() as conn:
        rows = conn.execute("SELECT *, xmin::text AS xid FROM workflow_tasks").fetchall()
    return {row["id"]: row for row in rows}


def _all_succeeded(database: Database) -> bool:
    return {r["execution_status"] for r in _rows(database).values()} == {"success"}


def _effects(url: str) -> dict[uuid.UUID, int]:
    with connect(url) as conn:
        rows = conn.execute("SELECT task_id, runs FROM test_effects").fetchall()
    return {row["task_id"]: row["runs"] for row in rows}


def _expire(url: str, task_id: uuid.UUID) -> None:
    """The lease runs out (as if the worker had been paused past it)."""
    with connect(url) as conn:
        conn.execute(
            "UPDATE workflow_tasks SET lease_expires_at = clock_timestamp() - interval '1 second' "
            "WHERE id = %s",
            (task_id,),
        )


def test_a_processor_runs_with_no_transaction_held(
    queue_db: Database, queue_url: str, world: World
) -> None:
    seen: list[dict[str, Any]] = []

    def observe(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
        with connect(queue_url) as other:
            # nobody holds the task's row: the claim's transaction is over
            locked = other.execute(
                "SELECT id FROM workflow_tasks WHERE id = %s FOR UPDATE NOWAIT", (task.id,)
            ).fetchone()
            before = other.execute(_OPEN_TRANSACTIONS).fetchone()
            with ctx.transaction() as conn:
                inside = conn.execute(
                    "SELECT current_user AS role, current_tenant_id() AS tenant, "
                    "(SELECT count(DISTINCT tenant_id) FROM workflow_tasks) AS tenants_seen"
                ).fetchone()
                during = other.execute(_OPEN_TRANSACTIONS).fetchone()
            after = other.execute(_OPEN_TRANSACTIONS).fetchone()
        seen.append(
            {
                "locked": locked is not None,
                "open": [r["n"] if r else None for r in (before, during, after)],
                "inside": inside,
            }
        )
        return ProcessorResult.ok()

    other = make_world(queue_db, "Other tenant")
    enqueue(queue_db, world, 2, processor="observe", priority=1)
    enqueue(queue_db, other, 2, processor="observe", priority=2)
    queue = _queue(queue_db, observe=observe)
    leases = queue.claim("w", 4, 30)
    assert queue.run_batch(leases, lambda: False) == [Outcome.SUCCESS] * 4
    assert [s["locked"] for s in seen] == [True] * 4
    # none before the processor asks, exactly its own while it uses it, none after
    assert [s["open"] for s in seen] == [[0, 1, 0]] * 4
    # each transaction as the app role, scoped to its task's tenant (and seeing only that one)
    assert [s["inside"] for s in seen] == [
        {"role": "renewflow_app", "tenant": lease.tenant_id, "tenants_seen": 1} for lease in leases
    ]
    assert [lease.tenant_id for lease in leases] == [world.tenant_id] * 2 + [other.tenant_id] * 2


def test_in_the_worker_too_nobody_holds_the_row_while_the_processor_runs(
    queue_db: Database, queue_url: str, world: World
) -> None:
    free: list[bool] = []

    def observe(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
        with connect(queue_url) as other:
            row = other.execute(
                "SELECT id FROM workflow_tasks WHERE id = %s FOR UPDATE NOWAIT", (task.id,)
            ).fetchone()
        free.append(row is not None)
        return ProcessorResult.ok()

    enqueue(queue_db, world, 20, processor="observe")
    worker = Worker(
        queue_db,
        [_queue(queue_db, observe=observe)],
        config=WorkerConfig(name="observer", concurrency=2, batch=8, poll_interval=0.1),
    )
    worker.start()
    try:
        wait_for(lambda: _all_succeeded(queue_db), 30)
    finally:
        worker.stop()
        assert worker.join(10)
    assert free == [True] * 20


def test_a_processors_writes_commit_on_their_own_before_the_finish(
    queue_db: Database, queue_url: str, world: World
) -> None:
    visible: list[int] = []

    def write_then_look(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
        record_effect(task, ctx)
        visible.append(_effects(queue_url).get(task.id, 0))  # seen by another session already
        return ProcessorResult.ok()

    enqueue(queue_db, world, 2, processor="write-then-look")
    queue = _queue(queue_db, write_then_look=write_then_look)
    leases = queue.claim("w", 2, 30)
    assert queue.run_batch(leases, lambda: False) == [Outcome.SUCCESS] * 2
    assert visible == [1, 1]
    assert _effects(queue_url) == {lease.job_id: 1 for lease in leases}


def test_a_batch_across_tenants_is_finished_in_one_statement(
    queue_db: Database, world: World
) -> None:
    enqueue(queue_db, world, 3, processor="effect")
    enqueue(queue_db, make_world(queue_db, "Second"), 3, processor="effect")
    queue = _queue(queue_db)
    leases = queue.claim("w", 10, 30)
    assert len({lease.tenant_id for lease in leases}) == 2
    assert queue.run_batch(leases, lambda: False) == [Outcome.SUCCESS] * 6
    rows = _rows(queue_db)
    assert {r["execution_status"] for r in rows.values()} == {"success"}
    assert len({r["xid"] for r in rows.values()}) == 1  # one transaction wrote them all


def test_a_batched_finish_rolls_sub_tasks_up_to_their_parent(
    queue_db: Database, world: World
) -> None:
    """Finishing runs as the service role: the roll-up trigger still completes the parent (in
    the sub-task's tenant) once its last sub-task, an AI task, succeeds."""
    with queue_db.tenant_transaction(world.tenant_id) as conn:
        parent = tasks.create_task(conn, task_data(world))
        for _ in range(2):
            tasks.create_task(conn, ai_data(world, "noop", parent_task_id=parent.id))
    queue = _queue(queue_db)
    leases = queue.claim("w", 10, 30)
    assert queue.run_batch(leases, lambda: False) == [Outcome.SUCCESS] * 2
    row = _rows(queue_db)[parent.id]
    assert row["status"] == "completed"
    assert row["metadata"]["autoCompleted"] is True


def test_one_lost_lease_in_a_batch_does_not_stop_the_others(
    queue_db: Database, queue_url: str, world: World
) -> None:
    """The middle task's lease expires and another worker takes it over before this batch
    finishes: its late result is refused (LOST), its processor's own write is kept (at least
    once), the new holder's lease is untouched, and the other two results land."""
    enqueue(queue_db, world, 3, processor="effect")
    queue = _queue(queue_db)
    leases = queue.claim("slow-worker", 3, 30)
    _expire(queue_url, leases[1].job_id)
    assert queue.reap() == 1
    (taken_over,) = queue.claim("other-worker", 3, 30)
    assert taken_over.job_id == leases[1].job_id
    assert queue.run_batch(leases, lambda: False) == [
        Outcome.SUCCESS,
        Outcome.LOST,
        Outcome.SUCCESS,
    ]
    rows = _rows(queue_db)
    middle = rows[leases[1].job_id]
    assert (middle["execution_status"], middle["claimed_by"]) == ("running", "other-worker")
    assert middle["lease_token"] == taken_over.token
    assert {rows[lease.job_id]["execution_status"] for lease in (leases[0], leases[2])} == {
        "success"
    }
    assert _effects(queue_url) == {lease.job_id: 1 for lease in leases}
    assert queue.run_batch([taken_over], lambda: False) == [Outcome.SUCCESS]
    assert _effects(queue_url)[taken_over.job_id] == 2


def test_a_late_batched_finish_is_refused_and_an_expired_lease_is_not_started(
    queue_db: Database, queue_url: str, world: World
) -> None:
    """Two tasks under a 0.5 s lease and nobody heartbeating; the first processor takes 0.7 s.
    Its result, written with the batch after the lease has passed, is refused; the second task's
    lease is checked before its processor starts (the batch is past half its lease) and found
    gone, so that processor never runs."""
    enqueue(queue_db, world, 2, processor="effect", metadata={"sleep": 0.7})
    queue = _queue(queue_db)
    first, second = queue.claim("w", 2, 0.5)
    assert queue.run_batch([first, second], lambda: False) == [Outcome.LOST, Outcome.LOST]
    assert _effects(queue_url) == {first.job_id: 1}  # the refused run's own write stays
    rows = _rows(queue_db)
    assert {r["execution_status"] for r in rows.values()} == {"running"}
    assert queue.reap() == 2  # the reaper queues both again, as for a killed worker
    assert {r["execution_status"] for r in _rows(queue_db).values()} == {"queued"}


def test_a_result_the_database_refuses_costs_only_its_own_row(
    queue_db: Database, world: World
) -> None:
    """jsonb cannot hold a NUL character: that one row's finish fails, so the batch is written
    row by row; the row fails (retryably, with why) and the other tenant's rows land."""

    def nul(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
        return ProcessorResult.ok(note="a\x00b")

    def not_json(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
        return ProcessorResult.ok(when=object())

    other = make_world(queue_db, "Other")
    enqueue(queue_db, world, 1, processor="nul", priority=1)
    enqueue(queue_db, world, 1, processor="not-json", priority=2)
    enqueue(queue_db, other, 2, processor="effect", priority=3)
    queue = _queue(queue_db, nul=nul, not_json=not_json)
    leases = queue.claim("w", 10, 30)
    assert [lease.kind for lease in leases] == ["nul", "not-json", "effect", "effect"]
    assert queue.run_batch(leases, lambda: False) == [
        Outcome.RETRY,
        Outcome.FAILED,
        Outcome.SUCCESS,
        Outcome.SUCCESS,
    ]
    rows = _rows(queue_db)
    bad, unencodable = rows[leases[0].job_id], rows[leases[1].job_id]
    assert bad["execution_status"] == "queued"
    assert bad["last_error"].startswith("the result could not be stored: ")
    assert unencodable["execution_status"] == "failed"
    assert unencodable["last_error"].startswith("the processor's output is not JSON: ")
    assert [rows[lease.job_id]["execution_status"] for lease in leases[2:]] == ["success"] * 2


def test_a_stop_between_processors_leaves_the_rest_unstarted(
    queue_db: Database, queue_url: str, world: World
) -> None:
    enqueue(queue_db, world, 3, processor="effect")
    queue = _queue(queue_db)
    leases = queue.claim("w", 3, 30)
    calls = iter([False, True])
    assert queue.run_batch(leases, lambda: next(calls)) == [Outcome.SUCCESS, None, None]
    assert queue.release(leases[1:]) == 2
    assert _effects(queue_url) == {leases[0].job_id: 1}


class _OnlyRun:
    """A queue written against the plain `Queue` protocol: no `run_batch`."""

    name = "ai_tasks"

    def __init__(self, inner: TaskQueue) -> None:
        self.inner = inner
        self.runs = 0

    def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Lease]:
        return self.inner.claim(worker, limit, lease_seconds)

    def heartbeat(self, leases: Any, lease_seconds: float) -> int:
        return self.inner.heartbeat(leases, lease_seconds)

    def release(self, leases: Any) -> int:
        return self.inner.release(leases)

    def reap(self) -> int:
        return self.inner.reap()

    def run(self, lease: Lease) -> Outcome:
        self.runs += 1
        return self.inner.run(lease)

    def depth(self) -> dict[str, int]:
        return dict(self.inner.depth())


def test_a_queue_with_only_run_still_works_in_the_worker(
    queue_db: Database, queue_url: str, world: World
) -> None:
    enqueue(queue_db, world, 12, processor="effect")
    queue = _OnlyRun(_queue(queue_db))
    assert not isinstance(queue, BatchQueue)
    worker = Worker(
        queue_db, [queue], config=WorkerConfig(name="plain", batch=5, poll_interval=0.1)
    )
    worker.start()
    try:
        wait_for(lambda: _all_succeeded(queue_db), 30)
    finally:
        worker.stop()
        assert worker.join(10)
    assert queue.runs == 12
    effects = _effects(queue_url)
    assert len(effects) == 12
    assert set(effects.values()) == {1}
