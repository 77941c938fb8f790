"""The trigger sweep over 100,000 generated customers next to a plain INSERT ... SELECT of the same
rows into workflow_executions, in the same run, plus a re-run of the sweep that changes nothing.

Run: `.venv/bin/python -m bench.sweep` (uses DATABASE_URL's server if set, as a superuser able to
create a database; otherwise an embedded PostgreSQL in a temporary directory). The benchmark
creates a fresh database, seeds the core workflow library, and drops the database at the end.

- Customers: spread evenly over every day from -90 to 400 days until renewal, split across a few
  tenants in different time zones; each has one active contract and a risk score (0-99), so
  Prepare's early trigger (risk score >= 70) fires for some customers just before its range.
- Sweep: `renewflow.engine.sweep.run_sweep`, what the hourly job and `renewflow sweep` run (the
  tenants' open failures read, then every tenant in one service transaction, each customer's
  early triggers failing alone), on an empty workflow_executions table, timed from the call to
  its commit.
- Re-run: the same sweep again at the same moment; it must start and supersede nothing.
- Reference: the rows the sweep wrote (same columns, same values; a Monitor execution an early
  trigger superseded is copied as it ended) are copied to a staging table,
  workflow_executions is emptied and vacuumed, then one plain `INSERT INTO workflow_executions
  (...) SELECT ... FROM staging` puts them back as the same role, timed from the statement to its
  commit. No CTE, no join, no ranking: only the insert itself, with the table's triggers, indexes
  and foreign keys, which the sweep pays too.

Each round runs sweep, re-run and reference once; the median over `--rounds` is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

from bench.scratch import scratch_database, vacuum_analyze
from renewflow import accounts
from renewflow.db import Database, connect
from renewflow.engine.sweep import run_sweep
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TIME_ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo"]
COLUMNS = (
    "tenant_id, customer_id, workflow_id, workflow_version, status, current_step_id, "
    "trigger_reason, started_at, completed_at"
)


def _populate(database: Database, customers: int, tenants: int) -> None:
    """Customer i renews (i mod 491) - 90 days after NOW's date: every day from -90 to 400."""
    per_tenant = customers // tenants
    with database.service_transaction() as conn:
        seed_core(conn, core_library())
        for t in range(tenants):
            tenant = accounts.create_tenant(conn, f"Bench {t} {uuid.uuid4().hex[:6]}")["id"]
            conn.execute(
                "UPDATE tenants SET time_zone = %s WHERE id = %s",
                (TIME_ZONES[t % len(TIME_ZONES)], tenant),
            )
            count = per_tenant + (customers % tenants if t == tenants - 1 else 0)
            conn.execute(
                """WITH c AS (
                     INSERT INTO customers (tenant_id, name, external_id)
                     SELECT %(tenant)s, 'Customer ' || i, 'c-' || i
                     FROM generate_series(1, %(count)s) i
                     RETURNING id, external_id)
                   INSERT INTO contracts (tenant_id, customer_id, renewal_date, arr)
                   SELECT %(tenant)s, c.id,
                          %(today)s::date + ((substr(c.external_id, 3)::int %% 491) - 90),
                          10000 + (substr(c.external_id, 3)::int %% 97) * 1000
                   FROM c""",
                {"tenant": tenant, "count": count, "today": NOW.date()},
            )
            # risk scores 0..99: the high ones fire Prepare's early trigger (riskScore >= 70)
            conn.execute(
                """INSERT INTO customer_intelligence (tenant_id, customer_id, risk_score)
                   SELECT tenant_id, id, (substr(external_id, 3)::int * 37) %% 100
                   FROM customers WHERE tenant_id = %s""",
                (tenant,),
            )


def _empty_executions(url: str) -> None:
    with connect(url) as conn:
        conn.execute("TRUNCATE workflow_executions CASCADE")
        conn.execute("VACUUM ANALYZE workflow_executions")


def _count_active(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM workflow_executions WHERE status = 'active'"
        ).fetchone()
    assert row is not None
    return int(row["n"])


def one_round(url: str, database: Database) -> dict[str, float]:
    _empty_executions(url)
    start = time.perf_counter()
    first = run_sweep(database, NOW)
    swept = time.perf_counter() - start
    start = time.perf_counter()
    again = run_sweep(database, NOW)
    rerun = time.perf_counter() - start
    if (again.started, again.superseded, again.tasks_carried) != (0, 0, 0):
        raise RuntimeError(f"the re-run changed something: {again}")
    if first.failures or again.failures:
        raise RuntimeError(f"the sweep recorded failures: {first.failures + again.failures}")
    if _count_active(url) != first.started - first.superseded:
        raise RuntimeError("the sweep's count and the table disagree")

    with connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_rows")
        conn.execute(f"CREATE TABLE bench_rows AS SELECT {COLUMNS} FROM workflow_executions")
        conn.execute("GRANT SELECT ON bench_rows TO renewflow_service")
    _empty_executions(url)
    with connect(url) as conn:
        conn.execute("VACUUM ANALYZE bench_rows")
    start = time.perf_counter()
    with database.service_transaction() as conn:
        plain = conn.execute(
            f"INSERT INTO workflow_executions ({COLUMNS}) SELECT {COLUMNS} FROM bench_rows"
        ).rowcount
    reference = time.perf_counter() - start
    if plain != first.started:
        raise RuntimeError(f"the reference wrote {plain} rows, the sweep {first.started}")
    return {
        "considered": first.considered,
        "started": first.started,
        "early": first.started_early,
        "sweep": swept,
        "rerun": rerun,
        "reference": reference,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with scratch_database() as url, Database(url, max_size=2) as database:
        _populate(database, args.customers, args.tenants)
        vacuum_analyze(url)
        rounds = [one_round(url, database) for _ in range(args.rounds)]
    sweep_s = statistics.median(r["sweep"] for r in rounds)
    rerun_s = statistics.median(r["rerun"] for r in rounds)
    ref_s = statistics.median(r["reference"] for r in rounds)
    ratios = [r["sweep"] / r["reference"] for r in rounds]
    print(
        f"cores: {os.cpu_count()}, customers: {args.customers} in {args.tenants} tenants, "
        f"considered: {rounds[0]['considered']:,}, executions started: {rounds[0]['started']:,} "
        f"({rounds[0]['early']:,} by early triggers), "
        f"rounds: {args.rounds}"
    )
    print("| measure | seconds (median of rounds) | vs plain INSERT ... SELECT |")
    print("| --- | ---: | ---: |")
    print(f"| plain INSERT ... SELECT of the same rows | {ref_s:.2f} | 1.00x |")
    print(f"| sweep | {sweep_s:.2f} | {statistics.median(ratios):.2f}x |")
    print(f"| sweep re-run (changes nothing) | {rerun_s:.2f} | {rerun_s / ref_s:.2f}x |")
    print(
        "per round (sweep / re-run / reference, s): "
        + "; ".join(f"{r['sweep']:.2f} / {r['rerun']:.2f} / {r['reference']:.2f}" for r in rounds)
    )


if __name__ == "__main__":
    main()
