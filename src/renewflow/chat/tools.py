"""The tools a thread's model may call: `rag_search`, `database_query` and `create_chart`.

A tool runs only when the thread offers it (`tools_available`) and its arguments are valid;
anything else is a tool error handed back to the model, never executed. `database_query` offers
named, read-only, parameterised queries over the thread's customer (never SQL the model wrote),
each in a short transaction of its own as the app role in the tenant, so row-level security
applies to it as to a request.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, LiteralString
from uuid import UUID

from renewflow.db import Connection, load_queries
from renewflow.llm.chat import ToolSpec

_Q = load_queries("renewflow.chat")

Transaction = Callable[[], AbstractContextManager[Connection]]

# database_query's named queries: name -> (query, the filters it takes)
NAMED_QUERIES: dict[str, tuple[LiteralString, tuple[str, ...]]] = {
    "contracts": (_Q["query_contracts"], ()),
    "usage": (_Q["query_usage"], ("metric", "since")),
    "tasks": (_Q["query_tasks"], ("status",)),
    "renewals_history": (_Q["query_renewals"], ()),
}
MAX_ROWS = 100
CHART_TYPES = ("line", "bar", "pie")
MAX_POINTS = 500

SPECS: dict[str, ToolSpec] = {
    "rag_search": ToolSpec(
        "rag_search",
        "Search the tenant's knowledge base; returns numbered passages to cite as [n].",
        {
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "maxLength": 1000},
                "limit": {"type": "integer", "minimum": 1, "maximum": 20},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    ),
    "database_query": ToolSpec(
        "database_query",
        "Read the customer's own data with a named query: contracts, usage (filters: metric, "
        "since as YYYY-MM-DD), tasks (filter: status) or renewals_history.",
        {
            "type": "object",
            "properties": {
                "query": {"enum": sorted(NAMED_QUERIES)},
                "metric": {"type": "string", "maxLength": 100},
                "since": {"type": "string", "format": "date"},
                "status": {"type": "string", "maxLength": 50},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    ),
    "create_chart": ToolSpec(
        "create_chart",
        "Show a chart to the CSM: type line, bar or pie; labels; series of numbers, one per label.",
        {
            "type": "object",
            "properties": {
                "type": {"enum": list(CHART_TYPES)},
                "title": {"type": "string", "maxLength": 200},
                "labels": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_POINTS},
                "series": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 10,
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string", "maxLength": 100},
                            "data": {"type": "array", "items": {"type": "number"}},
                        },
                        "required": ["name", "data"],
                    },
                },
            },
            "required": ["type", "labels", "series"],
            "additionalProperties": False,
        },
    ),
}
TOOL_NAMES = frozenset(SPECS)


class ToolRefused(Exception):
    """The call is not executed: the message goes back to the model as the tool's error."""


@dataclass(frozen=True)
class ToolContext:
    tenant_id: UUID
    customer_id: UUID
    transaction: Transaction
    knowledge_base_ids: tuple[UUID, ...] | None = None


@dataclass
class ToolOutcome:
    output: dict[str, Any] | None
    error: str | None
    # a chart to store as a chart message (create_chart)
    chart: dict[str, Any] | None = None
    sources: list[dict[str, Any]] | None = None

    @property
    def success(self) -> bool:
        return self.error is None

    def for_model(self) -> str:
        if self.error is not None:
            return json.dumps({"error": self.error})
        return json.dumps(self.output, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def run_tool(
    name: str, arguments: Any, available: frozenset[str] | set[str], ctx: ToolContext
) -> ToolOutcome:
    """Runs one tool call, or explains why it was not run (unknown tool, not offered by the
    thread, bad arguments). Never raises for the model's mistakes."""
    try:
        if name not in SPECS:
            raise ToolRefused(f"unknown tool {name!r} (tools: {', '.join(sorted(available))})")
        if name not in available:
            raise ToolRefused(f"the tool {name!r} is not available in this thread")
        if not isinstance(arguments, Mapping):
            raise ToolRefused("the arguments must be a JSON object")
        args = dict(arguments)
        if name == "database_query":
            return _database_query(args, ctx)
        if name == "create_chart":
            spec = check_chart(args)
            return ToolOutcome({"chart": spec, "status": "shown to the CSM"}, None, chart=spec)
        return _rag_search(args, ctx)
    except ToolRefused as refused:
        return ToolOutcome(None, str(refused))


def _database_query(args: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
    query_name = args.pop("query", None)
    if query_name not in NAMED_QUERIES:
        raise ToolRefused(f"query must be one of {', '.join(sorted(NAMED_QUERIES))}")
    sql, filters = NAMED_QUERIES[query_name]
    limit = args.pop("limit", 50)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_ROWS:
        raise ToolRefused(f"limit must be an integer from 1 to {MAX_ROWS}")
    unknown = set(args) - set(filters)
    if unknown:
        raise ToolRefused(
            f"the query {query_name!r} takes no {', '.join(sorted(unknown))}"
            + (f" (filters: {', '.join(filters)})" if filters else "")
        )
    params: dict[str, Any] = {"customer_id": ctx.customer_id, "limit": limit}
    for key in filters:
        value = args.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 100):
            raise ToolRefused(f"{key} must be a short string")
        if key == "since" and value is not None:
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise ToolRefused("since must be a date, YYYY-MM-DD") from None
        params[key] = value
    with ctx.transaction() as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        rows = conn.execute(sql, params).fetchall()
    return ToolOutcome(
        {"query": query_name, "rows": json.loads(json.dumps(rows, default=_json_default))}, None
    )


def _rag_search(args: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
    query = args.get("query")
    if not isinstance(query, str) or not query.strip() or len(query) > 1000:
        raise ToolRefused("query must be a non-empty string of up to 1000 characters")
    limit = args.get("limit", 5)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 20:
        raise ToolRefused("limit must be an integer from 1 to 20")
    found = retrieve(ctx, query, limit)
    if found is None:
        raise ToolRefused("the knowledge base is not available")
    chunks, reason = found
    return ToolOutcome(
        {"results": chunks, **({"reason": reason} if reason else {})},
        None,
        sources=chunks,
    )


def retrieve(
    ctx: ToolContext, query: str, limit: int
) -> tuple[list[dict[str, Any]], str | None] | None:
    """Ranked passages of the tenant's knowledge base, numbered from 1, with the search's reason
    when there are none; None when the knowledge package is not installed."""
    try:
        from renewflow import knowledge
    except ImportError:
        return None
    search = getattr(knowledge, "search", None)
    if search is None:
        return None
    with ctx.transaction() as conn:
        result = search(conn, query=query, knowledge_base_ids=ctx.knowledge_base_ids, limit=limit)
    chunks = []
    for n, chunk in enumerate(result.chunks, start=1):
        chunks.append(
            {
                "n": n,
                "chunkId": str(_attr(chunk, "chunk_id", "id")),
                "documentId": str(_attr(chunk, "document_id")),
                "title": _attr(chunk, "document_title", "title"),
                "knowledgeBaseId": str(_attr(chunk, "knowledge_base_id")),
                "text": _attr(chunk, "text"),
                "score": float(_attr(chunk, "score") or 0),
            }
        )
    return chunks, getattr(result, "reason", None)


def _attr(value: Any, *names: str) -> Any:
    for name in names:
        if isinstance(value, Mapping) and name in value:
            return value[name]
        if hasattr(value, name):
            return getattr(value, name)
    return None


def check_chart(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A valid chart spec, normalised; ToolRefused saying what is wrong otherwise."""
    allowed = {"type", "title", "labels", "series"}
    extra = set(spec) - allowed
    if extra:
        raise ToolRefused(f"unknown chart keys: {', '.join(sorted(extra))}")
    kind = spec.get("type")
    if kind not in CHART_TYPES:
        raise ToolRefused(f"type must be one of {', '.join(CHART_TYPES)}")
    title = spec.get("title", "")
    if not isinstance(title, str) or len(title) > 200:
        raise ToolRefused("title must be a string of up to 200 characters")
    labels = spec.get("labels")
    if (
        not isinstance(labels, list)
        or not labels
        or len(labels) > MAX_POINTS
        or not all(isinstance(x, str) and len(x) <= 100 for x in labels)
    ):
        raise ToolRefused(f"labels must be 1 to {MAX_POINTS} short strings")
    series = spec.get("series")
    if not isinstance(series, list) or not 1 <= len(series) <= 10:
        raise ToolRefused("series must list 1 to 10 series")
    checked = []
    for i, one in enumerate(series):
        if not isinstance(one, Mapping) or not isinstance(one.get("name"), str):
            raise ToolRefused(f"series[{i}] needs a name and data")
        data = one.get("data")
        if (
            not isinstance(data, list)
            or len(data) != len(labels)
            or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 1e15
                for v in data
            )
        ):
            raise ToolRefused(f"series[{i}].data must hold one finite number per label")
        checked.append({"name": one["name"][:100], "data": [float(v) for v in data]})
    if kind == "pie" and (len(checked) != 1 or any(v < 0 for v in checked[0]["data"])):
        raise ToolRefused("a pie chart has one series of non-negative numbers")
    return {"type": kind, "title": title, "labels": labels, "series": checked}


def chart_svg(spec: Mapping[str, Any], width: int = 640, height: int = 360) -> str:
    """A chart spec (as `check_chart` returns it) drawn as a standalone SVG document. Text is
    escaped: labels are the model's."""
    pad = 40
    labels, series = spec["labels"], spec["series"]
    values = [v for s in series for v in s["data"]] or [0.0]
    top, bottom = max(*values, 0.0), min(*values, 0.0)
    span = (top - bottom) or 1.0
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    colors = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f"<title>{html.escape(spec.get('title') or 'chart')}</title>",
        f'<text x="{pad}" y="{pad / 2:.0f}" font-size="14">'
        f"{html.escape(spec.get('title') or '')}</text>",
    ]

    def y(v: float) -> float:
        return float(pad + inner_h * (top - v) / span)

    if spec["type"] == "pie":
        import math

        total = sum(series[0]["data"]) or 1.0
        cx, cy, r = width / 2, height / 2 + 10, min(inner_w, inner_h) / 2
        angle = -math.pi / 2
        for i, v in enumerate(series[0]["data"]):
            end = angle + 2 * math.pi * v / total
            large = 1 if end - angle > math.pi else 0
            x1, y1 = cx + r * math.cos(angle), cy + r * math.sin(angle)
            x2, y2 = cx + r * math.cos(end), cy + r * math.sin(end)
            out.append(
                f'<path d="M{cx:.1f},{cy:.1f} L{x1:.1f},{y1:.1f} A{r:.1f},{r:.1f} 0 {large} 1 '
                f'{x2:.1f},{y2:.1f} Z" fill="{colors[i % len(colors)]}">'
                f"<title>{html.escape(labels[i])}: {v:g}</title></path>"
            )
            angle = end
    else:
        step = inner_w / max(len(labels), 1)
        out.append(
            f'<line x1="{pad}" y1="{y(0):.1f}" x2="{width - pad}" y2="{y(0):.1f}" stroke="#888"/>'
        )
        for j, label in enumerate(labels):
            out.append(
                f'<text x="{pad + step * (j + 0.5):.1f}" y="{height - pad / 3:.0f}" '
                f'font-size="10" text-anchor="middle">{html.escape(label)}</text>'
            )
        for i, one in enumerate(series):
            color = colors[i % len(colors)]
            if spec["type"] == "line":
                points = " ".join(
                    f"{pad + step * (j + 0.5):.1f},{y(v):.1f}" for j, v in enumerate(one["data"])
                )
                out.append(
                    f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2">'
                    f"<title>{html.escape(one['name'])}</title></polyline>"
                )
            else:
                bar = step / (len(series) + 1)
                for j, v in enumerate(one["data"]):
                    x = pad + step * j + bar * (i + 0.5)
                    top_y, base = min(y(v), y(0)), max(y(v), y(0))
                    out.append(
                        f'<rect x="{x:.1f}" y="{top_y:.1f}" width="{bar:.1f}" '
                        f'height="{base - top_y:.1f}" fill="{color}">'
                        f"<title>{html.escape(one['name'])} {html.escape(labels[j])}: {v:g}"
                        "</title></rect>"
                    )
    out.append("</svg>")
    return "".join(out)
