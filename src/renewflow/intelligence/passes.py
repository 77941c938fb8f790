"""One pass of the continuous-intelligence agent over the tenants with work.

Per tenant, three short transactions and no transaction held across an LLM call:

1. recompute (one statement for up to `batch_size_per_workspace` due customers: components,
   scores, trend, facts), read the tenant's LLM settings and the summaries due, open the
   tenant's ledger row;
2. with nothing held, ask the LLM for each summary due (claims citing the facts they rest on;
   unsupported claims dropped);
3. store the summaries (one statement per chunk, fenced by the facts they were written from),
   record the LLM calls linked to the ledger row, and close it.

A tenant that fails is recorded (`job_failures`, subject `tenant`; its ledger row `failed`) and
waits for its next attempt with a backoff; the others go on. A customer whose summary fails is
recorded the same way (subject `customer`) and keeps its scores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from renewflow.db import Database, load_queries
from renewflow.intelligence import evidence, ledger
from renewflow.intelligence.ledger import TriggeredBy
from renewflow.jobs.failures import FailureLog, Subject, describe_error, is_outage, record_failure
from renewflow.llm import LLMCall, LLMClients, LLMRequest, record_calls

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.intelligence")

JOB = "intelligence.continuous"
# summaries stored (and their calls recorded) every this many customers: a crash loses little
SUMMARY_CHUNK = 200

TenantStatus = Literal["completed", "partial_failure", "failed", "cancelled"]


@dataclass(frozen=True)
class PassLimits:
    """How much one pass does: customers per tenant (recomputed, and summaries written), and
    tenants. What is left is due at the next pass."""

    batch_size_per_workspace: int = 25
    max_workspaces: int = 50


@dataclass
class TenantResult:
    workspace_id: UUID
    status: TenantStatus = "completed"
    customers_processed: int = 0
    summaries_written: int = 0
    summaries_failed: int = 0
    claims_kept: int = 0
    claims_dropped: int = 0
    cost_usd: Decimal = Decimal(0)
    error: str | None = None
    autonomous_task_id: UUID | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "workspace_id": str(self.workspace_id),
            "status": self.status,
            "customers_processed": self.customers_processed,
            "summaries_written": self.summaries_written,
            "summaries_failed": self.summaries_failed,
            "claims_kept": self.claims_kept,
            "claims_dropped": self.claims_dropped,
            "cost_usd": float(self.cost_usd),
            "error": self.error,
            "autonomous_task_id": str(self.autonomous_task_id) if self.autonomous_task_id else None,
        }


@dataclass
class PassResult:
    results: list[TenantResult] = field(default_factory=list)
    # tenants that failed before and whose next attempt is still to come
    workspaces_waiting: int = 0
    stopped: bool = False

    @property
    def status(self) -> Literal["completed", "partial_failure"]:
        bad = any(r.status in ("failed", "partial_failure") for r in self.results)
        return "partial_failure" if bad else "completed"

    def as_json(self) -> dict[str, Any]:
        results = self.results
        return {
            "workspaces_processed": sum(r.status != "failed" for r in results),
            "workspaces_failed": sum(r.status == "failed" for r in results),
            "workspaces_waiting": self.workspaces_waiting,
            "total_customers_processed": sum(r.customers_processed for r in results),
            "total_customers_failed": sum(r.summaries_failed for r in results),
            "total_summaries_written": sum(r.summaries_written for r in results),
            "total_claims_dropped": sum(r.claims_dropped for r in results),
            "total_cost_usd": float(sum((r.cost_usd for r in results), Decimal(0))),
            "stopped": self.stopped,
            "results": [r.as_json() for r in results],
        }


def run_pass(
    database: Database,
    clients: LLMClients,
    limits: PassLimits,
    *,
    triggered_by: TriggeredBy,
    should_stop: Callable[[], bool] = lambda: False,
    after_tenant: Callable[[], None] = lambda: None,
) -> PassResult:
    """Every tenant with work, up to `limits.max_workspaces`, oldest change first. An outage
    (the database went away) is raised; anything else fails one tenant only."""
    with database.service_transaction() as conn:
        tenants = conn.execute(
            _Q["tenants_with_work"], {"max_workspaces": limits.max_workspaces}
        ).fetchall()
        waiting = FailureLog.load(conn, JOB).waiting_tenants()
    result = PassResult()
    for row in tenants:
        if should_stop():
            result.stopped = True
            break
        tenant_id: UUID = row["tenant_id"]
        if tenant_id in waiting:
            result.workspaces_waiting += 1
            continue
        result.results.append(
            run_tenant(database, clients, tenant_id, limits, triggered_by=triggered_by)
        )
        after_tenant()
    return result


def tenants_without_work(database: Database) -> list[UUID]:
    with database.service_transaction() as conn:
        return [r["tenant_id"] for r in conn.execute(_Q["tenants_without_work"])]


def run_tenant(
    database: Database,
    clients: LLMClients,
    tenant_id: UUID,
    limits: PassLimits,
    *,
    triggered_by: TriggeredBy,
) -> TenantResult:
    result = TenantResult(tenant_id)
    tenant = Subject(tenant_id, "tenant", str(tenant_id))
    batch = limits.batch_size_per_workspace
    try:
        with database.tenant_transaction(tenant_id) as conn:
            run_id = ledger.start_tenant_run(
                conn, tenant_id=tenant_id, triggered_by=triggered_by, input={"batch_size": batch}
            )
            counts = conn.execute(_Q["recompute"], {"batch": batch}).fetchone()
            assert counts is not None
            refusal = ledger.budget_refusal(conn, tenant_id)
            due = [] if refusal else conn.execute(_Q["summaries_due"], {"batch": batch}).fetchall()
            settings_row = conn.execute(_Q["tenant_settings"]).fetchone()
            failures = FailureLog.load(conn, JOB)
    except Exception as error:
        if is_outage(error):
            raise
        return _tenant_failed(database, result, tenant, error, triggered_by, run_id=None)
    result.autonomous_task_id = run_id
    result.customers_processed = int(counts["computed"])
    if refusal is not None:
        result.status = "cancelled"
        result.error = refusal
    due = [r for r in due if not failures.waiting(_customer(tenant_id, r["customer_id"]))]
    calls: list[LLMCall] = []
    try:
        client = (
            clients.for_tenant(settings_row["settings"] if settings_row else None) if due else None
        )
        pending: list[dict[str, Any]] = []
        for row in due:
            subject = _customer(tenant_id, row["customer_id"])
            try:
                pending.append(_summarise(client, tenant_id, row, calls, result))
                failures.succeed(subject)
            except Exception as error:
                if is_outage(error):
                    raise
                failures.fail(subject, error)
                result.summaries_failed += 1
            if len(pending) >= SUMMARY_CHUNK:
                _store(
                    database,
                    tenant_id,
                    run_id,
                    pending=pending,
                    calls=calls,
                    failures=failures,
                    result=result,
                )
                pending, calls = [], []
        _store(
            database,
            tenant_id,
            run_id,
            pending=pending,
            calls=calls,
            failures=failures,
            result=result,
        )
        calls = []
    except Exception as error:
        if is_outage(error):
            raise
        return _tenant_failed(database, result, tenant, error, triggered_by, run_id=run_id)
    if result.summaries_failed and result.status == "completed":
        result.status = "partial_failure"
    with database.tenant_transaction(tenant_id) as conn:
        ledger.finish_tenant_run(
            conn,
            run_id,
            status=result.status,
            output=result.as_json(),
            error=result.error,
            cost_usd=result.cost_usd,
        )
        tenant_failures = FailureLog.load(conn, JOB)
        tenant_failures.succeed(tenant)
        tenant_failures.flush(conn)
    return result


def _customer(tenant_id: UUID, customer_id: UUID) -> Subject:
    return Subject(tenant_id, "customer", str(customer_id))


def _summarise(
    client: Any, tenant_id: UUID, row: dict[str, Any], calls: list[LLMCall], result: TenantResult
) -> dict[str, Any]:
    facts: dict[str, Any] = row["facts"]
    request = LLMRequest(
        prompt=evidence.prompt(row["name"], facts),
        system=evidence.SYSTEM,
        json_schema=evidence.output_schema(list(facts)),
        schema_name="customer_summary",
        max_tokens=800,
        context=evidence.mock_context(row["name"], facts),
    )
    response = client.complete(request, tenant_id=tenant_id, deferred=calls)
    summary = evidence.supported(response.parsed, facts)
    result.claims_kept += len(summary.claims)
    result.claims_dropped += summary.dropped
    return {
        "customer_id": str(row["customer_id"]),
        "summary": summary.text(),
        "insights": [c.as_insight(facts) for c in summary.claims],
        "facts_sha256": row["facts_sha256"],
    }


def _store(
    database: Database,
    tenant_id: UUID,
    run_id: UUID,
    *,
    pending: list[dict[str, Any]],
    calls: list[LLMCall],
    failures: FailureLog,
    result: TenantResult,
) -> None:
    if not pending and not calls and not failures.failed_count:
        return
    with database.tenant_transaction(tenant_id) as conn:
        ledger.attach(conn, run_id)
        record_calls(conn, calls)
        if pending:
            stored = conn.execute(_Q["store_summaries"], {"rows": Jsonb(pending)}).fetchall()
            result.summaries_written += len(stored)
        failures.flush(conn)
    result.cost_usd += sum((c.cost_usd for c in calls if c.cost_usd is not None), Decimal(0))


def _tenant_failed(
    database: Database,
    result: TenantResult,
    tenant: Subject,
    error: BaseException,
    triggered_by: TriggeredBy,
    *,
    run_id: UUID | None,
) -> TenantResult:
    result.status = "failed"
    result.error = describe_error(error)
    with database.tenant_transaction(tenant.tenant_id) as conn:
        if run_id is None:
            run_id = ledger.start_tenant_run(
                conn, tenant_id=tenant.tenant_id, triggered_by=triggered_by, input={}
            )
        ledger.finish_tenant_run(
            conn, run_id, status="failed", output=result.as_json(), error=result.error
        )
        failure = record_failure(conn, JOB, tenant, error)
    result.autonomous_task_id = run_id
    log.warning("continuous intelligence: %s", failure.describe())
    return result
