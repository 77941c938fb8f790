"""Customer data as it comes in through the API and imports (camelCase, as the API speaks)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)


class AccountTeam(_In):
    """Account team members by role; values are email addresses."""

    ae: EmailStr | None = None
    sa: EmailStr | None = None
    executiveSponsor: EmailStr | None = None


class CustomerIn(_In):
    """The simplest onboarding call: name, ARR, renewal date and the CSM's email."""

    name: Name
    arr: Money
    renewalDate: date
    csmEmail: EmailStr | None = None
    externalId: Annotated[str, StringConstraints(max_length=255)] | None = None
    contractStartDate: date | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    domain: str | None = None
    industry: str | None = None
    tier: str | None = None
    segment: str | None = None
    hasAccountPlan: bool = False
    healthScore: Annotated[int, Field(ge=0, le=100)] | None = None
    accountTeam: AccountTeam = Field(default_factory=AccountTeam)
    # Integration data surfaced to templates as data.engagement.* and data.crm.*
    engagement: dict[str, Any] = Field(default_factory=dict)
    crm: dict[str, Any] = Field(default_factory=dict)


class ContractIn(_In):
    renewalDate: date
    arr: Money
    startDate: date | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    autoRenew: bool = False


class ContactIn(_In):
    name: Name
    email: EmailStr | None = None
    title: str | None = None
    role: Annotated[str, StringConstraints(max_length=100)] | None = None
    isPrimary: bool = False
    externalId: str | None = None


class UsageIn(_In):
    """One metric value on one day; re-sending the same (metric, date) replaces the value."""

    metricName: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    metricDate: date
    value: Decimal


class UsageRowIn(UsageIn):
    """A usage row of an import file: names its customer by id or external id."""

    customerId: str | None = None
    customerExternalId: str | None = None


class IntelligenceIn(_In):
    riskScore: Annotated[int, Field(ge=0, le=100)] | None = None
    sentiment: Literal["positive", "neutral", "negative"] | None = None
    aiSummary: str | None = None
    insights: list[Any] = Field(default_factory=list)
