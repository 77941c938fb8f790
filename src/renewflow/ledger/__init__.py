"""The autonomous-run ledger (`autonomous_tasks`, spec: autonomous-tasks-log.md): a row for every
periodic and autonomous run, per tenant, with its input, output, error, duration and cost; and
what is read from it: reports, the health of scheduled work, LLM budgets, retention.

Writing (`runs`); each call is one statement in the caller's short transaction:

- `start(conn, *, tenant_id, task_type, triggered_by="cron", agent_name=None, input=None)
  -> UUID`: a `running` row, `executed_at` now. Commit it before the run's work: no
  transaction is ever held across an LLM or network call.
- `attach(conn, run_id)`: the LLM calls recorded later in that transaction are linked to the
  run (`llm_calls.autonomous_task_id`); `link_calls(conn, run_id, call_ids)` links calls
  already recorded.
- `finish(conn, run_id, *, status, output=None, error=None, cost_usd=None) -> row | None`:
  `completed`, `failed`, `partial_failure` (some of its items failed) or `cancelled`;
  `completed_at` now, `cost_estimate_usd` = `cost_usd` or the sum of its linked calls. A second
  finish is a no-op (None).
- `record(conn, *, tenant_id, task_type, status, ...) -> UUID`: a run written already over (a
  run `cancelled` because the budget is spent).
- `periodic(database, task_type, *, agent_name, every=None, ...)`: a context manager for a job
  spanning tenants; it yields a `TenantRuns` the job notes per-tenant outcomes on (`failures`,
  `fail`, `item_failed`, `cancel`, `count`) and writes one row per tenant when the block ends
  (failed for all if it raised). A job run more often than hourly keeps one row per tenant and
  hour (`period_start`), its counters summed.

Budgets (`budget`): `budget.allows_autonomous(conn, tenant_id) -> BudgetState`, truthy when
autonomous LLM work may start, else falsy with `.reason` and `.resumes_at`.

Reading (`reports`, `health`): list with filters, the summary (`get_autonomous_task_summary`
plus p50/p95 duration), recent failures, costs by day and type; each scheduled job's state
(ok, late, down). Retention (`retention`): the daily prune, itself a ledger row.
"""

from renewflow.ledger import budget
from renewflow.ledger.budget import BudgetState, allows_autonomous
from renewflow.ledger.runs import (
    FINAL,
    PERIOD,
    Status,
    TaskType,
    TenantRuns,
    TriggeredBy,
    attach,
    finish,
    link_calls,
    period_row,
    period_start,
    periodic,
    record,
    start,
)

__all__ = [
    "FINAL",
    "PERIOD",
    "BudgetState",
    "Status",
    "TaskType",
    "TenantRuns",
    "TriggeredBy",
    "allows_autonomous",
    "attach",
    "budget",
    "finish",
    "link_calls",
    "period_row",
    "period_start",
    "periodic",
    "record",
    "start",
]
