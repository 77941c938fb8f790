"""LLM budgets per tenant and period (a UTC day, a UTC month), over every LLM call the tenant
made, whoever started it.

- past `budget.alert_percent` (80 unless set) of a period's budget, the admins are told once
  per period (`warn`, run by the health job);
- once a budget is spent, autonomous and scheduled LLM work pauses: each place that starts some
  (an AI task's LLM processor, an agent step, the intelligence agent) asks `allows_autonomous`
  first and, when refused, defers its work and logs it in the ledger as `cancelled` with the
  reason. It resumes by itself in the next period, or as soon as the budget is raised (the
  check is made afresh every time). Work a person starts by hand still runs (`state(...)
  .exhausted` tells it to say the budget is spent). A call already under way is never stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from renewflow.db import Connection, load_queries
from renewflow.ledger.notices import notify_admins
from renewflow.settings import read_settings

_Q = load_queries("renewflow.ledger")

DEFAULT_ALERT_PERCENT = 80
# A paused piece of work looks again this often (a raised budget resumes it within this time).
RECHECK = timedelta(minutes=5)

PeriodName = Literal["day", "month"]


def period_bounds(period: PeriodName, now: datetime) -> tuple[datetime, datetime]:
    """The UTC day or month `now` falls in: [start, end)."""
    moment = now.astimezone(UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


@dataclass(frozen=True)
class Usage:
    """One period's budget and what was spent of it."""

    period: PeriodName
    limit_usd: Decimal
    spent_usd: Decimal
    starts_at: datetime
    ends_at: datetime

    @property
    def percent(self) -> float:
        if self.limit_usd <= 0:
            return 100.0 if self.spent_usd >= 0 else 0.0
        return float(self.spent_usd / self.limit_usd * 100)

    @property
    def exhausted(self) -> bool:
        return self.spent_usd >= self.limit_usd


@dataclass(frozen=True)
class BudgetState:
    """A tenant's budgets now. True (in a boolean context) while autonomous LLM work may run;
    `reason` says why not when it may not."""

    tenant_id: UUID
    usages: tuple[Usage, ...]
    alert_percent: int
    checked_at: datetime

    @property
    def exhausted(self) -> Usage | None:
        """The spent budget (the one whose period ends last, if both are), or None."""
        spent = [u for u in self.usages if u.exhausted]
        return max(spent, key=lambda u: u.ends_at) if spent else None

    def __bool__(self) -> bool:
        return self.exhausted is None

    @property
    def reason(self) -> str | None:
        usage = self.exhausted
        if usage is None:
            return None
        return (
            f"the LLM budget of this {usage.period} is spent (${usage.spent_usd:.2f} of "
            f"${usage.limit_usd:.2f}); autonomous work resumes on "
            f"{usage.ends_at.isoformat()} or when the budget is raised"
        )

    @property
    def resumes_at(self) -> datetime | None:
        """When paused work should look again: the next period, or sooner (a raised budget)."""
        usage = self.exhausted
        if usage is None:
            return None
        return min(usage.ends_at, self.checked_at + RECHECK)

    def to_dict(self) -> dict[str, object]:
        return {
            "allowed": bool(self),
            "reason": self.reason,
            "alert_percent": self.alert_percent,
            "budgets": [
                {
                    "period": u.period,
                    "limit_usd": str(u.limit_usd),
                    "spent_usd": str(round(u.spent_usd, 4)),
                    "percent": round(u.percent, 1),
                    "starts_at": u.starts_at.isoformat(),
                    "ends_at": u.ends_at.isoformat(),
                }
                for u in self.usages
            ],
        }


def state(conn: Connection, tenant_id: UUID, now: datetime | None = None) -> BudgetState:
    """The tenant's budgets and spend now (one statement; as the tenant or the service role)."""
    moment = now or datetime.now(UTC)
    day, _ = period_bounds("day", moment)
    month, _ = period_bounds("month", moment)
    row = conn.execute(_Q["spend"], {"tenant_id": tenant_id, "day": day, "month": month}).fetchone()
    if row is None:
        return BudgetState(tenant_id, (), DEFAULT_ALERT_PERCENT, moment)
    return from_spend(tenant_id, row["settings"], row["day_usd"], row["month_usd"], moment)


def from_spend(
    tenant_id: UUID,
    settings: dict[str, Any] | None,
    day_usd: Decimal | None,
    month_usd: Decimal | None,
    now: datetime,
) -> BudgetState:
    """The budget state from the tenant's stored settings and its spend since the UTC day's and
    month's start at `now`, as a statement that folds the check in reads them (the agent step
    claim). None for a period means it has no budget (and was not summed): with neither, the
    settings need not be read at all."""
    if day_usd is None and month_usd is None:
        return BudgetState(tenant_id, (), DEFAULT_ALERT_PERCENT, now)
    day, day_end = period_bounds("day", now)
    month, month_end = period_bounds("month", now)
    budget = read_settings(settings or {}).budget
    usages = []
    if budget.llm_daily_usd is not None:
        usages.append(Usage("day", budget.llm_daily_usd, day_usd or Decimal(0), day, day_end))
    if budget.llm_monthly_usd is not None:
        usages.append(
            Usage("month", budget.llm_monthly_usd, month_usd or Decimal(0), month, month_end)
        )
    return BudgetState(tenant_id, tuple(usages), budget.alert_percent or DEFAULT_ALERT_PERCENT, now)


def allows_autonomous(
    conn: Connection, tenant_id: UUID, now: datetime | None = None
) -> BudgetState:
    """Whether autonomous or scheduled LLM work may start for the tenant now: truthy if so,
    otherwise falsy with `.reason` (for the ledger row it cancels) and `.resumes_at`."""
    return state(conn, tenant_id, now)


def warn(conn: Connection, tenant_id: UUID, now: datetime | None = None) -> int:
    """In the tenant's transaction: tells the admins, once per period, that a budget passed its
    alert share, and once that it is spent. Returns how many notifications were written."""
    current = state(conn, tenant_id, now)
    written = 0
    for usage in current.usages:
        stamp = usage.starts_at.date().isoformat()
        if usage.exhausted:
            written += notify_admins(
                conn,
                key=f"ledger.budget.{usage.period}.{stamp}.spent",
                title=f"The LLM budget of this {usage.period} is spent",
                message=current.reason or "",
                notification_type="llm_budget_spent",
                priority="urgent",
            )
        elif usage.percent >= current.alert_percent:
            written += notify_admins(
                conn,
                key=f"ledger.budget.{usage.period}.{stamp}.alert",
                title=f"{usage.percent:.0f}% of this {usage.period}'s LLM budget is spent",
                message=(
                    f"${usage.spent_usd:.2f} of ${usage.limit_usd:.2f} spent since "
                    f"{usage.starts_at.isoformat()}; at 100% autonomous LLM work pauses."
                ),
                notification_type="llm_budget_alert",
            )
    return written
