"""The autonomous-run ledger (admins and managers, as the API's `/api/ledger`): the health of the
scheduled work (each job ok, late or down), the LLM budget's spend, costs by day (a bar chart
drawn here as SVG, its numbers also as a table) and by type, recent failures, and the runs with
filters in the URL (type, status, a date range on the tenant's calendar).

Everything is the tenant's own (row-level security): "by tenant" is the signed-in admin's tenant,
and no console screen reads across tenants. The reads are renewflow.ledger's (`reports`,
`health`, `budget`); a filter that makes no sense is shown at its field, the rest still applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from renewflow.accounts import Role
from renewflow.console.web import ConsoleDep, ConsoleRoute
from renewflow.db import load_queries
from renewflow.errors import InvalidInputError
from renewflow.ledger import Status, TaskType, budget, health, reports
from renewflow.limits import OFFSET_MAX

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_Q = load_queries("renewflow.console", "ledger.sql")

READERS = (Role.ADMIN, Role.MANAGER)
WINDOWS = (1, 7, 30, 90)  # days the chart, the per-type summary and the failures cover
DEFAULT_WINDOW = 30
PAGE_SIZE = 50
FAILURES_SHOWN = 20
STATE_TEXT = {"ok": "ok", "late": "late", "down": "down"}


def label(value: str) -> str:
    """A task type or status as words: `renewal_sweep` -> `renewal sweep`."""
    return value.replace("_", " ")


def duration(ms: float | Decimal | None) -> str:
    if ms is None:
        return "—"
    value = float(ms)
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 120_000:
        return f"{value / 1000:.1f} s"
    return f"{value / 60_000:.1f} min"


def every(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    if seconds < 86400:
        return f"{seconds / 3600:g} h"
    days = seconds / 86400
    return f"{days:g} day{'s' if days != 1 else ''}"


@dataclass
class Filters:
    """The page's state as the URL carries it; `errors` names each field that was not understood
    (and so not applied)."""

    days: int = DEFAULT_WINDOW
    task_type: str | None = None
    status: str | None = None
    since: date | None = None
    until: date | None = None
    offset: int = 0
    raw: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, query: Any) -> Filters:
        found = cls(raw={k: query.get(k, "") for k in ("days", "type", "status", "since", "until")})
        days = query.get("days")
        if days:
            if days.isdigit() and int(days) in WINDOWS:
                found.days = int(days)
            else:
                found.errors["days"] = "Choose one of the windows offered."
        kind = query.get("type")
        if kind:
            if kind in set(TaskType):
                found.task_type = kind
            else:
                found.errors["type"] = f"There is no task type {kind!r}: choose one from the list."
        status = query.get("status")
        if status:
            if status in set(Status):
                found.status = status
            else:
                found.errors["status"] = f"There is no status {status!r}: choose one from the list."
        for name in ("since", "until"):
            text = query.get(name)
            if not text:
                continue
            try:
                setattr(found, name, date.fromisoformat(text))
            except ValueError:
                found.errors[name] = "Enter a date, like 2030-03-01."
        if found.since and found.until and found.since > found.until:
            found.errors["until"] = "Must not be before the “From” date."
            found.until = None
        offset = query.get("offset", "0")
        found.offset = int(offset) if offset.isdigit() and int(offset) <= OFFSET_MAX else 0
        return found

    def url(self, **changes: Any) -> str:
        values: dict[str, Any] = {
            "days": self.days if self.days != DEFAULT_WINDOW else None,
            "type": self.task_type,
            "status": self.status,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "offset": self.offset or None,
        }
        values.update(changes)
        kept = {k: v for k, v in values.items() if v}
        return "/admin/ledger" + (f"?{urlencode(kept)}" if kept else "") + "#runs"


def _bounds(filters: Filters, tz: str) -> tuple[datetime | None, datetime | None]:
    """The date range on the tenant's calendar, as instants: [since 00:00, the day after until)."""
    zone = ZoneInfo(tz)
    since = datetime.combine(filters.since, time(0), zone) if filters.since else None
    until = (
        datetime.combine(filters.until + timedelta(days=1), time(0), zone)
        if filters.until
        else None
    )
    return since, until


def _chart(costs: list[dict[str, Any]], days: int, today: date) -> dict[str, Any]:
    """One bar per UTC day of the window (the days without runs included, at zero)."""
    first = today - timedelta(days=days - 1)
    by_day: dict[date, dict[str, Any]] = {
        first + timedelta(days=i): {"runs": 0, "cost": Decimal(0)} for i in range(days)
    }
    for row in costs:
        if row["day"] in by_day:
            by_day[row["day"]]["runs"] += int(row["executions"])
            by_day[row["day"]]["cost"] += Decimal(row["total_cost_usd"])
    peak = max((v["cost"] for v in by_day.values()), default=Decimal(0))
    width, height, left, right, bottom, top = 720, 200, 64, 24, 24, 12
    slot = (width - left - right) / days
    scale = float(peak) or 1.0
    step = max(1, math.ceil(days / 10))
    bars, labels = [], []
    for i, (day, value) in enumerate(by_day.items()):
        h = (height - bottom - top) * float(value["cost"]) / scale
        x = left + i * slot + max(1.0, slot * 0.15)
        bars.append(
            {
                "x": x,
                "y": height - bottom - h,
                "w": max(1.0, slot * 0.7),
                "h": h,
                "title": f"{day.isoformat()}: {value['runs']} runs",
                "cost": value["cost"],
            }
        )
        if (days - 1 - i) % step == 0:
            labels.append({"x": left + i * slot + slot / 2, "text": day.strftime("%d %b")})
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "baseline": height - bottom,
        "top": top,
        "bars": bars,
        "labels": labels,
        "peak": peak,
        "table": [{"day": d, **v} for d, v in reversed(list(by_day.items()))],
        "total": sum((v["cost"] for v in by_day.values()), Decimal(0)),
        "runs": sum(v["runs"] for v in by_day.values()),
    }


def _by_type(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **row,
            "label": label(row["task_type"]),
            "p50": duration(row["p50_duration_ms"]),
            "p95": duration(row["p95_duration_ms"]),
            "avg": duration(row["avg_duration_ms"]),
        }
        for row in sorted(summary, key=lambda r: r["total_cost_usd"], reverse=True)
    ]


def _health(jobs: list[health.JobHealth]) -> list[dict[str, Any]]:
    order = {"down": 0, "late": 1, "ok": 2}
    return [
        {
            "job": j.job,
            "task_type": j.task_type,
            "label": label(j.task_type),
            "state": j.state,
            "last_success_at": j.last_success_at,
            "every": every(j.every_seconds),
            "grace": every(j.grace_seconds),
        }
        for j in sorted(jobs, key=lambda j: (order[j.state], j.task_type))
    ]


@router.get("/admin/ledger")
def ledger_page(console: ConsoleDep) -> HTMLResponse:
    console.require(*READERS)
    filters = Filters.parse(console.request.query_params)
    since, until = _bounds(filters, console.time_zone)
    hours = filters.days * 24
    today = datetime.now(UTC).date()
    with console.transaction() as conn:
        jobs = health.tenant_health(conn, console.user.tenant_id)
        spend = budget.state(conn, console.user.tenant_id)
        summary = reports.summary(conn, hours=hours)
        # the chart's days are whole UTC days: ask for the first one from its midnight
        costs = reports.costs(conn, hours=min(reports.HOURS_MAX, hours + 24))
        failures = reports.failures(conn, hours=hours, limit=FAILURES_SHOWN)
        try:
            runs, total = reports.list_runs(
                conn,
                task_type=filters.task_type,
                status=filters.status,
                since=since,
                until=until,
                limit=PAGE_SIZE,
                offset=filters.offset,
            )
        except InvalidInputError as error:  # Filters.parse checks the same: never expected
            filters.errors[error.field] = error.reason
            runs, total = [], 0
        tenant = conn.execute(_Q["tenant_name"]).fetchone()
    chart = _chart(costs, filters.days, today)
    health_rows = _health(jobs)
    next_offset = filters.offset + PAGE_SIZE
    return console.page(
        "ledger.html",
        status=422 if filters.errors else 200,
        filters=filters,
        windows=WINDOWS,
        task_types=[(str(t), label(str(t))) for t in TaskType],
        statuses=[(str(s), label(str(s))) for s in Status],
        health=health_rows,
        troubled=sum(1 for j in health_rows if j["state"] != "ok"),
        spend=spend,
        by_type=_by_type(summary),
        chart=chart,
        failures=failures,
        runs=[{**r, "duration": duration(r["duration_ms"])} for r in runs],
        total=total,
        label=label,
        next_url=filters.url(offset=next_offset) if next_offset < total else None,
        previous_url=(
            filters.url(offset=max(0, filters.offset - PAGE_SIZE)) if filters.offset else None
        ),
        tenant_name=tenant["name"] if tenant else "your tenant",
    )
