"""Customer data in, and the workflow context out."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from renewflow import context
from renewflow.api.deps import SessionDep
from renewflow.limits import LIMIT_MAX, OFFSET_MAX

router = APIRouter(prefix="/api", tags=["customers"])


class CustomerOut(BaseModel):
    id: UUID
    externalId: str | None
    name: str
    domain: str | None
    industry: str | None
    tier: str | None
    segment: str | None
    hasAccountPlan: bool
    healthScore: int | None
    accountTeam: dict[str, Any]
    csmEmail: str | None
    renewalDate: date | None
    arr: Decimal | None
    currency: str | None
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CustomerOut:
        return cls(
            id=row["id"],
            externalId=row["external_id"],
            name=row["name"],
            domain=row["domain"],
            industry=row["industry"],
            tier=row["tier"],
            segment=row["segment"],
            hasAccountPlan=row["has_account_plan"],
            healthScore=row["health_score"],
            accountTeam=_account_team(row),
            csmEmail=row["csm_email"],
            renewalDate=row["renewal_date"],
            arr=_finite(row["arr"]),
            currency=row["currency"],
            createdAt=row["created_at"],
            updatedAt=row["updated_at"],
        )


def _account_team(row: dict[str, Any]) -> dict[str, Any]:
    """The team as it was sent: the emails kept on the customer, and the manager override's
    (a user, so the email is theirs as it is now)."""
    team = dict(row["account_team"] or {})
    if row["manager_override_email"]:
        team["manager"] = row["manager_override_email"]
    return team


def _finite(amount: Decimal | None) -> Decimal | None:
    """A NaN stored before the input limits (renewflow db check finds it) reads as missing."""
    return amount if amount is None or amount.is_finite() else None


class ContactOut(BaseModel):
    id: UUID
    name: str
    email: str | None
    title: str | None
    role: str | None
    isPrimary: bool


class Written(BaseModel):
    written: int


class ContextOut(BaseModel):
    success: bool = True
    context: dict[str, Any]


@router.post(
    "/customers",
    status_code=201,
    responses={200: {"model": CustomerOut, "description": "Updated: the externalId was known"}},
)
def create_customer(
    body: context.CustomerIn, session: SessionDep, response: Response
) -> CustomerOut:
    """Create a customer with its current contract (and its CSM's user if missing). With an
    `externalId` already known, the customer is updated instead (200)."""
    with session.transaction() as conn:
        customer_id, created = context.upsert_customer(conn, body)
        row = context.get_customer(conn, customer_id)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/api/customers/{customer_id}"
    return CustomerOut.from_row(row)


@router.get("/customers")
def list_customers(
    session: SessionDep,
    search: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 100,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> list[CustomerOut]:
    with session.transaction() as conn:
        rows = context.list_customers(conn, search=search, limit=limit, offset=offset)
    return [CustomerOut.from_row(row) for row in rows]


@router.get("/customers/{customer_id}")
def get_customer(customer_id: UUID, session: SessionDep) -> CustomerOut:
    with session.transaction() as conn:
        return CustomerOut.from_row(context.get_customer(conn, customer_id))


@router.put("/customers/{customer_id}/contract")
def set_contract(customer_id: UUID, body: context.ContractIn, session: SessionDep) -> CustomerOut:
    """Set the terms of the customer's current contract (renewal date, ARR)."""
    with session.transaction() as conn:
        context.set_contract(conn, customer_id, body)
        return CustomerOut.from_row(context.get_customer(conn, customer_id))


@router.post("/customers/{customer_id}/contacts", status_code=201)
def add_contact(customer_id: UUID, body: context.ContactIn, session: SessionDep) -> ContactOut:
    with session.transaction() as conn:
        row = context.add_contact(conn, customer_id, body)
    return ContactOut(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        title=row["title"],
        role=row["role"],
        isPrimary=row["is_primary"],
    )


@router.post("/customers/{customer_id}/usage")
def record_usage(customer_id: UUID, body: list[context.UsageIn], session: SessionDep) -> Written:
    """Record usage metrics; re-sending a (metric, date) replaces its value."""
    with session.transaction() as conn:
        return Written(written=context.record_usage(conn, customer_id, body))


@router.put("/customers/{customer_id}/intelligence", status_code=204)
def set_intelligence(customer_id: UUID, body: context.IntelligenceIn, session: SessionDep) -> None:
    with session.transaction() as conn:
        context.set_intelligence(conn, customer_id, body)


@router.get("/workflows/context/{customer_id}")
def workflow_context(customer_id: UUID, session: SessionDep) -> ContextOut:
    """The variables a workflow's templates see for this customer."""
    with session.transaction() as conn:
        return ContextOut(context=context.build_context(conn, customer_id))
