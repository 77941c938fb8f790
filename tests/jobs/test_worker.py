"""The worker loop in-process and as a real subprocess: draining, NOTIFY wake-up, metrics, SIGTERM."""

from __future__ import annotations

import signal
import time
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

from renewflow import tasks
from renewflow.db import Database
from renewflow.jobs import Lease, Metrics, PeriodicJob, Worker, WorkerConfig, serve_metrics
from renewflow.tasks import TaskQueue
from renewflow.worker import build_worker
from tests.jobs.procs import registry
from tests.jobs.workers import start_worker, stop, wait_for
from tests.observability.scrape import parse, total, value
from tests.tasks.helpers import World, ai_data, enqueue, make_world, task_data


def _counts(database: Database) -> dict[str, int]:
    with database.service_transaction() as conn:
        rows = conn.execute(
            "SELECT coalesce(execution_status, 'none') AS s, count(*) AS n FROM workflow_tasks GROUP BY 1"
        ).fetchall()
    return {r["s"]: r["n"] for r in rows}


def _row(database: Database, task_id: uuid.UUID) -> dict[str, Any]:
    with database.service_transaction() as conn:
        row = conn.execute("SELECT * FROM workflow_tasks WHERE id = %s", (task_id,)).fetchone()
    assert row is not None
    return row


def test_worker_drains_the_queue_and_reports_metrics(queue_db: Database) -> None:
    world = make_world(queue_db)
    enqueue(queue_db, world, 300, processor="effect")
    metrics = Metrics()
    worker = build_worker(
        queue_db,
        config=WorkerConfig(name="inproc", concurrency=2, batch=10, poll_interval=0.2),
        registry=registry(),
        metrics=metrics,
    )
    server = serve_metrics(metrics, "127.0.0.1", 0)
    worker.start()
    try:
        wait_for(lambda: _counts(queue_db) == {"success": 300}, timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/metrics") as r:
            text = r.read().decode()
    finally:
        worker.stop()
        assert worker.join(10)
        server.shutdown()
        server.server_close()
    samples = parse(text)
    outcomes = "renewflow_jobs_outcomes_total"
    assert value(samples, outcomes, queue="ai_tasks", processor="effect", outcome="success") == 300
    assert total(samples, outcomes) == 300  # nothing else: the registry is this worker's own
    assert value(samples, "renewflow_jobs_queue_depth", queue="ai_tasks", state="queued") == 0
    latency = "renewflow_jobs_start_latency_seconds_count"
    assert value(samples, latency, queue="ai_tasks") == 300
    claims = value(samples, "renewflow_jobs_claim_duration_seconds_count", queue="ai_tasks")
    assert claims >= 30  # at least one claim per batch of 10
    with queue_db.owner_connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT task_id) AS d FROM test_effects"
        ).fetchone()
    assert row == {"n": 300, "d": 300}


def test_notify_wakes_an_idle_worker_long_before_the_poll(queue_db: Database) -> None:
    world = make_world(queue_db)
    worker = build_worker(
        queue_db,
        config=WorkerConfig(name="listener", poll_interval=30, reap_interval=30),
        registry=registry(),
    )
    worker.start()
    try:
        # let the runner fall asleep on its 30-second poll, and the listener LISTEN
        time.sleep(1.0)
        with queue_db.tenant_transaction(world.tenant_id) as conn:
            task = tasks.create_task(conn, ai_data(world, "effect"))
        took = wait_for(lambda: _row(queue_db, task.id)["execution_status"] == "success", 5)
    finally:
        worker.stop()
        worker.join(10)
    assert took < 2


def test_periodic_sweep_runs_in_the_worker(queue_db: Database) -> None:
    world = make_world(queue_db)
    with queue_db.tenant_transaction(world.tenant_id) as conn:
        task = tasks.create_task(conn, task_data(world))
        conn.execute(
            "UPDATE workflow_tasks SET status = 'snoozed', snoozed_until = now() - interval '1 minute' "
            "WHERE id = %s",
            (task.id,),
        )
    worker = build_worker(
        queue_db,
        config=WorkerConfig(name="sweeper", poll_interval=0.2),
        registry=registry(),
        sweep_every=timedelta(seconds=1),
    )
    worker.start()
    try:
        wait_for(lambda: _row(queue_db, task.id)["status"] == "pending", 5)
    finally:
        worker.stop()
        worker.join(10)


def test_sigterm_finishes_the_task_in_hand_and_releases_the_rest(
    queue_db: Database, queue_url: str
) -> None:
    world: World = make_world(queue_db)
    enqueue(queue_db, world, 3, processor="effect", metadata={"sleep": 1.5})
    process = start_worker(queue_url, "--concurrency", "1", "--batch", "3", "--poll", "0.1")
    try:
        wait_for(lambda: _counts(queue_db).get("running") == 3, 20)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        stop(process)
    # the one in hand finished; the two unstarted ones are queued again, their attempt not counted
    assert _counts(queue_db) == {"success": 1, "queued": 2}
    with queue_db.service_transaction() as conn:
        queued = conn.execute(
            "SELECT attempts, claimed_by FROM workflow_tasks WHERE execution_status = 'queued'"
        ).fetchall()
    assert queued == [{"attempts": 0, "claimed_by": None}] * 2


def test_a_long_periodic_job_does_not_starve_the_heartbeats(queue_db: Database) -> None:
    """A task runs 2.5 s under a 1 s lease while a periodic job takes 4 s: the heartbeats keep
    the lease alive, so the task finishes on its first attempt (it used to lose its lease, since
    the same thread did both)."""
    world = make_world(queue_db)
    with queue_db.tenant_transaction(world.tenant_id) as conn:
        task = tasks.create_task(conn, ai_data(world, "effect", metadata={"sleep": 2.5}))
    long_job = PeriodicJob("test.long", timedelta(hours=1), lambda conn: time.sleep(4))
    worker = Worker(
        queue_db,
        [TaskQueue(queue_db, registry())],
        config=WorkerConfig(name="long-periodic", lease_seconds=1.0, poll_interval=0.2),
        periodic=[long_job],
    )
    worker.start()
    try:
        wait_for(lambda: _row(queue_db, task.id)["execution_status"] == "success", 20)
    finally:
        worker.stop()
        worker.join(15)
    assert _row(queue_db, task.id)["attempts"] == 1


class _RecordingQueue(TaskQueue):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits: list[int] = []

    def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Lease]:
        self.limits.append(limit)
        return super().claim(worker, limit, lease_seconds)


def test_slow_jobs_are_claimed_in_smaller_batches(queue_db: Database) -> None:
    """After a batch of 0.15 s jobs, a runner with `batch_seconds=0.35` claims 2 at a time, not
    4: slow jobs are left for other runners instead of waiting behind each other in one batch."""
    world = make_world(queue_db)
    enqueue(queue_db, world, 10, processor="effect", metadata={"sleep": 0.15})
    queue = _RecordingQueue(queue_db, registry())
    worker = Worker(
        queue_db,
        [queue],
        config=WorkerConfig(name="sizer", batch=4, batch_seconds=0.35, poll_interval=0.1),
    )
    worker.start()
    try:
        wait_for(lambda: _counts(queue_db) == {"success": 10}, 20)
    finally:
        worker.stop()
        assert worker.join(10)
    assert queue.limits[0] == 4
    assert min(queue.limits[1:]) >= 1
    assert max(queue.limits[1:]) <= 2
