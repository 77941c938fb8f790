"""Rendering the console's pages: one Jinja2 environment, autoescaped, strict about undefined
names; a page is the whole document, or (for an htmx request) only its `main` block."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from renewflow.accounts.sessions import ConsoleUser

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("renewflow.console", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# What every page's navigation offers, by role (the server checks each route again).
NAV: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("/today", "Today", frozenset({"admin", "manager", "csm", "service"})),
    ("/book", "Renewal book", frozenset({"admin", "manager", "csm", "service"})),
    ("/tasks", "Action plan", frozenset({"admin", "manager", "csm", "service"})),
    ("/agents", "Agents", frozenset({"admin", "manager", "csm", "service"})),
    ("/admin/workflows", "Workflows", frozenset({"admin", "manager"})),
    ("/admin/executions", "Executions", frozenset({"admin", "manager"})),
    ("/admin/notifications", "Notifications", frozenset({"admin", "manager"})),
    ("/admin/ledger", "Ledger", frozenset({"admin", "manager"})),
    ("/admin/people", "People", frozenset({"admin"})),
    ("/admin/settings", "Settings", frozenset({"admin"})),
)


def is_partial(request: Request) -> bool:
    """An htmx swap wants the page's main block; a history restore wants the whole page."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def page(
    request: Request,
    template: str,
    *,
    status: int = 200,
    user: ConsoleUser | None = None,
    csrf: str = "",
    time_zone: str = "UTC",
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    nav = [
        {"href": href, "label": label, "current": request.url.path.startswith(href)}
        for href, label, roles in NAV
        if user is not None and user.role.value in roles
    ]
    html = ENV.get_template(template).render(
        request=request,
        user=user,
        csrf=csrf,
        nav=nav,
        partial=is_partial(request),
        tz=time_zone,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
    response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
    return response


def _local(value: datetime | None, tz: str) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(ZoneInfo(tz))


def format_datetime(value: datetime | None, tz: str = "UTC") -> str:
    local = _local(value, tz)
    return local.strftime("%d %b %Y, %H:%M") if local else "—"


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%d %b %Y")


def format_money(value: Decimal | float | int | None, currency: str = "USD") -> str:
    if value is None:
        return "—"
    amount = float(value)
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency, "")
    if abs(amount) >= 1_000_000:
        text = f"{amount / 1_000_000:.2f}M"
    elif abs(amount) >= 10_000:
        text = f"{amount / 1_000:.0f}k"
    else:
        text = f"{amount:,.0f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def format_days(days: int | None) -> str:
    if days is None:
        return "—"
    if days == 0:
        return "today"
    if days < 0:
        return f"{-days} days overdue" if days < -1 else "1 day overdue"
    return f"in {days} days" if days > 1 else "tomorrow"


def format_usd(value: Decimal | float | int | None) -> str:
    """An LLM spend: cents and below matter (a step costs fractions of a cent)."""
    if value is None:
        return "—"
    amount = float(value)
    if amount == 0:
        return "$0.00"
    if abs(amount) < 0.01:
        return f"${amount:.4f}"
    return f"${amount:,.2f}"


ENV.filters.update(
    datetime=format_datetime,
    date=format_date,
    money=format_money,
    days=format_days,
    usd=format_usd,
)
