"""Today: a CSM's day — tasks overdue and due today, snoozes waking, decisions due, recent
escalations, and the renewals of the next 30, 60, 90 and 120 days."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from renewflow.accounts import Role
from renewflow.console.web import ConsoleDep, ConsoleRoute
from renewflow.db import load_queries

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_Q = load_queries("renewflow.console")

WINDOWS = (30, 60, 90, 120)
BUCKETS = (
    ("overdue", "Overdue"),
    ("today", "Due today"),
    ("decision", "Needs a decision"),
    ("waking", "Snoozes waking"),
)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/today", status_code=303)


@router.get("/today")
def today(console: ConsoleDep) -> HTMLResponse:
    params = {"mine": console.user.role == Role.CSM, "user_id": console.user.user_id}
    with console.transaction() as conn:
        tasks = conn.execute(_Q["today_tasks"], params).fetchall()
        escalations = conn.execute(_Q["today_escalations"], params).fetchall()
        renewals = conn.execute(_Q["renewals_ahead"], params).fetchall()
    grouped: dict[str, list[dict[str, Any]]] = {key: [] for key, _ in BUCKETS}
    for task in tasks:
        grouped[task["bucket"]].append(task)
    windows = []
    for limit in WINDOWS:
        within = [r for r in renewals if 0 <= r["days"] <= limit]
        windows.append(
            {"days": limit, "count": len(within), "arr": sum(float(r["arr"]) for r in within)}
        )
    overdue = [r for r in renewals if r["days"] < 0]
    return console.page(
        "today.html",
        buckets=[(key, label, grouped[key]) for key, label in BUCKETS],
        escalations=escalations,
        windows=windows,
        renewals=[r for r in renewals if 0 <= r["days"] <= 30],
        overdue=overdue,
        mine=params["mine"],
    )
