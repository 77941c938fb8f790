"""Customer data as it comes in through the API and imports (camelCase, as the API speaks).

Every limit comes from renewflow.limits (docs/api.md, "Input limits"): strings from the columns
they land in, numbers from what the columns and the context builder hold.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from renewflow.limits import (
    VARCHAR,
    AiSummary,
    Column,
    ContactEmail,
    ContactExternalId,
    ContactName,
    ContactRole,
    ContactTitle,
    Currency,
    CustomerExternalId,
    Day,
    Domain,
    Industry,
    JsonArray,
    JsonObject,
    MetricName,
    Money,
    Name,
    Score,
    Segment,
    Tier,
    UsageValue,
    UserEmail,
)

# The AE, SA and executive sponsor are kept in customers.account_team (jsonb) as emails: they are
# often not renewflow users. An email is at most what the users' email column holds.
TeamEmail = Annotated[
    EmailStr, StringConstraints(max_length=VARCHAR["users.email"]), Column("customers.account_team")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)


class AccountTeam(_In):
    """Account team members by role; values are email addresses. The CSM is the customer's
    `csmEmail`. `manager` overrides the CSM's manager for this customer's escalations: it names
    an active user of the tenant (customers.manager_override_id), found by email."""

    ae: TeamEmail | None = None
    sa: TeamEmail | None = None
    executiveSponsor: TeamEmail | None = None
    manager: UserEmail | None = None


class CustomerIn(_In):
    """The simplest onboarding call: name, ARR, renewal date and the CSM's email."""

    name: Name
    arr: Money
    renewalDate: Day
    csmEmail: UserEmail | None = None
    externalId: CustomerExternalId | None = None
    contractStartDate: Day | None = None
    currency: Currency = "USD"
    domain: Domain | None = None
    industry: Industry | None = None
    tier: Tier | None = None
    segment: Segment | None = None
    hasAccountPlan: bool = False
    healthScore: Score | None = None
    accountTeam: AccountTeam = Field(default_factory=AccountTeam)
    # Integration data surfaced to templates as data.engagement.* and data.crm.*
    engagement: JsonObject = Field(default_factory=dict)
    crm: JsonObject = Field(default_factory=dict)


class ContractIn(_In):
    renewalDate: Day
    arr: Money
    startDate: Day | None = None
    currency: Currency = "USD"
    autoRenew: bool = False


class ContactIn(_In):
    name: ContactName
    email: ContactEmail | None = None
    title: ContactTitle | None = None
    role: ContactRole | None = None
    isPrimary: bool = False
    externalId: ContactExternalId | None = None


class UsageIn(_In):
    """One metric value on one day; re-sending the same (metric, date) replaces the value."""

    metricName: MetricName
    metricDate: Day
    value: UsageValue


class UsageRowIn(UsageIn):
    """A usage row of an import file: names its customer by id or external id."""

    customerId: Annotated[str, StringConstraints(max_length=100)] | None = None
    customerExternalId: CustomerExternalId | None = None


class IntelligenceIn(_In):
    riskScore: Score | None = None
    sentiment: (
        Annotated[
            Literal["positive", "neutral", "negative"], Column("customer_intelligence.sentiment")
        ]
        | None
    ) = None
    aiSummary: AiSummary | None = None
    insights: JsonArray = Field(default_factory=list)
