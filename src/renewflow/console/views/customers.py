"""A customer's page: who they are, their contract on the tenant's calendar, contacts, six months
of usage (a line per metric, with a table for those who do not read charts), intelligence, the
action plan, the executions with their timelines, and recent notifications. A read: the only
write is the domain's own waking of due snoozes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from renewflow import tasks
from renewflow.accounts import Role
from renewflow.console.web import ConsoleDep, ConsoleRoute
from renewflow.context import CustomerNotFound
from renewflow.db import load_queries
from renewflow.errors import PermissionDeniedError

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_Q = load_queries("renewflow.console", "customers.sql")

MONTHS = 6
SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 240, 56, 5


def _customer_id(raw: str) -> UUID:
    """A malformed id is a missing customer, exactly like another tenant's."""
    try:
        return UUID(raw)
    except ValueError:
        raise CustomerNotFound(f"customer {raw} not found") from None


def _month_starts(today: date) -> list[date]:
    year, month = today.year, today.month
    starts = []
    for _ in range(MONTHS):
        starts.append(date(year, month, 1))
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return starts[::-1]


def _number(value: Decimal | float | None) -> str:
    if value is None:
        return "—"
    amount = float(value)
    return f"{amount:,.0f}" if amount == int(amount) else f"{amount:,.2f}"


@dataclass(frozen=True)
class Trend:
    """One metric's line over the window, and its table row (the last reading of each month)."""

    name: str
    label: str
    points: str
    last_x: float
    last_y: float
    first: str
    latest: str
    change: str | None
    by_month: list[str]
    summary: str


def _trend(name: str, readings: list[dict[str, Any]], since: date, today: date) -> Trend:
    span = max(1, (today - since).days)
    values = [float(r["value"]) for r in readings]
    low, high = min(values), max(values)
    inner_w = SPARK_WIDTH - 2 * SPARK_PAD
    inner_h = SPARK_HEIGHT - 2 * SPARK_PAD
    coords = []
    for reading, value in zip(readings, values, strict=True):
        x = SPARK_PAD + inner_w * min(span, (reading["metric_date"] - since).days) / span
        y = SPARK_PAD + (inner_h / 2 if high == low else inner_h * (high - value) / (high - low))
        coords.append((x, y))
    first, latest = values[0], values[-1]
    change = f"{(latest - first) / abs(first) * 100:+.0f}%" if first and len(values) > 1 else None
    months = _month_starts(today)
    by_month: dict[date, str] = {}
    for reading in readings:  # in date order: the month's last reading wins
        by_month[reading["metric_date"].replace(day=1)] = _number(reading["value"])
    label = name.replace("_", " ")
    summary = f"{label}: {_number(first)} to {_number(latest)} over the last {MONTHS} months"
    if change:
        summary += f" ({change})"
    return Trend(
        name=name,
        label=label,
        points=" ".join(f"{x:.1f},{y:.1f}" for x, y in coords),
        last_x=coords[-1][0],
        last_y=coords[-1][1],
        first=_number(first),
        latest=_number(latest),
        change=change,
        by_month=[by_month.get(m, "—") for m in months],
        summary=summary,
    )


def _trends(rows: list[dict[str, Any]], since: date, today: date) -> list[Trend]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["metric_name"]].append(row)
    return [_trend(name, readings, since, today) for name, readings in sorted(grouped.items())]


def _timeline(execution: dict[str, Any], steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each step's state: what its latest run says, `current` for the step the execution is on
    and has not run yet, `not reached` for the others."""
    timeline = []
    for step in steps:
        status = step["status"]
        if status is None:
            active = execution["status"] == "active"
            status = (
                "current" if active and step["step_id"] == execution["current_step_id"] else None
            )
        timeline.append({**step, "state": status or "not reached"})
    return timeline


def _insight(item: Any) -> str:
    """Insights are free-form JSON: text as it is, an object by its text-like member."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in ("text", "title", "insight", "summary", "description", "message"):
            if isinstance(item.get(key), str):
                return str(item[key])
    return str(item)


@router.get("/customers/{customer_id}")
def customer(console: ConsoleDep, customer_id: str) -> HTMLResponse:
    found = _customer_id(customer_id)
    with console.transaction() as conn:
        row = conn.execute(
            _Q["customer"], {"customer_id": found, "user_id": console.user.user_id}
        ).fetchone()
        if row is None:
            raise CustomerNotFound(f"customer {found} not found")
        if console.user.role is Role.CSM and not row["in_book"]:
            raise PermissionDeniedError(
                "this customer is in another CSM's book: ask its owner or a manager"
            )
        today: date = row["today"] or date.today()
        since = _month_starts(today)[0]
        params = {"customer_id": found}
        contacts = conn.execute(_Q["customer_contacts"], params).fetchall()
        usage = conn.execute(_Q["customer_usage"], {**params, "since": since}).fetchall()
        tasks.wake_snoozed(conn)  # every read of the action plan first wakes due snoozes
        plan = conn.execute(_Q["customer_tasks"], params).fetchall()
        executions = conn.execute(_Q["customer_executions"], params).fetchall()
        steps = conn.execute(
            _Q["execution_timelines"], {"execution_ids": [e["id"] for e in executions]}
        ).fetchall()
        notifications = conn.execute(_Q["customer_notifications"], params).fetchall()
    steps_of: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for step in steps:
        steps_of[step["execution_id"]].append(step)
    return console.page(
        "customer.html",
        customer=row,
        contacts=contacts,
        trends=_trends(usage, since, today),
        months=_month_starts(today),
        spark={"width": SPARK_WIDTH, "height": SPARK_HEIGHT},
        insights=[_insight(item) for item in row["insights"] or []],
        open_tasks=[t for t in plan if t["status"] not in ("completed", "skipped", "cancelled")],
        closed_tasks=[t for t in plan if t["status"] in ("completed", "skipped", "cancelled")],
        executions=[(e, _timeline(e, steps_of[e["id"]])) for e in executions],
        notifications=notifications,
    )
