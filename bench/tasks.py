"""No-op AI tasks per second with 1 and 4 worker processes, pgbench -N against the same database in
the same run, and the median enqueue-to-start latency of an idle worker.

Run: `.venv/bin/python -m bench.tasks` (uses DATABASE_URL's server if set, as a superuser able to
create a database; otherwise an embedded PostgreSQL in a temporary directory). pgbench is looked up
on PATH (or RENEWFLOW_PGBENCH).

- Throughput: the workers (`--concurrency 2 --batch 32` unless told otherwise) are started and
  idle first; then N tasks are enqueued in one transaction and the clock runs from that commit
  until the last task is written as succeeded. Each batch is two short transactions: the claim,
  then the finish of all its results in one statement; the no-op processor holds none.
- Latency: one task at a time is enqueued into an idle worker; latency is the task's `claimed_at`
  minus its `queued_at`, both stamped by the database clock.
- pgbench: `pgbench -N` (no updates of the contended branch and teller rows) with 4 clients on the
  same database, after the task runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.scratch import scratch_database
from renewflow import accounts
from renewflow.db import Database, connect

ROOT = Path(__file__).resolve().parents[1]


def _world(database: Database) -> dict[str, Any]:
    with database.service_transaction() as conn:
        tenant = accounts.create_tenant(conn, f"Bench {uuid.uuid4().hex[:6]}")["id"]
    with database.tenant_transaction(tenant) as conn:
        customer = conn.execute(
            "INSERT INTO customers (tenant_id, name) VALUES (current_tenant_id(), 'Acme') RETURNING id"
        ).fetchone()
        workflow = conn.execute(
            "INSERT INTO workflows (tenant_id, workflow_id, name, config) VALUES "
            "(current_tenant_id(), 'bench', 'Bench', '{\"id\": \"bench\", \"steps\": []}') RETURNING id"
        ).fetchone()
        assert customer is not None
        assert workflow is not None
        execution = conn.execute(
            "INSERT INTO workflow_executions (tenant_id, customer_id, workflow_id, workflow_version) "
            "VALUES (current_tenant_id(), %s, %s, 1) RETURNING id",
            (customer["id"], workflow["id"]),
        ).fetchone()
        assert execution is not None
    return {"tenant": tenant, "customer": customer["id"], "execution": execution["id"]}


_ENQUEUE = """
INSERT INTO workflow_tasks (tenant_id, workflow_execution_id, customer_id, task_type, owner, action,
  description, status, priority, auto_execute, processor, execution_status)
SELECT current_tenant_id(), %(execution)s, %(customer)s, 'AI_TASK', 'AI', 'No-op ' || g, 'bench',
  'pending', 3, true, 'noop', 'queued'
FROM generate_series(1, %(count)s) AS g
"""


def _enqueue(database: Database, world: dict[str, Any], count: int) -> None:
    with database.tenant_transaction(world["tenant"]) as conn:
        conn.execute(_ENQUEUE, {**world, "count": count})


def _remaining(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM workflow_tasks WHERE execution_status IS DISTINCT FROM 'success'"
        ).fetchone()
    assert row is not None
    return int(row["n"])


def start_workers(
    url: str, count: int, *extra: str, env: dict[str, str] | None = None
) -> list[subprocess.Popen[bytes]]:
    """`count` processes of `renewflow worker` on `url`'s database, with `extra` options."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": url, **(env or {})}
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "renewflow",
                "worker",
                "--no-plugins",
                "--name",
                f"bench-{i}",
                "--log-level",
                "warning",
                *extra,
            ],
            cwd=ROOT,
            env=environment,
        )
        for i in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        w.terminate()
    for w in workers:
        w.wait(30)


def wait_for_workers(url: str, workers: list[subprocess.Popen[bytes]]) -> None:
    """Until every worker has its pools open and its listener on."""
    deadline = time.monotonic() + 60
    with connect(url) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
                "AND query ILIKE 'LISTEN%%'"
            ).fetchone()
            if row is not None and row["n"] >= len(workers):
                return
            if any(w.poll() is not None for w in workers):
                raise RuntimeError("a worker exited at start")
            time.sleep(0.1)
    raise RuntimeError("workers did not start")


def throughput(
    url: str,
    database: Database,
    world: dict[str, Any],
    workers: int,
    count: int,
    *,
    concurrency: int = 2,
    batch: int = 32,
) -> float:
    with connect(url) as conn:
        conn.execute("TRUNCATE workflow_tasks")
    procs = start_workers(
        url, workers, "--concurrency", str(concurrency), "--batch", str(batch), "--poll", "0.5"
    )
    try:
        wait_for_workers(url, procs)
        start = time.perf_counter()
        _enqueue(database, world, count)
        while _remaining(url):
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
    finally:
        stop_workers(procs)
    return count / elapsed


def latency(url: str, database: Database, world: dict[str, Any], samples: int) -> list[float]:
    with connect(url) as conn:
        conn.execute("TRUNCATE workflow_tasks")
    procs = start_workers(url, 1, "--concurrency", "1", "--batch", "1", "--poll", "5")
    try:
        wait_for_workers(url, procs)
        for _ in range(samples):
            _enqueue(database, world, 1)
            while _remaining(url):
                time.sleep(0.002)
            time.sleep(0.01)
    finally:
        stop_workers(procs)
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM claimed_at - queued_at) * 1000 AS ms FROM workflow_tasks"
        ).fetchall()
    return [float(r["ms"]) for r in rows]


def pgbench(url: str, seconds: int, clients: int, *, initialize: bool = True) -> float:
    """`pgbench -N` tps; `initialize=False` reuses the tables of an earlier call (rounds)."""
    binary = os.environ.get("RENEWFLOW_PGBENCH") or shutil.which("pgbench") or "/usr/bin/pgbench"
    if initialize:
        subprocess.run([binary, "-i", "-s", "10", "-q", url], check=True, capture_output=True)
    out = subprocess.run(
        [binary, "-N", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"tps = ([0-9.]+)", out)
    assert match, out
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--pgbench-seconds", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=2, help="runner threads per worker")
    parser.add_argument("--batch", type=int, default=32, help="tasks per claim")
    args = parser.parse_args()
    shape = {"concurrency": args.concurrency, "batch": args.batch}
    with scratch_database() as url:
        with Database(url, max_size=4) as database:
            world = _world(database)
            one = throughput(url, database, world, 1, args.tasks, **shape)
            four = throughput(url, database, world, 4, args.tasks, **shape)
            lat = latency(url, database, world, args.samples)
        tps = pgbench(url, args.pgbench_seconds, 4)
    p50, p95 = statistics.median(lat), statistics.quantiles(lat, n=20)[-1]
    print(
        f"cores: {os.cpu_count()}, tasks per run: {args.tasks}, latency samples: {len(lat)}, "
        f"workers: --concurrency {args.concurrency} --batch {args.batch}"
    )
    print("| measure | value | vs pgbench -N |")
    print("| --- | ---: | ---: |")
    print(f"| pgbench -N, 4 clients (tps) | {tps:,.0f} | 1.00x |")
    print(f"| no-op AI tasks/s, 1 worker | {one:,.0f} | {one / tps:.2f}x |")
    print(f"| no-op AI tasks/s, 4 workers | {four:,.0f} | {four / tps:.2f}x |")
    print(f"| enqueue-to-start latency, median (ms) | {p50:.2f} | — |")
    print(f"| enqueue-to-start latency, p95 (ms) | {p95:.2f} | — |")


if __name__ == "__main__":
    main()
