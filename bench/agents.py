"""Agent task steps per second through a real worker with the mock LLM provider, in rounds that
alternate with `pgbench -N` on the same database, and the step-to-step hand-off.

Run: `.venv/bin/python -m bench.agents` (uses DATABASE_URL's server if set, as a superuser able to
create a database; otherwise an embedded PostgreSQL in a temporary directory). pgbench is looked up
on PATH (or RENEWFLOW_PGBENCH). The defaults take about two minutes; `--tasks`, `--rounds` and
`--pgbench-seconds` make a run longer and steadier.

- World: a fresh database, one tenant on the default (mock) provider, one user owning every
  task. A task has three steps, each with `include_previous_context` (so steps 2 and 3 are given
  the earlier results). All tasks are created before anything is timed.
- Workers: `--processes` processes of `renewflow worker` (1 by default), each with `--runners`
  agent runner threads (4, the `RENEWFLOW_AGENT_WORKERS` default) claiming up to 8 steps at once
  (`AGENT_BATCH`), and pools of `--pool` connections (the `pool_max_size` default: the service
  pool the runners share is half of it, at least 4), as a deployment runs them: apart from this
  process, whose polling and pgbench runs would otherwise compete with their runners for its
  interpreter. They run for the whole benchmark.
- Throughput round: `--tasks` tasks are started in one transaction (`agents.run_task` each); the
  time runs from that commit to the last step's fenced finish, both read from the database's
  clock (the benchmark polls for the end only every 100 ms, so its polling loads the server
  little). Steps per second = 3 x tasks / that time.
- Hand-off: step k's `execution_completed_at` (stamped in the fenced finish) to step k+1's
  `execution_started_at` (stamped when it is leased); both `clock_timestamp()` of the database.
  On the worker the finish of step k leases step k+1 to the same runner in its own transaction,
  so this is the gap inside that one statement; the runner's own turn-around (back to the
  worker loop, the lease handed out from memory, the prompt built) is not in it, and is part of
  the steps per second above. Measured with one task in flight at a time (`--handoff-tasks` per
  round, on an otherwise idle worker), and in the throughput rounds, where a task's steps also
  run back to back on one runner (tasks, not steps, wait their turn in the queue).
- pgbench: `pgbench -N` with `--clients` clients after each throughput round, on the same
  database while the worker idles; the tables are built once, before the first round. Medians
  over the rounds and their ratio say how the step runner compares with the server's own
  simple-transaction rate at the time, on a shared and noisy machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import time
import uuid
from collections.abc import Sequence
from uuid import UUID

from bench.scratch import scratch_database, vacuum_analyze
from bench.tasks import pgbench, start_workers, stop_workers, wait_for_workers
from renewflow import accounts, agents
from renewflow.db import Database
from renewflow.worker import AGENT_WORKERS

STEPS = 3

_HANDOFFS = """
SELECT extract(epoch FROM n.execution_started_at - p.execution_completed_at) * 1000 AS ms
FROM task_steps p
JOIN task_steps n ON n.task_id = p.task_id AND n.step_order = p.step_order + 1
WHERE p.task_id = ANY(%(tasks)s)
"""

_LAST_FINISH = """
SELECT max(execution_completed_at) AS t FROM task_steps WHERE task_id = ANY(%(tasks)s)
"""

_UNFINISHED = """
SELECT count(*) FILTER (WHERE status <> 'completed') AS unfinished,
       count(*) FILTER (WHERE status = 'failed') AS failed
FROM agent_tasks WHERE id = ANY(%(tasks)s)
"""


def _body(index: int) -> agents.TaskCreate:
    steps = [
        {"step_name": name, "instructions": text, "include_previous_context": True}
        for name, text in (
            ("Research", f"List what changed at customer {index} this quarter."),
            ("Assess", "Assess the renewal risk from the research."),
            ("Draft", "Draft a note to the account team from the assessment."),
        )
    ]
    return agents.TaskCreate.model_validate({"name": f"Renewal brief {index}", "steps": steps})


def _world(database: Database, count: int) -> tuple[UUID, UUID, list[UUID]]:
    """A tenant, its user, and `count` three-step agent tasks of that user, not started."""
    with database.service_transaction() as conn:
        tenant: UUID = accounts.create_tenant(conn, f"Bench {uuid.uuid4().hex[:6]}")["id"]
    with database.tenant_transaction(tenant) as conn:
        user: UUID = accounts.create_user(conn, email="bench@example.com", role=accounts.Role.CSM)[
            "id"
        ]
    tasks: list[UUID] = []
    for start in range(0, count, 200):
        with database.tenant_transaction(tenant, user) as conn:
            tasks += [
                agents.create_task(conn, _body(i)).id for i in range(start, min(count, start + 200))
            ]
    return tenant, user, tasks


def _start(database: Database, tenant: UUID, user: UUID, tasks: Sequence[UUID]) -> None:
    with database.tenant_transaction(tenant, user) as conn:
        for task_id in tasks:
            agents.run_task(conn, task_id)


def _unfinished(database: Database, tasks: Sequence[UUID]) -> int:
    # as the service role: the tenant role's row-level security would run its owner check
    # (a SQL function) on every task, each poll, a load on the server the runner does not make
    with database.service_transaction() as conn:
        row = conn.execute(_UNFINISHED, {"tasks": list(tasks)}).fetchone()
    assert row is not None
    if row["failed"]:
        raise RuntimeError(f"{row['failed']} agent task(s) failed")
    return int(row["unfinished"])


def _wait(database: Database, tasks: Sequence[UUID], every: float, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while _unfinished(database, tasks):
        if time.monotonic() > deadline:
            raise RuntimeError("the agent tasks did not finish in time")
        time.sleep(every)


def _handoffs(database: Database, tenant: UUID, tasks: Sequence[UUID]) -> list[float]:
    with database.tenant_transaction(tenant) as conn:
        rows = conn.execute(_HANDOFFS, {"tasks": list(tasks)}).fetchall()
    return [float(r["ms"]) for r in rows]


def throughput(database: Database, tenant: UUID, user: UUID, tasks: Sequence[UUID]) -> float:
    """Steps per second, from the commit that starts every task to the last step's finish, both
    by the database's clock: the wait for the end polls seldom, so it costs the server little
    and adds nothing to the time."""
    _start(database, tenant, user, tasks)
    with database.tenant_transaction(tenant) as conn:
        row = conn.execute("SELECT clock_timestamp() AS t").fetchone()
    assert row is not None
    _wait(database, tasks, every=0.1)
    with database.tenant_transaction(tenant) as conn:
        end = conn.execute(_LAST_FINISH, {"tasks": list(tasks)}).fetchone()
    assert end is not None
    elapsed: datetime.timedelta = end["t"] - row["t"]
    return len(tasks) * STEPS / elapsed.total_seconds()


def one_at_a_time(database: Database, tenant: UUID, user: UUID, tasks: Sequence[UUID]) -> None:
    """Runs the tasks one after the other, each on an idle worker."""
    for task_id in tasks:
        _start(database, tenant, user, [task_id])
        _wait(database, [task_id], every=0.005)
        time.sleep(0.02)


def _p95(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=400, help="tasks per throughput round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--handoff-tasks", type=int, default=50, help="one-at-a-time, per round")
    parser.add_argument("--warmup", type=int, default=50, help="tasks run before the rounds")
    parser.add_argument("--runners", type=int, default=AGENT_WORKERS, help="per process")
    parser.add_argument("--processes", type=int, default=1, help="worker processes")
    parser.add_argument("--pool", type=int, default=10, help="pool size (pool_max_size)")
    parser.add_argument("--pgbench-seconds", type=int, default=10, help="per round")
    parser.add_argument("--clients", type=int, default=4, help="pgbench clients")
    args = parser.parse_args()
    per_round = args.tasks + args.handoff_tasks
    rates: list[float] = []
    tps: list[float] = []
    loaded: list[float] = []
    idle: list[float] = []
    with scratch_database() as url, Database(url, max_size=2) as database:
        tenant, user, tasks = _world(database, args.warmup + args.rounds * per_round)
        workers = start_workers(
            url,
            args.processes,
            "--agent-workers",
            str(args.runners),
            env={"RENEWFLOW_POOL_MAX_SIZE": str(args.pool)},
        )
        try:
            wait_for_workers(url, workers)
            throughput(database, tenant, user, tasks[: args.warmup])
            # the statistics of a queue in use (completed steps, running tasks), as
            # autovacuum would soon make them, not those of tasks never run
            vacuum_analyze(url)
            for r in range(args.rounds):
                mine = tasks[args.warmup + r * per_round : args.warmup + (r + 1) * per_round]
                batch, single = mine[: args.tasks], mine[args.tasks :]
                rates.append(throughput(database, tenant, user, batch))
                loaded += _handoffs(database, tenant, batch)
                one_at_a_time(database, tenant, user, single)
                idle += _handoffs(database, tenant, single)
                tps.append(pgbench(url, args.pgbench_seconds, args.clients, initialize=r == 0))
        finally:
            stop_workers(workers)
    rate, reference = statistics.median(rates), statistics.median(tps)
    ratios = [a / b for a, b in zip(rates, tps, strict=True)]
    print(
        f"{datetime.date.today().isoformat()}, cores: {os.cpu_count()}, rounds: {args.rounds}, "
        f"tasks per round: {args.tasks} x {STEPS} steps, worker processes: {args.processes} x "
        f"{args.runners} agent runners, "
        f"pool: {args.pool}, pgbench -N: {args.clients} clients x {args.pgbench_seconds}s"
    )
    print("| round | agent steps/s | pgbench -N tps | ratio |")
    print("| ---: | ---: | ---: | ---: |")
    for i, (a, b) in enumerate(zip(rates, tps, strict=True), 1):
        print(f"| {i} | {a:,.0f} | {b:,.0f} | {a / b:.2f}x |")
    print()
    print("| measure | value | target |")
    print("| --- | ---: | ---: |")
    print(f"| agent steps/s, median | {rate:,.0f} | — |")
    print(f"| pgbench -N tps, median | {reference:,.0f} | — |")
    print(
        f"| steps/s vs pgbench -N (ratio of medians; median ratio {statistics.median(ratios):.2f}x)"
        f" | {rate / reference:.2f}x | ≥ 0.30x |"
    )
    print(
        f"| hand-off, one task at a time, median (ms; {len(idle)} hand-offs)"
        f" | {statistics.median(idle):.2f} | < 10 |"
    )
    print(f"| hand-off, one task at a time, p95 (ms) | {_p95(idle):.2f} | — |")
    print(
        f"| hand-off in the throughput rounds, median (ms) | {statistics.median(loaded):.1f} | — |"
    )


if __name__ == "__main__":
    main()
