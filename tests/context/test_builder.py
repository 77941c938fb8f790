"""The WorkflowContext built from real customer data, and templates resolved against it."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from psycopg.types.json import Jsonb

from renewflow import context, templates
from renewflow.context import ContactIn, CustomerIn, IntelligenceIn, UsageIn
from renewflow.db import Database


@pytest.fixture(scope="module")
def acme(database: Database) -> tuple[uuid.UUID, uuid.UUID, context.WorkflowContext]:
    """Acme: 130 days out in Kiritimati (UTC+14), a CSM with a manager, contacts, usage, intelligence,
    and an execution whose first step completed."""
    from renewflow import accounts

    with database.service_transaction() as conn:
        tenant = accounts.create_tenant(conn, f"Ctx {uuid.uuid4().hex[:6]}", "Pacific/Kiritimati")[
            "id"
        ]
        conn.execute(
            "UPDATE tenants SET settings = %s WHERE id = %s",
            (
                Jsonb({"vpCustomerSuccess": "vp@vendor.example", "ceo": "ceo@vendor.example"}),
                tenant,
            ),
        )
    today = datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
    with database.tenant_transaction(tenant) as conn:
        manager = accounts.create_user(
            conn, email="mia.manager@vendor.example", role=accounts.Role.MANAGER, name="Mia"
        )
        customer_id, created = context.upsert_customer(
            conn,
            CustomerIn(
                name="Acme Corp",
                arr=Decimal(100000),
                renewalDate=today + timedelta(days=130),
                csmEmail="sarah.chen@vendor.example",
                hasAccountPlan=True,
                tier="enterprise",
                accountTeam=context.models.AccountTeam(
                    ae="ae@vendor.example", sa="sa@vendor.example"
                ),
                engagement={"lastMeeting": "2026-11-02", "supportTickets": 3},
                crm={"opportunityStage": "Negotiation"},
            ),
        )
        assert created
        conn.execute(
            "UPDATE users SET manager_id = %s WHERE email = 'sarah.chen@vendor.example'",
            (manager["id"],),
        )
        for contact in (
            ContactIn(name="Sarah Chen", role="CFO", isPrimary=True),
            ContactIn(name="Eric Estrada", role="VP"),
            ContactIn(name="Li", role="Admin"),
        ):
            context.add_contact(conn, customer_id, contact)
        context.record_usage(
            conn,
            customer_id,
            [
                UsageIn(
                    metricName="active_users",
                    metricDate=today - timedelta(days=30),
                    value=Decimal(100),
                ),
                UsageIn(metricName="active_users", metricDate=today, value=Decimal(112)),
                UsageIn(metricName="api_calls", metricDate=today, value=Decimal(5000)),
            ],
        )
        context.set_intelligence(
            conn,
            customer_id,
            IntelligenceIn(riskScore=35, aiSummary="Healthy", insights=["CFO new"]),
        )
        workflow = conn.execute(
            "INSERT INTO workflows (tenant_id, workflow_id, name, config) VALUES (current_tenant_id(), 'prep', 'Prepare', '{}') RETURNING id"
        ).fetchone()
        assert workflow is not None
        execution = conn.execute(
            """INSERT INTO workflow_executions (tenant_id, customer_id, workflow_id, workflow_version, current_step_id)
               VALUES (current_tenant_id(), %s, %s, 1, 'risk-assessment') RETURNING id""",
            (customer_id, workflow["id"]),
        ).fetchone()
        assert execution is not None
        conn.execute(
            """INSERT INTO workflow_step_executions (tenant_id, workflow_execution_id, step_id, step_index, status, outputs, completed_at)
               VALUES (current_tenant_id(), %s, 'data-snapshot', 0, 'completed', %s, now())""",
            (execution["id"], Jsonb({"overall_health": "Good", "risk_score": 35})),
        )
        built = context.build_context(conn, customer_id, execution["id"])
    return tenant, customer_id, built


def test_context_has_every_root_filled_from_the_data(acme) -> None:
    _, customer_id, ctx = acme
    today = datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
    assert ctx["customer"]["id"] == str(customer_id)
    assert (ctx["customer"]["name"], ctx["customer"]["arr"], ctx["customer"]["hasAccountPlan"]) == (
        "Acme Corp",
        100000,
        True,
    )
    assert ctx["customer"]["renewalDate"] == (today + timedelta(days=130)).isoformat()
    assert ctx["csm"] == {
        "id": ctx["csm"]["id"],
        "email": "sarah.chen@vendor.example",
        "name": "Sarah Chen",
        "manager": "mia.manager@vendor.example",
    }
    assert ctx["workflow"]["daysUntilRenewal"] == 130  # in the tenant's time zone, not the server's
    assert 129 * 24 <= ctx["workflow"]["hoursUntilRenewal"] <= 130 * 24
    assert (ctx["workflow"]["renewalARR"], ctx["workflow"]["daysOverdue"]) == (100000, 0)
    assert (ctx["workflow"]["stage"], ctx["workflow"]["currentStep"]) == (
        "Prepare",
        "risk-assessment",
    )
    assert ctx["company"]["vpCustomerSuccess"] == "vp@vendor.example"
    assert (
        ctx["accountTeam"]["allEmails"]
        == "ae@vendor.example,sa@vendor.example,sarah.chen@vendor.example"
    )
    assert ctx["intelligence"]["riskScore"] == 35
    assert ctx["data"]["usage"]["trend"] == "+12% growth"
    assert ctx["data"]["usage"]["metrics"] == {"active_users": 112, "api_calls": 5000}
    assert ctx["data"]["engagement"]["supportTickets"] == 3
    assert ctx["data"]["crm"]["opportunityStage"] == "Negotiation"
    assert [c["name"] for c in ctx["data"]["crm"]["contacts"]] == [
        "Sarah Chen",
        "Eric Estrada",
        "Li",
    ]
    assert ctx["outputs"] == {"data-snapshot": {"overall_health": "Good", "risk_score": 35}}


def test_missing_paths_lists_each_missing_one(acme) -> None:
    _, _, ctx = acme
    needed = [
        "customer.arr",
        "data.usage.trend",
        "intelligence.riskScore",
        "data.engagement.nps",
        "outputs.value-analysis.score",
        "company.warRoom",
    ]
    assert context.missing_paths(ctx, needed) == [
        "data.engagement.nps",
        "outputs.value-analysis.score",
        "company.warRoom",
    ]


def test_context_of_unknown_customer_is_not_found(database: Database, acme) -> None:
    tenant, _, _ = acme
    with database.tenant_transaction(tenant) as conn, pytest.raises(context.CustomerNotFound):
        context.build_context(conn, uuid.uuid4())


REFERENCE = (
    "Analyze risk for {{customer.name}} with ARR ${{customer.arr}}. Current usage: {{data.usage.trend}}. "
    "Days until renewal: {{workflow.daysUntilRenewal}}."
)

CASES = [
    (
        REFERENCE,
        "Analyze risk for Acme Corp with ARR $100000. Current usage: +12% growth. Days until renewal: 130.",
    ),
    (
        "{{customer.name}} renewal is {{workflow.daysUntilRenewal}} days away.",
        "Acme Corp renewal is 130 days away.",
    ),
    ("{{#if (gte workflow.renewalARR 250000)}}High-value{{else}}Standard{{/if}}", "Standard"),
    (
        "{{#if (and customer.hasAccountPlan (gte workflow.renewalARR 100000))}}War room{{/if}}",
        "War room",
    ),
    ("Overdue {{abs workflow.daysOverdue}} days", "Overdue 0 days"),
    (
        "{{#each data.crm.contacts}}{{name}} ({{role}}){{#unless @last}}, {{/unless}}{{/each}}",
        "Sarah Chen (CFO), Eric Estrada (VP), Li (Admin)",
    ),
    (
        "Health {{outputs.data-snapshot.overall_health}}, risk {{outputs.data-snapshot.risk_score}}",
        "Health Good, risk 35",
    ),
    (
        "CC {{accountTeam.allEmails}}",
        "CC ae@vendor.example,sa@vendor.example,sarah.chen@vendor.example",
    ),
    (
        "Escalate to {{csm.manager}} then {{company.vpCustomerSuccess}}",
        "Escalate to mia.manager@vendor.example then vp@vendor.example",
    ),
    ("{{#if (lt intelligence.riskScore 50)}}low risk{{/if}}", "low risk"),
    (
        "{{upper customer.tier}} / {{data.usage.metrics.active_users}} users",
        "ENTERPRISE / 112 users",
    ),
    ('{{default intelligence.sentiment "unknown"}}', "unknown"),
    ("{{#with csm}}{{name}} <{{email}}>{{/with}}", "Sarah Chen <sarah.chen@vendor.example>"),
]


@pytest.mark.parametrize(("source", "expected"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_templates_resolve_against_a_real_context(acme, source: str, expected: str) -> None:
    _, _, ctx = acme
    assert templates.compile(source).render(ctx) == expected


def test_overdue_customer_counts_days_overdue(database: Database, acme) -> None:
    tenant, _, _ = acme
    with database.tenant_transaction(tenant) as conn:
        late, _ = context.upsert_customer(
            conn,
            CustomerIn(
                name="Late Inc",
                arr=Decimal(300000),
                renewalDate=datetime.now(ZoneInfo("Pacific/Kiritimati")).date() - timedelta(days=8),
            ),
        )
        ctx = context.build_context(conn, late)
    assert (ctx["workflow"]["daysUntilRenewal"], ctx["workflow"]["daysOverdue"]) == (-8, 8)
    assert templates.compile("Renewal is {{abs workflow.daysUntilRenewal}} days overdue.").render(
        ctx
    ) == ("Renewal is 8 days overdue.")
    assert ctx["data"]["usage"]["trend"] == "unknown"
    assert ctx["csm"]["email"] is None
    assert isinstance(date.fromisoformat(ctx["customer"]["renewalDate"]), date)
