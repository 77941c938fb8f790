"""The continuous-intelligence pass over 100,000 generated customers, then the same pass again
when nothing changed (target: at most 10% of the first), then once more after one customer per
tenant changed.

Run: `.venv/bin/python -m bench.intelligence [--output FILE]` (DATABASE_URL's server if set, as a
superuser able to create a database; otherwise an embedded PostgreSQL). The figures are printed
as markdown, and written to FILE when given.

- Data, set-based (INSERT ... SELECT generate_series): customers spread over a few tenants, each
  with an active contract (renewal 0-400 days ahead, ARR $5k-$500k), a primary contact, 8 weekly
  usage points of one metric over 56 days (some declining), an open task for one in three (some
  overdue), support metrics for one in five.
- First pass: `run_pass` with a batch covering every customer: components, scores and trend for
  all of them in one statement per tenant, and a summary per customer from the mock provider
  (every claim's evidence checked), stored in chunks with the calls recorded.
- Re-run: the same pass at once: nothing is due, so it only looks (an index scan per tenant).
- One change per tenant: a usage point of one customer per tenant, then the pass.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from pathlib import Path
from typing import Any

from bench.scratch import scratch_database, vacuum_analyze
from renewflow import accounts
from renewflow.db import Database
from renewflow.intelligence import PassLimits, run_pass
from renewflow.llm import LLMClients

_CUSTOMERS = """
INSERT INTO customers (tenant_id, external_id, name)
SELECT %(tenant)s, 'c-' || i, 'Customer ' || i FROM generate_series(1, %(n)s) i
"""
_CONTRACTS = """
INSERT INTO contracts (tenant_id, customer_id, renewal_date, arr)
SELECT c.tenant_id, c.id, current_date + (hashtext(c.id::text) & 511) %% 400,
       5000 + (hashtext(c.name) & 1023) * 484
FROM customers c WHERE c.tenant_id = %(tenant)s
"""
_CONTACTS = """
INSERT INTO contacts (tenant_id, customer_id, name, role, is_primary)
SELECT c.tenant_id, c.id, 'Contact of ' || c.name,
       CASE WHEN hashtext(c.name) %% 2 = 0 THEN 'champion' ELSE 'admin' END, true
FROM customers c WHERE c.tenant_id = %(tenant)s
"""
_USAGE = """
INSERT INTO usage_metrics (tenant_id, customer_id, metric_date, metric_name, value)
SELECT c.tenant_id, c.id, current_date - 7 * w, 'active_users',
       CASE WHEN hashtext(c.name) %% 3 = 0 AND w < 4 THEN 60 ELSE 100 END + w
FROM customers c CROSS JOIN generate_series(0, 7) w WHERE c.tenant_id = %(tenant)s
"""
_SUPPORT = """
INSERT INTO usage_metrics (tenant_id, customer_id, metric_date, metric_name, value)
SELECT c.tenant_id, c.id, current_date - 2, 'support_tickets', abs(hashtext(c.name)) %% 9
FROM customers c WHERE c.tenant_id = %(tenant)s AND abs(hashtext(c.name)) %% 5 = 0
"""
_TASKS = """
WITH w AS (
  INSERT INTO workflows (tenant_id, workflow_id, name, config)
  VALUES (%(tenant)s, 'bench', 'Bench', '{"id": "bench", "steps": []}') RETURNING id
), e AS (
  INSERT INTO workflow_executions (tenant_id, customer_id, workflow_id, workflow_version)
  SELECT c.tenant_id, c.id, w.id, 1 FROM customers c, w
  WHERE c.tenant_id = %(tenant)s AND abs(hashtext(c.name)) %% 3 = 0
  RETURNING id, customer_id
)
INSERT INTO workflow_tasks (tenant_id, workflow_execution_id, customer_id, task_type, owner,
                            action, description, status, priority, due_date)
SELECT %(tenant)s, e.id, e.customer_id, 'CSM_TASK', 'CSM', 'call', 'Call', 'pending', 3,
       current_date + (abs(hashtext(e.id::text)) %% 30) - 10
FROM e
"""
_CHANGE_ONE = """
UPDATE usage_metrics SET value = value + 1
WHERE tenant_id = %(tenant)s AND metric_date = current_date
  AND customer_id = (SELECT id FROM customers WHERE tenant_id = %(tenant)s AND external_id = 'c-1')
"""


def _populate(database: Database, customers: int, tenants: int) -> list[uuid.UUID]:
    ids = []
    per_tenant = customers // tenants
    for t in range(tenants):
        with database.service_transaction() as conn:
            tenant = accounts.create_tenant(conn, f"Bench {t} {uuid.uuid4().hex[:6]}")["id"]
            for statement in (_CUSTOMERS, _CONTRACTS, _CONTACTS, _USAGE, _SUPPORT, _TASKS):
                conn.execute(statement, {"tenant": tenant, "n": per_tenant})
        ids.append(tenant)
    return ids


def _timed_pass(
    database: Database, clients: LLMClients, limits: PassLimits
) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    result = run_pass(database, clients, limits, triggered_by="system")
    return time.perf_counter() - started, result.as_json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    per_tenant = args.customers // args.tenants
    limits = PassLimits(batch_size_per_workspace=per_tenant, max_workspaces=args.tenants)
    clients = LLMClients()
    with scratch_database() as url, Database(url, max_size=4) as database:
        started = time.perf_counter()
        tenants = _populate(database, args.customers, args.tenants)
        vacuum_analyze(url)
        load_s = time.perf_counter() - started
        first_s, first = _timed_pass(database, clients, limits)
        vacuum_analyze(url)
        rerun_s, rerun = _timed_pass(database, clients, limits)
        with database.service_transaction() as conn:
            for tenant in tenants:
                conn.execute(_CHANGE_ONE, {"tenant": tenant})
        one_s, one = _timed_pass(database, clients, limits)
    clients.close()
    lines = [
        f"cores: {os.cpu_count()}, customers: {args.customers:,} in {args.tenants} tenants "
        f"(data generated in {load_s:.1f} s), mock provider",
        "",
        "| pass | seconds | customers recomputed | summaries written | vs first pass |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| first pass | {first_s:.2f} | {first['total_customers_processed']:,} | "
        f"{first['total_summaries_written']:,} | 1.00x |",
        f"| re-run, nothing changed | {rerun_s:.3f} | {rerun['total_customers_processed']:,} | "
        f"{rerun['total_summaries_written']:,} | {rerun_s / first_s:.4f}x |",
        f"| one customer per tenant changed | {one_s:.3f} | {one['total_customers_processed']:,} | "
        f"{one['total_summaries_written']:,} | {one_s / first_s:.4f}x |",
        "",
        f"target: re-run at most 0.10x of the first pass: "
        f"{'met' if rerun_s <= 0.1 * first_s else 'NOT met'}",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
