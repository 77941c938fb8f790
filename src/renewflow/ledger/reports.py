"""Reading the ledger for the transaction's tenant: the list, the summary, failures, costs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from renewflow.db import Connection, load_queries
from renewflow.errors import InvalidInputError
from renewflow.ledger.runs import Status, TaskType

_Q = load_queries("renewflow.ledger", "reports.sql")

HOURS_MAX = 8760


def _hours(hours: int) -> int:
    if not 1 <= hours <= HOURS_MAX:
        raise InvalidInputError("hours", f"must be between 1 and {HOURS_MAX}")
    return hours


def _type(task_type: str | None) -> str | None:
    if task_type is None:
        return None
    try:
        return str(TaskType(task_type))
    except ValueError:
        raise InvalidInputError("type", f"unknown task type {task_type!r}") from None


def list_runs(
    conn: Connection,
    *,
    task_type: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    if status is not None:
        try:
            status = str(Status(status))
        except ValueError:
            raise InvalidInputError("status", f"unknown status {status!r}") from None
    rows = conn.execute(
        _Q["list_runs"],
        {
            "task_type": _type(task_type),
            "status": status,
            "since": since,
            "until": until,
            "limit": limit,
            "offset": offset,
        },
    ).fetchall()
    return rows, (int(rows[0]["total_count"]) if rows else 0)


# Windows up to this long are summarised from every run (exact percentiles); longer ones from
# the daily roll-up and the window's two ends (`summary_days`: percentiles from a histogram).
EXACT_HOURS = 48


def summary(
    conn: Connection, *, task_type: str | None = None, hours: int = 24
) -> list[dict[str, Any]]:
    query = _Q["summary"] if _hours(hours) <= EXACT_HOURS else _Q["summary_days"]
    return conn.execute(query, {"task_type": _type(task_type), "hours": hours}).fetchall()


def failures(conn: Connection, *, hours: int = 24, limit: int = 50) -> list[dict[str, Any]]:
    return conn.execute(_Q["failures"], {"hours": _hours(hours), "limit": limit}).fetchall()


def costs(conn: Connection, *, hours: int = 720) -> list[dict[str, Any]]:
    return conn.execute(_Q["costs"], {"hours": _hours(hours)}).fetchall()
