"""Task operations on a connection the caller opened (a tenant transaction): the edge owns the
transaction, these functions own the rules and the SQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from renewflow.db import Connection, load_queries
from renewflow.errors import InvalidInputError
from renewflow.settings import read_settings
from renewflow.tasks import rules
from renewflow.tasks.errors import TaskNotFound, TransitionNotAllowed
from renewflow.tasks.models import (
    CLOSED,
    ExecutionStatus,
    SortKey,
    Status,
    Task,
    TaskCreate,
    TaskFilters,
    TaskNode,
    TaskPage,
    TaskType,
    TaskUpdate,
)

if TYPE_CHECKING:
    from renewflow.tasks.processors import ProcessorRegistry

_Q = load_queries("renewflow.tasks")

# which body field a foreign key of workflow_tasks protects, by constraint name
_FK_FIELDS = {
    "workflow_tasks_tenant_id_workflow_execution_id_fkey": (
        "body.workflow_execution_id",
        "no such workflow execution",
    ),
    "workflow_tasks_tenant_id_step_execution_id_fkey": (
        "body.step_execution_id",
        "no such step execution",
    ),
    "workflow_tasks_tenant_id_recommendation_id_fkey": (
        "body.recommendation_id",
        "no such recommendation",
    ),
    "workflow_tasks_tenant_id_customer_id_fkey": ("body.customer_id", "no such customer"),
    "task_assignee_in_tenant": ("body.assigned_to", "no such user"),
}


def to_task(row: dict[str, Any], now: datetime | None = None) -> Task:
    """A row as the API shows it. `requires_decision` is also true once the snooze deadline has
    passed, even before the periodic sweep has written it down."""
    values = dict(row)
    values["surfaced_in_workflow_ids"] = values.get("surfaced_in_workflow_ids") or []
    values["metadata"] = values.get("metadata") or {}
    deadline = values.get("snooze_deadline")
    if (
        deadline is not None
        and now is not None
        and now >= deadline
        and values["status"] not in {s.value for s in CLOSED}
    ):
        values["requires_decision"] = True
    return Task.model_validate(values)


def _now(conn: Connection) -> datetime:
    row = conn.execute("SELECT now() AS now").fetchone()
    assert row is not None
    now: datetime = row["now"]
    return now


def _one(conn: Connection, task_id: UUID, query: str = "get_task") -> dict[str, Any]:
    row = conn.execute(_Q[query], {"id": task_id}).fetchone()
    if row is None:
        raise TaskNotFound(task_id)
    return row


def snooze_deadline_after(conn: Connection) -> timedelta:
    """The tenant's snooze window (`settings.tasks.snooze_deadline_days`), 7 days unless
    configured (or configured with a value the settings refuse)."""
    row = conn.execute(_Q["tenant_settings"]).fetchone()
    settings = read_settings(row["settings"] if row else {})
    if "snooze_deadline_days" not in settings.tasks.model_fields_set:
        return rules.DEFAULT_SNOOZE_DEADLINE
    return timedelta(days=settings.tasks.snooze_deadline_days)


def _map_fk(error: psycopg.errors.ForeignKeyViolation) -> InvalidInputError:
    field, message = _FK_FIELDS.get(
        error.diag.constraint_name or "", ("body", "a referenced row does not exist")
    )
    return InvalidInputError(field, f"{message} in this tenant")


def _check_processor(name: str | None, processors: ProcessorRegistry | None) -> None:
    """Refuses a processor name that `processors` does not know (before anything is written).
    Without a registry (the engine, which has none at hand) any name passes: a worker then fails
    the task at once, naming the processors it knows."""
    if name is None or processors is None or name in processors:
        return
    known = ", ".join(processors.names()) or "none"
    raise InvalidInputError("body.processor", f"unknown processor {name!r} (known: {known})")


def create_task(
    conn: Connection, data: TaskCreate, *, processors: ProcessorRegistry | None = None
) -> Task:
    """Inserts a task. A parent must be a task of the caller's tenant (another tenant's is 404).
    With `processors`, a processor name it does not know is refused (InvalidInputError)."""
    _check_processor(data.processor, processors)
    if data.parent_task_id is not None:
        _one(conn, data.parent_task_id)
    if data.auto_execute:
        if data.task_type is not TaskType.AI_TASK:
            raise InvalidInputError("body.auto_execute", "only AI tasks execute automatically")
        if not data.processor:
            raise InvalidInputError("body.processor", "an auto-executed task names its processor")
    execution_status = data.execution_status
    if execution_status is None and data.auto_execute:
        execution_status = ExecutionStatus.QUEUED
    if execution_status is ExecutionStatus.RUNNING:
        raise InvalidInputError("body.execution_status", "only a worker marks a task running")
    if data.status in CLOSED or data.status is Status.SNOOZED:
        raise InvalidInputError(
            "body.status", "a new task is pending or in_progress; close or snooze it afterwards"
        )
    params = data.model_dump(mode="python")
    params.update(
        task_type=data.task_type.value,
        owner=data.owner.value,
        status=data.status.value,
        execution_status=execution_status.value if execution_status else None,
        complexity=data.complexity.value if data.complexity else None,
        metadata=Jsonb(data.metadata),
    )
    try:
        with conn.transaction():
            row = conn.execute(_Q["insert_task"], params).fetchone()
    except psycopg.errors.ForeignKeyViolation as error:
        raise _map_fk(error) from None
    assert row is not None
    return to_task(row)


def ensure_task(conn: Connection, data: TaskCreate) -> tuple[Task, bool]:
    """What the execution engine calls to put a task in a workflow execution: if the customer
    already has the same task open (same type and action, from an earlier workflow), that task
    surfaces in this execution (its id joins `surfaced_in_workflow_ids`) instead of a duplicate.
    Returns the task and whether it was created."""
    conn.execute(_Q["lock_continuity"], {"customer_id": data.customer_id, "action": data.action})
    if data.parent_task_id is None:
        existing = conn.execute(
            _Q["find_open_task"],
            {
                "customer_id": data.customer_id,
                "task_type": data.task_type.value,
                "action": data.action,
            },
        ).fetchone()
        if existing is not None:
            surfaced = conn.execute(
                _Q["surface_task"],
                {"id": existing["id"], "execution_id": data.workflow_execution_id},
            ).fetchone()
            return to_task(surfaced or existing), False
    return create_task(conn, data), True


def surface_open_tasks(
    conn: Connection, customer_id: UUID, workflow_execution_id: UUID
) -> list[Task]:
    """When a customer's next workflow starts, its open tasks surface there (continuity)."""
    rows = conn.execute(
        _Q["surface_open_tasks"],
        {"customer_ids": [customer_id], "execution_ids": [workflow_execution_id]},
    ).fetchall()
    return [to_task(row) for row in rows]


def surface_open_tasks_of_many(conn: Connection, moves: list[tuple[UUID, UUID]]) -> int:
    """`surface_open_tasks` for many (customer, new execution) pairs in one statement; returns how
    many tasks surfaced."""
    if not moves:
        return 0
    return conn.execute(
        _Q["surface_open_tasks"],
        {
            "customer_ids": [customer for customer, _ in moves],
            "execution_ids": [execution for _, execution in moves],
        },
    ).rowcount


def wake_snoozed(conn: Connection) -> int:
    """Snoozed tasks whose time has come are pending again (the caller's tenant, or all for the
    service role)."""
    return len(conn.execute(_Q["wake_snoozed"]).fetchall())


def flag_decisions(conn: Connection) -> int:
    return len(conn.execute(_Q["flag_decisions"]).fetchall())


def get_task(conn: Connection, task_id: UUID) -> Task:
    wake_snoozed(conn)
    return to_task(_one(conn, task_id), _now(conn))


def list_tasks(
    conn: Connection,
    filters: TaskFilters,
    *,
    sort: SortKey = SortKey.PRIORITY,
    descending: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> TaskPage:
    wake_snoozed(conn)
    params: dict[str, Any] = {
        key: (value.value if hasattr(value, "value") else value)
        for key, value in filters.model_dump(mode="python").items()
    }
    params.update(sort=sort.value, descending=descending, limit=limit, offset=offset)
    rows = conn.execute(_Q["list_tasks"], params).fetchall()
    total = int(rows[0]["total_count"]) if rows else 0
    now = _now(conn)
    return TaskPage(
        items=[to_task(row, now) for row in rows if row["id"] is not None],
        total=total,
        limit=limit,
        offset=offset,
    )


def task_tree(conn: Connection, task_id: UUID) -> TaskNode:
    """The task and all its sub-tasks, nested (the spec's recursive hierarchy)."""
    wake_snoozed(conn)
    rows = conn.execute(_Q["task_tree"], {"id": task_id}).fetchall()
    if not rows:
        raise TaskNotFound(task_id)
    now = _now(conn)
    nodes: dict[UUID, TaskNode] = {}
    root: TaskNode | None = None
    for row in rows:  # ordered by path: a parent always comes before its children
        node = TaskNode(**to_task(row, now).model_dump(), depth=row["depth"])
        nodes[node.id] = node
        if row["depth"] == 0:
            root = node
        elif node.parent_task_id in nodes:
            nodes[node.parent_task_id].children.append(node)
    assert root is not None
    return root


def update_task(
    conn: Connection,
    task_id: UUID,
    changes: TaskUpdate,
    *,
    processors: ProcessorRegistry | None = None,
) -> Task:
    """Changes the fields sent. With `processors`, a processor name it does not know is refused
    (InvalidInputError), as when creating."""
    if "processor" in changes.model_fields_set:
        _check_processor(changes.processor, processors)
    task = to_task(_one(conn, task_id, "lock_task"))
    sent = changes.model_fields_set
    if "status" in sent:
        if changes.status is None or changes.status not in rules.PATCHABLE_STATUSES:
            raise InvalidInputError(
                "body.status",
                "PATCH sets pending or in_progress; use complete, skip, cancel, snooze or reopen",
            )
        if task.status in CLOSED:
            raise TransitionNotAllowed(
                f"task {task_id} is {task.status.value}: reopen it before changing its status"
            )
        rules.check_transition(task, changes.status, verb=f"mark {changes.status.value}")
    for required in ("action", "description", "priority", "max_attempts"):
        if required in sent and getattr(changes, required) is None:
            raise InvalidInputError(f"body.{required}", "cannot be null")
    values = changes.model_dump(mode="python")
    params: dict[str, Any] = {"id": task_id}
    for name, value in values.items():
        params[f"set_{name}"] = name in sent
        params[name] = value.value if hasattr(value, "value") else value
    params["metadata"] = Jsonb(changes.metadata) if changes.metadata is not None else None
    try:
        with conn.transaction():
            row = conn.execute(_Q["update_task"], params).fetchone()
    except psycopg.errors.ForeignKeyViolation as error:
        raise _map_fk(error) from None
    assert row is not None
    return to_task(row, _now(conn))


def _move(conn: Connection, task_id: UUID, query: str, params: dict[str, Any], verb: str) -> Task:
    row = conn.execute(_Q[query], {"id": task_id, **params}).fetchone()
    if row is None:  # a concurrent change got there first: say what the task is now
        current = to_task(_one(conn, task_id))
        raise TransitionNotAllowed(f"cannot {verb} task {task_id}: it is {current.status.value}")
    return to_task(row, _now(conn))


def complete_task(conn: Connection, task_id: UUID) -> Task:
    task = to_task(_one(conn, task_id, "lock_task"))
    rules.check_transition(task, Status.COMPLETED, verb="complete")
    return _move(conn, task_id, "complete_task", {}, "complete")


def cancel_task(conn: Connection, task_id: UUID) -> Task:
    task = to_task(_one(conn, task_id, "lock_task"))
    rules.check_transition(task, Status.CANCELLED, verb="cancel")
    return _move(conn, task_id, "cancel_task", {}, "cancel")


def skip_task(conn: Connection, task_id: UUID, reason: str) -> Task:
    reason = rules.check_skip_reason(reason)
    task = to_task(_one(conn, task_id, "lock_task"))
    rules.check_transition(task, Status.SKIPPED, verb="skip")
    return _move(conn, task_id, "skip_task", {"reason": reason}, "skip")


def reopen_task(conn: Connection, task_id: UUID) -> Task:
    task = to_task(_one(conn, task_id, "lock_task"))
    rules.check_reopen(task)
    return _move(conn, task_id, "reopen_task", {}, "reopen")


def snooze_task(
    conn: Connection, task_id: UUID, until: datetime, *, deadline_after: timedelta | None = None
) -> Task:
    """Snoozes until `until`. The first snooze sets the deadline (the tenant's window, 7 days by
    default); past it the task requires a decision and snoozing is refused (DecisionRequired)."""
    task = to_task(_one(conn, task_id, "lock_task"))
    now = _now(conn)
    window = deadline_after if deadline_after is not None else snooze_deadline_after(conn)
    deadline = rules.check_snooze(task, until, now, window)
    return _move(conn, task_id, "snooze_task", {"until": until, "deadline": deadline}, "snooze")


def execute_task(conn: Connection, task_id: UUID) -> Task:
    """Queues an AI task to run now (or again, with a fresh retry budget)."""
    task = to_task(_one(conn, task_id, "lock_task"))
    rules.check_executable(task)
    return _move(conn, task_id, "execute_task", {}, "execute")
