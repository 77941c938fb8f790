"""The ledger's summary (`GET /api/ledger/summary`: the spec's get_autonomous_task_summary plus
p50/p95 duration) over 2 million ledger rows; target under 50 ms for one tenant's summary.

Run: `.venv/bin/python -m bench.ledger [--rows N] [--calls N] [--explain] [--output FILE]`
(DATABASE_URL's server if set, as a superuser able to create a database; otherwise an embedded
PostgreSQL). The benchmark creates a fresh database and drops it at the end. The figures are
printed as markdown, and written to FILE when given.

- Data, set-based (one INSERT ... SELECT generate_series): `--rows` ledger rows over `--tenants`
  tenants, skewed as real tenants are (the largest holds about a fifth of all rows), over
  renewflow's ten most common task types, `executed_at` spread evenly over the last 90 days,
  durations from milliseconds to minutes, 90% completed and the rest failed, partially failed
  or cancelled, a cost on one run in three, in statements of 50,000 rows (each rolls its days up
  into `autonomous_task_days`). Then VACUUM ANALYZE, as autovacuum would soon do.
- A call is what the API does: a tenant transaction (the app role, under row-level security)
  running `renewflow.ledger.reports.summary`, timed from begin to commit (up to 48 hours from
  every run; longer windows from the daily roll-up and the window's two ends). Per tenant (the
  largest, and one of median size) and window (24 hours, the API's default, up to 90 days):
  a few warm-up calls, then `--calls` timed calls; p50 and p95 are reported.
- `--explain` prints EXPLAIN (ANALYZE, BUFFERS) of the summary for the largest tenant, per
  window.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import LiteralString

from bench.scratch import scratch_database, vacuum_analyze
from renewflow import accounts
from renewflow.db import Database, load_queries
from renewflow.ledger import reports

TARGET_MS = 50.0
BATCH = 50_000
WINDOWS = (24, 168, 720, 2160)  # hours: a day (the API's default), a week, 30 days, 90 days

# Tenant k of n gets the rows whose r^2 falls in [k/n, (k+1)/n): about 22% for the first of 20.
_ROWS = """
INSERT INTO autonomous_tasks (tenant_id, task_type, status, executed_at, completed_at,
                              triggered_by, agent_name, cost_estimate_usd)
SELECT t.ids[1 + least(floor(t.n * power(g.r1, 2))::int, t.n - 1)],
       (ARRAY['renewal_sweep', 'ai_task_execution', 'notification_delivery',
              'notification_schedule', 'task_sweep', 'agent_task_step',
              'continuous_intelligence_update', 'system_health_check', 'data_cleanup',
              'daily_analytics_rollup'])[1 + floor(g.r2 * 10)::int],
       CASE WHEN g.r3 < 0.90 THEN 'completed' WHEN g.r3 < 0.95 THEN 'failed'
            WHEN g.r3 < 0.98 THEN 'partial_failure' ELSE 'cancelled' END,
       g.at, g.at + make_interval(secs => exp(g.r4 * 12) / 1000), 'cron', 'bench',
       CASE WHEN g.r5 < 0.33 THEN round((g.r5 * 3)::numeric, 4) END
FROM (SELECT %(tenants)s::uuid[] AS ids, cardinality(%(tenants)s::uuid[]) AS n) t,
     LATERAL (SELECT random() AS r1, random() AS r2, random() AS r3, random() AS r4,
                     random() AS r5, now() - random() * interval '90 days' AS at
              FROM generate_series(1, %(rows)s)) g
"""
_COUNTS = """
SELECT tenant_id, count(*) AS n FROM autonomous_tasks GROUP BY tenant_id ORDER BY n DESC
"""


def _populate(url: str, database: Database, rows: int, tenants: int) -> list[tuple[uuid.UUID, int]]:
    """The tenants and their ledger rows; returns (tenant, rows) largest first."""
    with database.service_transaction() as conn:
        ids = [
            accounts.create_tenant(conn, f"Bench {t} {uuid.uuid4().hex[:6]}")["id"]
            for t in range(tenants)
        ]
    with database.owner_connection() as conn:
        conn.execute("SELECT setseed(0.14)")
        # in batches, as the ledger is written (each statement also rolls its days up)
        for start in range(0, rows, BATCH):
            conn.execute(_ROWS, {"tenants": ids, "rows": min(BATCH, rows - start)})
    vacuum_analyze(url)
    with database.owner_connection() as conn:
        return [(r["tenant_id"], int(r["n"])) for r in conn.execute(_COUNTS)]


def _calls(database: Database, tenant: uuid.UUID, hours: int, calls: int) -> list[float]:
    """Milliseconds of each call, begin to commit, after a few untimed ones."""
    timings = []
    for index in range(calls + 5):
        started = time.perf_counter()
        with database.tenant_transaction(tenant) as conn:
            reports.summary(conn, hours=hours)
        if index >= 5:
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _explain(database: Database, tenant: uuid.UUID, hours: int) -> str:
    # the query `reports.summary` runs for this window
    name = "summary" if hours <= reports.EXACT_HOURS else "summary_days"
    query: LiteralString = load_queries("renewflow.ledger", "reports.sql")[name]
    with database.tenant_transaction(tenant) as conn:
        plan = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS) " + query, {"task_type": None, "hours": hours}
        ).fetchall()
    return "\n".join(next(iter(row.values())) for row in plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    with scratch_database() as url, Database(url, max_size=2) as database:
        started = time.perf_counter()
        counts = _populate(url, database, args.rows, args.tenants)
        load_s = time.perf_counter() - started
        measured = [("largest", *counts[0]), ("median", *counts[len(counts) // 2])]
        results = []
        for label, tenant, rows in measured:
            for hours in WINDOWS:
                timings = _calls(database, tenant, hours, args.calls)
                results.append((label, rows, hours, _p(timings, 50), _p(timings, 95)))
        plans = [(h, _explain(database, counts[0][0], h)) for h in WINDOWS] if args.explain else []
    lines = [
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; cores: {os.cpu_count()}; "
        f"{args.rows:,} ledger rows in {args.tenants} tenants over 90 days "
        f"(generated and analysed in {load_s:.1f} s); {args.calls} timed calls per line",
        "",
        "| tenant | its rows | window | p50 ms | p95 ms | target (< 50 ms) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for label, rows, hours, p50, p95 in results:
        window = f"{hours // 24} days" if hours > 24 else f"{hours} hours"
        verdict = "met" if p95 < TARGET_MS else ("p50 met" if p50 < TARGET_MS else "NOT met")
        lines.append(f"| {label} | {rows:,} | {window} | {p50:.2f} | {p95:.2f} | {verdict} |")
    for hours, plan in plans:
        lines += ["", f"EXPLAIN (ANALYZE, BUFFERS), largest tenant, {hours} hours:", "", "```"]
        lines += [plan, "```"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
