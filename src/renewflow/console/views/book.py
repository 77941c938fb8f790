"""The renewal book: every customer with an active contract, filtered, sorted and searched with
the state in the URL, paged by keyset (a cursor, never an offset), exported as CSV, and a chart of
the ARR renewing each month by risk band."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from renewflow.accounts import Role
from renewflow.console.web import ConsoleDep, ConsoleRoute
from renewflow.db import Connection, load_queries

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_Q = load_queries("renewflow.console")

PAGE_SIZE = 50
SORTS = {"renewal": "book_by_renewal", "arr": "book_by_arr", "risk": "book_by_risk"}
RISK_BANDS = {"low": (None, 39), "medium": (40, 69), "high": (70, None)}
WINDOWS = (30, 60, 90, 120, 365)


@dataclass(frozen=True)
class BookFilters:
    """The book's state, as the URL carries it. Values that make no sense are dropped (and
    said so), never an error page: a hand-edited URL still shows the book."""

    search: str | None = None
    stage: str | None = None
    owner: UUID | None = None
    risk: str | None = None
    within: int | None = None
    sort: str = "renewal"
    after: str | None = None

    @classmethod
    def from_request(cls, request: Request) -> tuple[BookFilters, list[str]]:
        query = request.query_params
        ignored: list[str] = []
        owner = None
        if query.get("owner"):
            try:
                owner = UUID(query["owner"])
            except ValueError:
                ignored.append("owner")
        within = None
        if query.get("within"):
            try:
                within = max(-1, min(3650, int(query["within"])))
            except ValueError:
                ignored.append("within")
        risk = query.get("risk") or None
        if risk is not None and risk not in RISK_BANDS:
            ignored.append("risk")
            risk = None
        sort = query.get("sort") or "renewal"
        if sort not in SORTS:
            ignored.append("sort")
            sort = "renewal"
        search = (query.get("q") or "").strip()[:100] or None
        stage = (query.get("stage") or "").strip()[:50] or None
        return (
            cls(search, stage, owner, risk, within, sort, query.get("after") or None),
            ignored,
        )

    def url(self, path: str = "/book", **changes: Any) -> str:
        values = {
            "q": self.search,
            "stage": self.stage,
            "owner": str(self.owner) if self.owner else None,
            "risk": self.risk,
            "within": self.within,
            "sort": self.sort if self.sort != "renewal" else None,
            "after": self.after,
        }
        values.update(changes)
        kept = {k: v for k, v in values.items() if v is not None and v != ""}
        return f"{path}?{urlencode(kept)}" if kept else path

    def params(self, *, mine: bool, user_id: UUID, limit: int) -> dict[str, Any]:
        low, high = RISK_BANDS[self.risk] if self.risk else (None, None)
        cursor = _decode(self.after)
        return {
            "mine": mine,
            "user_id": user_id,
            "search": self.search,
            "stage": self.stage,
            "owner": self.owner,
            "risk_min": low,
            "risk_max": high,
            "within": self.within,
            "after_id": cursor[1] if cursor else None,
            "after_date": cursor[0] if cursor and self.sort == "renewal" else None,
            "after_arr": cursor[0] if cursor and self.sort == "arr" else None,
            "after_risk": cursor[0] if cursor and self.sort == "risk" else None,
            "limit": limit,
        }


def _encode(row: dict[str, Any], sort: str) -> str:
    key = {"renewal": row["renewal_date"].isoformat(), "arr": str(row["arr"])}.get(
        sort, row["risk_key"]
    )
    raw = json.dumps([key, str(row["id"])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str | None) -> tuple[Any, UUID] | None:
    if not cursor:
        return None
    try:
        value, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return value, UUID(row_id)
    except (ValueError, TypeError):
        return None


def _rows(conn: Connection, filters: BookFilters, **params: Any) -> list[dict[str, Any]]:
    query = _Q[SORTS[filters.sort]]
    return conn.execute(query, filters.params(**params)).fetchall()


def _chart(months: list[dict[str, Any]], today: date) -> dict[str, Any]:
    """Stacked bars (low, medium, high risk) of ARR renewing per month, next 12 months."""
    labels = []
    year, month = today.year, today.month
    for _ in range(12):
        labels.append(date(year, month, 1))
        month += 1
        if month > 12:
            year, month = year + 1, 1
    totals: dict[date, dict[str, float]] = {m: {} for m in labels}
    for row in months:
        if row["month"] in totals:
            totals[row["month"]][row["band"]] = float(row["arr"])
    peak = max((sum(v.values()) for v in totals.values()), default=0.0) or 1.0
    width, height, left, bottom = 720, 220, 48, 24
    slot = (width - left) / len(labels)
    bars = []
    for i, month_start in enumerate(labels):
        y = float(height - bottom)
        for band in ("low", "medium", "high"):
            value = totals[month_start].get(band, 0.0)
            h = (height - bottom - 12) * value / peak
            if h > 0:
                y -= h
                bars.append({"x": left + i * slot + 4, "y": y, "w": slot - 8, "h": h, "band": band})
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "labels": [
            {"x": left + i * slot + slot / 2, "text": m.strftime("%b")}
            for i, m in enumerate(labels)
        ],
        "peak": peak,
        "table": [
            {
                "month": m,
                **{band: totals[m].get(band, 0.0) for band in ("low", "medium", "high")},
            }
            for m in labels
        ],
    }


@router.get("/book")
def book(console: ConsoleDep) -> HTMLResponse:
    filters, ignored = BookFilters.from_request(console.request)
    mine = console.user.role == Role.CSM
    with console.transaction() as conn:
        rows = _rows(conn, filters, mine=mine, user_id=console.user.user_id, limit=PAGE_SIZE + 1)
        stages = conn.execute(_Q["book_stages"]).fetchall()
        owners = conn.execute(_Q["book_owners"]).fetchall()
        months = conn.execute(
            _Q["book_by_month"], {"mine": mine, "user_id": console.user.user_id}
        ).fetchall()
        today_row = conn.execute(_Q["tenant_today"]).fetchone()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    today = today_row["today"] if today_row else date.today()
    return console.page(
        "book.html",
        rows=rows,
        filters=filters,
        ignored=ignored,
        stages=stages,
        owners=owners,
        windows=WINDOWS,
        bands=list(RISK_BANDS),
        next_url=filters.url(after=_encode(rows[-1], filters.sort)) if more else None,
        first_url=filters.url(after=None) if filters.after else None,
        csv_url=filters.url("/book.csv", after=None),
        chart=_chart(months, today),
        mine=mine,
    )


_CSV_COLUMNS = ("name", "arr", "currency", "renewal_date", "days", "stage", "risk_score", "owner")


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run: text that starts like a formula is quoted (tenant
    data is typed by people); numbers and dates are written as they are."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    text = str(value)
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


@router.get("/book.csv")
def book_csv(console: ConsoleDep) -> StreamingResponse:
    filters, _ = BookFilters.from_request(console.request)
    mine = console.user.role == Role.CSM
    with console.transaction() as conn:
        rows = _rows(
            conn,
            BookFilters(**{**filters.__dict__, "after": None}),
            mine=mine,
            user_id=console.user.user_id,
            limit=100_000,
        )

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(_CSV_COLUMNS)
        for row in rows:
            writer.writerow([_cell(row[c]) for c in _CSV_COLUMNS])
        yield out.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="renewal-book.csv"'},
    )
