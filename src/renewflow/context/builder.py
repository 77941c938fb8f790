"""The WorkflowContext templates read: built from the customer's data in one query.

Shape (the roots the workflow validator admits):
customer, csm, workflow, company, accountTeam, intelligence, data {usage, engagement, crm,
salesforce}, outputs {<step id>: {...}}.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from decimal import Decimal
from typing import Any
from uuid import UUID

from renewflow.context.errors import CustomerNotFound
from renewflow.db import Connection, load_queries
from renewflow.limits import JSON_MAX_DEPTH, USAGE_VALUE_MAX, finite_number
from renewflow.settings import read_settings

_Q = load_queries("renewflow.context")

WorkflowContext = dict[str, Any]

# Usage is "flat" within this many percent of its value four weeks earlier.
_FLAT_PERCENT = 2.0
# Stored JSON nested deeper than this is cut off (requests may nest JSON_MAX_DEPTH levels).
_MAX_JSON_DEPTH = 4 * JSON_MAX_DEPTH


def build_context(
    conn: Connection, customer_id: UUID, execution_id: UUID | None = None
) -> WorkflowContext:
    """The context of one customer (and, if given, of one execution: its stage and outputs)."""
    row = conn.execute(
        _Q["build_context"], {"customer_ids": [customer_id], "execution_id": execution_id}
    ).fetchone()
    if row is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    return _assemble(row)


def build_contexts(conn: Connection, customer_ids: Collection[UUID]) -> dict[UUID, WorkflowContext]:
    """The contexts of many customers (no execution's), in one query; each is what
    `build_context` returns for it. A customer that does not exist is left out."""
    if not customer_ids:
        return {}
    rows = conn.execute(
        _Q["build_context"], {"customer_ids": list(customer_ids), "execution_id": None}
    ).fetchall()
    return {row["id"]: _assemble(row) for row in rows}


def _number(value: Any, bound: Decimal | None = None) -> int | float | None:
    """JSON-friendly numbers: whole amounts as int, others as float. A value no double holds
    (stored before the input limits, or by hand) is missing, never an error: one bad row must
    not stop every context of its customer (renewflow db check finds such rows)."""
    as_float = finite_number(value)
    if as_float is None or (bound is not None and abs(as_float) > bound):
        return None
    return int(as_float) if as_float.is_integer() else as_float


def _fit(value: Any, depth: int = 0) -> Any:
    """Free-form JSON read back from jsonb with every number a double cannot hold (and anything
    nested absurdly deep) made null, as the context's numbers are."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return value if finite_number(value) is not None else None
    if depth > _MAX_JSON_DEPTH:
        return None
    if isinstance(value, dict):
        return {key: _fit(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_fit(item, depth + 1) for item in value]
    return value


def _assemble(row: dict[str, Any]) -> WorkflowContext:
    company = read_settings(row["tenant_settings"]).company
    team = _fit(row["account_team"] or {})
    metadata = _fit(row["metadata"] or {})
    days = row["days_until_renewal"]
    hours = row["hours_until_renewal"]
    arr = _number(row["arr"])
    csm_email = row["csm_email"]
    crm = dict(metadata.get("crm") or {})
    crm.setdefault("contacts", row["contacts"])
    return {
        "customer": {
            "id": str(row["id"]),
            "name": row["name"],
            "externalId": row["external_id"],
            "arr": arr,
            "currency": row["currency"],
            "renewalDate": row["renewal_date"].isoformat() if row["renewal_date"] else None,
            "hasAccountPlan": row["has_account_plan"],
            "tier": row["tier"],
            "segment": row["segment"],
            "industry": row["industry"],
            "domain": row["domain"],
            "healthScore": row["health_score"],
        },
        "csm": {
            "id": str(row["csm_id"]) if row["csm_id"] else None,
            "email": csm_email,
            "name": row["csm_name"] or _name_from_email(csm_email),
            "manager": row["csm_manager"],
        },
        "workflow": {
            "daysUntilRenewal": days,
            "hoursUntilRenewal": math.floor(hours) if hours is not None else None,
            "renewalARR": arr,
            "daysOverdue": -days if days is not None and days < 0 else 0,
            "stage": row["workflow_name"],
            "workflowId": row["workflow_slug"],
            "executionId": str(row["execution_id"]) if row["execution_id"] else None,
            "currentStep": row["current_step_id"],
        },
        # the tenant's contacts (settings `company`), as templates name them
        "company": {
            "vpCustomerSuccess": company.vp_customer_success,
            "ceo": company.ceo,
            "warRoom": company.war_room,
        },
        "accountTeam": {
            **team,
            "csm": csm_email,
            # who escalations go to, as csm.manager: the override, else the CSM's manager
            "manager": row["csm_manager"],
            "allEmails": ",".join(
                e for e in (team.get("ae"), team.get("sa"), csm_email) if isinstance(e, str) and e
            ),
        },
        "intelligence": {
            "riskScore": row["risk_score"],
            "sentiment": row["sentiment"],
            "aiSummary": row["ai_summary"],
            "insights": _fit(row["insights"] or []),
        },
        "data": {
            "usage": _usage(row["usage_latest"], row["usage_previous"]),
            "engagement": metadata.get("engagement") or {},
            "crm": crm,
            # the specification's name for the CRM data
            "salesforce": crm,
        },
        "outputs": _fit(row["outputs"] or {}),
    }


def _usage(latest: list[dict[str, Any]], previous: list[dict[str, Any]]) -> dict[str, Any]:
    values = {m["name"]: _number(m["value"], USAGE_VALUE_MAX) for m in latest}
    metrics = {name: value for name, value in values.items() if value is not None}
    last_activity = max((m["date"] for m in latest), default=None)
    before = {
        m["name"]: float(value)
        for m in previous
        if (value := _number(m["value"], USAGE_VALUE_MAX)) is not None
    }
    now_total = sum(float(value) for name, value in metrics.items() if name in before)
    then_total = sum(value for name, value in before.items() if name in metrics)
    change: float | None = None
    trend = "unknown"
    if then_total > 0:
        change = round((now_total - then_total) / then_total * 100, 1)
        if abs(change) < _FLAT_PERCENT:
            trend = "flat"
        elif change > 0:
            trend = f"+{change:g}% growth"
        else:
            trend = f"{change:g}% decline"
    return {
        "metrics": metrics,
        "lastActivity": last_activity,
        "changePercent": change,
        "trend": trend,
    }


def _name_from_email(email: str | None) -> str | None:
    if not email:
        return None
    local = email.split("@", 1)[0]
    return " ".join(part.capitalize() for part in re.split(r"[._-]+", local) if part) or None


def missing_paths(context: WorkflowContext, paths: list[str]) -> list[str]:
    """The paths (dotted, e.g. `data.usage.trend`) that are absent, null or empty in `context`."""
    missing = []
    for path in paths:
        value: Any = context
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
            if value is None:
                break
        if value is None or value in ("", [], {}):
            missing.append(path)
    return missing
