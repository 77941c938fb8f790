"""Retention: the daily job deleting each tenant's run data older than its settings say
(`retention.llm_calls_days`, `ledger_days`, `notifications_days` for delivered notifications,
`chat_threads_days` for ended chat threads; unset: kept). Each tenant in transactions of its
own, failing alone; each tenant's pass is a ledger row (`data_cleanup`) with what it deleted."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import LiteralString
from uuid import UUID

from renewflow.db import Database, load_queries
from renewflow.jobs.failures import is_outage
from renewflow.ledger import runs
from renewflow.ledger.runs import Status, TaskType
from renewflow.settings import current_settings

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.ledger", "retention.sql")
_LEDGER = load_queries("renewflow.ledger")

JOB = "ledger.retention"
BATCH = 5000

# setting -> the query pruning it
_KINDS: tuple[tuple[str, LiteralString], ...] = (
    ("llm_calls_days", "prune_llm_calls"),
    ("ledger_days", "prune_ledger"),
    ("notifications_days", "prune_notifications"),
    ("chat_threads_days", "prune_chat_threads"),
)


@dataclass
class RetentionResult:
    deleted: dict[UUID, dict[str, int]] = field(default_factory=dict)
    failed: dict[UUID, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(d.values()) for d in self.deleted.values())


def prune_tenant(
    database: Database,
    tenant_id: UUID,
    now: datetime | None = None,
    *,
    batch: int = BATCH,
    triggered_by: runs.TriggeredBy = "cron",
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, int]:
    """Prunes one tenant; returns how many rows of each kind went. Its ledger row is opened
    first and closed last, each in a short transaction; each batch commits on its own."""
    moment = now or datetime.now(UTC)
    with database.tenant_transaction(tenant_id) as conn:
        retention = current_settings(conn).retention
        run_id = runs.start(
            conn,
            tenant_id=tenant_id,
            task_type=TaskType.DATA_CLEANUP,
            triggered_by=triggered_by,
            agent_name=JOB,
            input={k: getattr(retention, k) for k, _ in _KINDS},
        )
    deleted: dict[str, int] = {}
    try:
        for setting, query in _KINDS:
            days = getattr(retention, setting)
            if days is None:
                continue
            kind = setting.removesuffix("_days")
            deleted[kind] = 0
            before = moment - timedelta(days=days)
            while not should_stop():
                with database.tenant_transaction(tenant_id) as conn:
                    n = conn.execute(
                        _Q[query], {"before": before, "batch": batch, "keep": run_id}
                    ).rowcount
                deleted[kind] += n
                if n < batch:
                    break
    except Exception as error:
        if not is_outage(error):
            with database.tenant_transaction(tenant_id) as conn:
                runs.finish(
                    conn, run_id, status=Status.FAILED, output={"deleted": deleted}, error=error
                )
        raise
    with database.tenant_transaction(tenant_id) as conn:
        runs.finish(
            conn,
            run_id,
            status=Status.CANCELLED if should_stop() else Status.COMPLETED,
            output={"deleted": deleted},
            error="the worker stopped before the end" if should_stop() else None,
        )
    return deleted


def run_retention(
    database: Database,
    now: datetime | None = None,
    *,
    batch: int = BATCH,
    should_stop: Callable[[], bool] = lambda: False,
) -> RetentionResult:
    """Every tenant, each failing alone (its ledger row says why); an outage is raised."""
    with database.service_transaction() as conn:
        tenants = [row["id"] for row in conn.execute(_LEDGER["tenant_ids"])]
    result = RetentionResult()
    for tenant_id in tenants:
        if should_stop():
            break
        try:
            result.deleted[tenant_id] = prune_tenant(
                database, tenant_id, now, batch=batch, should_stop=should_stop
            )
        except Exception as error:
            if is_outage(error):
                raise
            log.warning("retention: tenant %s failed: %s", tenant_id, error)
            result.failed[tenant_id] = str(error)
    return result
