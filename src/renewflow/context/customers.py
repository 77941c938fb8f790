"""Customer data in: customers with their current contract, contacts, usage and intelligence.

Every function works in the caller's transaction (tenant-scoped by row-level security).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from renewflow.context.errors import CustomerNotFound, InvalidCustomerData
from renewflow.context.models import ContactIn, ContractIn, CustomerIn, IntelligenceIn, UsageIn
from renewflow.db import Connection, load_queries

_Q = load_queries("renewflow.context")


def ensure_csm(conn: Connection, email: str) -> UUID:
    """The id of the tenant's user with this email, creating a CSM user if there is none."""
    row = conn.execute(_Q["find_user_by_email"], {"email": email}).fetchone()
    if row is None:
        row = conn.execute(_Q["insert_csm_user"], {"email": email}).fetchone()
    assert row is not None
    user_id: UUID = row["id"]
    return user_id


def team_manager(conn: Connection, email: str) -> UUID:
    """The id of the tenant's active user with this email, for an account team's manager
    override; refused naming `accountTeam.manager` otherwise (another tenant's user exactly as
    a missing one). Unlike a CSM, a manager is never created on the fly."""
    row = conn.execute(_Q["find_team_manager"], {"email": email}).fetchone()
    if row is None:
        raise InvalidCustomerData("accountTeam.manager", f"no such user: {email}")
    if not row["active"]:
        raise InvalidCustomerData("accountTeam.manager", f"{email} is deactivated")
    if row["role"] == "service":
        raise InvalidCustomerData("accountTeam.manager", f"{email} is an integration")
    user_id: UUID = row["id"]
    return user_id


def upsert_customer(conn: Connection, customer: CustomerIn) -> tuple[UUID, bool]:
    """Creates (or, with a known external id, updates) a customer and its active contract.
    Re-sending a customer replaces its account team, manager override included.

    Returns the customer's id and whether it was created.
    """
    manager = customer.accountTeam.manager
    manager_override_id = team_manager(conn, str(manager)) if manager else None
    csm_id = ensure_csm(conn, str(customer.csmEmail)) if customer.csmEmail else None
    team = customer.accountTeam.model_dump(exclude_none=True, exclude={"manager"})
    try:
        with conn.transaction():
            row = conn.execute(
                _Q["upsert_customer"],
                {
                    "external_id": customer.externalId,
                    "name": customer.name,
                    "domain": customer.domain,
                    "industry": customer.industry,
                    "tier": customer.tier,
                    "segment": customer.segment,
                    "csm_id": csm_id,
                    "account_team": Jsonb(team),
                    "manager_override_id": manager_override_id,
                    "has_account_plan": customer.hasAccountPlan,
                    "health_score": customer.healthScore,
                    "metadata": Jsonb({"engagement": customer.engagement, "crm": customer.crm}),
                },
            ).fetchone()
            assert row is not None
            set_contract(
                conn,
                row["id"],
                ContractIn(
                    renewalDate=customer.renewalDate,
                    arr=customer.arr,
                    startDate=customer.contractStartDate,
                    currency=customer.currency,
                ),
            )
    except psycopg.errors.CheckViolation as error:
        raise _invalid(error) from None
    return row["id"], bool(row["inserted"])


def set_contract(conn: Connection, customer_id: UUID, contract: ContractIn) -> UUID:
    """Sets the terms of the customer's active contract (creating it if there is none)."""
    if contract.startDate and contract.startDate > contract.renewalDate:
        raise InvalidCustomerData("contractStartDate", "must not be after renewalDate")
    _require_customer(conn, customer_id)
    row = conn.execute(
        _Q["upsert_active_contract"],
        {
            "customer_id": customer_id,
            "start_date": contract.startDate,
            "renewal_date": contract.renewalDate,
            "arr": contract.arr,
            "currency": contract.currency,
            "auto_renew": contract.autoRenew,
        },
    ).fetchone()
    assert row is not None
    contract_id: UUID = row["id"]
    return contract_id


def get_customer(conn: Connection, customer_id: UUID) -> dict[str, Any]:
    row = conn.execute(_Q["get_customer"], {"customer_id": customer_id}).fetchone()
    if row is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    return row


def list_customers(
    conn: Connection, *, search: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    return conn.execute(
        _Q["list_customers"], {"search": search, "limit": limit, "offset": offset}
    ).fetchall()


def add_contact(conn: Connection, customer_id: UUID, contact: ContactIn) -> dict[str, Any]:
    _require_customer(conn, customer_id)
    if contact.isPrimary:
        conn.execute(_Q["clear_primary_contact"], {"customer_id": customer_id})
    row = conn.execute(
        _Q["insert_contact"],
        {
            "customer_id": customer_id,
            "external_id": contact.externalId,
            "name": contact.name,
            "email": str(contact.email) if contact.email else None,
            "title": contact.title,
            "role": contact.role,
            "is_primary": contact.isPrimary,
        },
    ).fetchone()
    assert row is not None
    return row


def record_usage(conn: Connection, customer_id: UUID, metrics: list[UsageIn]) -> int:
    _require_customer(conn, customer_id)
    with conn.cursor() as cur:
        cur.executemany(
            _Q["upsert_usage"],
            [
                {
                    "customer_id": customer_id,
                    "metric_date": m.metricDate,
                    "metric_name": m.metricName,
                    "value": m.value,
                }
                for m in metrics
            ],
        )
    return len(metrics)


def set_intelligence(conn: Connection, customer_id: UUID, intelligence: IntelligenceIn) -> None:
    _require_customer(conn, customer_id)
    conn.execute(
        _Q["upsert_intelligence"],
        {
            "customer_id": customer_id,
            "risk_score": intelligence.riskScore,
            "sentiment": intelligence.sentiment,
            "ai_summary": intelligence.aiSummary,
            "insights": Jsonb(intelligence.insights),
        },
    )


def customer_ids_by_external_id(conn: Connection, external_ids: list[str]) -> dict[str, UUID]:
    rows = conn.execute(
        _Q["customer_ids_by_external_id"], {"external_ids": external_ids}
    ).fetchall()
    return {row["external_id"]: row["id"] for row in rows}


def existing_customer_ids(conn: Connection, candidates: list[str]) -> set[UUID]:
    """Which of these ids (any text) name customers of the tenant."""
    ids = []
    for candidate in candidates:
        try:
            ids.append(UUID(candidate))
        except ValueError:
            continue
    rows = conn.execute(_Q["existing_customer_ids"], {"ids": ids}).fetchall()
    return {row["id"] for row in rows}


def _require_customer(conn: Connection, customer_id: UUID) -> None:
    if conn.execute(_Q["customer_exists"], {"customer_id": customer_id}).fetchone() is None:
        raise CustomerNotFound(f"customer {customer_id} not found")


def _invalid(error: psycopg.errors.CheckViolation) -> InvalidCustomerData:
    constraint = error.diag.constraint_name or "check"
    return InvalidCustomerData(constraint, "rejected by the database")
