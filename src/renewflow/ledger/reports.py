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


# A window is summarised from every run in it (exact percentiles) when it spans at most two
# days or holds at most `EXACT_RUNS` runs (read in a few milliseconds); otherwise from the daily
# roll-up and the window's two ends (`summary_days`: percentiles from a histogram).
EXACT_HOURS = 48
EXACT_RUNS = 20_000


def summary(
    conn: Connection, *, task_type: str | None = None, hours: int = 24
) -> list[dict[str, Any]]:
    params = {"task_type": _type(task_type), "hours": _hours(hours)}
    exact = hours <= EXACT_HOURS or _runs_at_most(conn, params) <= EXACT_RUNS
    return conn.execute(_Q["summary"] if exact else _Q["summary_days"], params).fetchall()


def _runs_at_most(conn: Connection, params: dict[str, Any]) -> int:
    row = conn.execute(_Q["runs_at_most"], params).fetchone()
    return int(row["runs"]) if row else 0


def failures(conn: Connection, *, hours: int = 24, limit: int = 50) -> list[dict[str, Any]]:
    return conn.execute(_Q["failures"], {"hours": _hours(hours), "limit": limit}).fetchall()


def costs(conn: Connection, *, hours: int = 720) -> list[dict[str, Any]]:
    return conn.execute(_Q["costs"], {"hours": _hours(hours)}).fetchall()
