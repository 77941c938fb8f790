"""Scheduled notifications (the overdue ladder and friends), evaluated tenant by tenant.

Each tenant runs in its own transaction, and inside it each execution in a savepoint: a tenant
whose schedule fails, an execution whose context or notification cannot be built, fails alone,
recorded in `job_failures` and retried after a backoff; everything else commits. A scheduled
notification whose template fails is left out of its execution's savepoint (its failure is
recorded against that notification of that execution) and the execution's others go out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from renewflow.context import build_context
from renewflow.db import Connection, Database, load_queries
from renewflow.engine.errors import TemplateFailed
from renewflow.engine.notifications import due_scheduled, fire
from renewflow.jobs.failures import FailureLog, Fault, Subject, is_outage, record_failure
from renewflow.workflows.model import Notification, WorkflowConfig

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.engine")

JOB = "engine.notification_schedule"


def fire_scheduled_notifications(conn: Connection, now: datetime | None = None) -> int:
    """Fires every scheduled notification due now for the transaction's tenant; returns how many
    rows were new. Safe to run often and from several processes: each fires once.

    An execution that fails (its workflow version, its context, a write) is rolled back to its
    savepoint and recorded; a notification whose template fails is recorded against that
    execution's notification. Either is skipped until its next attempt, and resolved when a
    later attempt succeeds (or the execution no longer needs the schedule).
    """
    moment = now or datetime.now(UTC)
    failures = FailureLog.load(conn, JOB, moment)
    configs: dict[tuple[UUID, int], WorkflowConfig | BaseException] = {}
    created = 0
    rows = conn.execute(_Q["scheduled_candidates"], {"now": moment}).fetchall()
    for row in rows:
        created += _Execution(conn, row, failures).fire(configs)
    running = {str(row["id"]) for row in rows}
    for subject in failures.open_subjects("execution", "notification"):
        execution_id = subject.id.split(":", 1)[0]
        if execution_id not in running and not failures.waiting(subject):
            failures.succeed(subject)  # ended, or no longer has scheduled notifications
    for subject in failures.open_subjects("tenant"):
        failures.succeed(subject)  # this transaction got this far: the tenant's schedule works
    for failure in failures.flush(conn):
        log.warning("notification schedule: %s", failure.describe())
    return created


def run_schedule(database: Database, now: datetime | None = None) -> int:
    """Every tenant's scheduled notifications, each tenant in its own transaction: the service role
    only lists the tenants, the work runs under each tenant's row-level security. A tenant that
    fails is recorded and skipped until its next attempt; the loop goes on."""
    moment = now or datetime.now(UTC)
    with database.service_transaction() as conn:
        tenants = [row["id"] for row in conn.execute(_Q["tenant_ids"]).fetchall()]
        waiting = FailureLog.load(conn, JOB, moment).waiting_tenants()
    created = 0
    for tenant_id in tenants:
        if tenant_id in waiting:
            continue
        try:
            with database.tenant_transaction(tenant_id) as conn:
                created += fire_scheduled_notifications(conn, moment)
        except Exception as error:
            if is_outage(error):
                raise
            with database.tenant_transaction(tenant_id) as conn:
                failure = record_failure(
                    conn, JOB, Subject(tenant_id, "tenant", str(tenant_id)), error, now=moment
                )
            log.warning("notification schedule: %s", failure.describe())
    return created


@dataclass
class _Execution:
    conn: Connection
    row: dict[str, Any]
    failures: FailureLog

    @property
    def subject(self) -> Subject:
        return Subject(self.row["tenant_id"], "execution", str(self.row["id"]))

    def _notification(self, notification: Notification) -> Subject:
        return Subject(self.row["tenant_id"], "notification", f"{self.row['id']}:{notification.id}")

    def fire(self, configs: dict[tuple[UUID, int], WorkflowConfig | BaseException]) -> int:
        row, failures = self.row, self.failures
        if failures.waiting(self.subject):
            return 0
        key = (row["workflow_pk"], row["workflow_version"])
        if key not in configs:
            try:
                configs[key] = WorkflowConfig.model_validate(row["config"])
            except ValueError as error:  # a stored version the model no longer reads
                configs[key] = error
        config = configs[key]
        if isinstance(config, BaseException):
            failures.fail(self.subject, config, Fault(field=f"config (version {key[1]})"))
            return 0
        fired = set(row["fired"])
        due = [
            (notification, f"{row['id']}:{suffix}")
            for notification, suffix in due_scheduled(config.notifications, row["days"])
            if f"{row['id']}:{suffix}" not in fired
            and not failures.waiting(self._notification(notification))
        ]
        if not due:
            failures.succeed(self.subject)
            return 0
        created = 0
        outcomes: list[tuple[Subject, TemplateFailed | None, Fault]] = []
        current: Notification | None = None
        try:
            # a savepoint: whatever fails in here loses this execution's writes, nothing else
            with self.conn.transaction():
                context = build_context(self.conn, row["customer_id"], row["id"])
                for notification, dedupe_key in due:
                    current = notification
                    fault = Fault(workflow_id=config.id, notification_id=notification.id)
                    try:
                        created += fire(
                            self.conn,
                            execution_id=row["id"],
                            customer_id=row["customer_id"],
                            notification=notification,
                            context=context,
                            dedupe_key=dedupe_key,
                            strict=True,
                        )
                    except TemplateFailed as failure:  # raised before it wrote anything
                        outcomes.append((self._notification(notification), failure, fault))
                    else:
                        outcomes.append((self._notification(notification), None, fault))
        except Exception as error:
            if is_outage(error):
                raise
            failures.fail(
                self.subject,
                error,
                Fault(
                    workflow_id=config.id,
                    notification_id=current.id if current is not None else None,
                    field="context" if current is None else None,
                ),
            )
            return 0
        failures.succeed(self.subject)
        for subject, failed, fault in outcomes:
            if failed is None:
                failures.succeed(subject)
            else:
                failures.fail(subject, failed, fault)
        return created
