"""Property: whatever one tenant stores within what the API accepts (templates in early triggers,
notification titles, recipients and conditions, usage and ARR at their edges, long strings, big
lists), the renewal sweep, the notification schedule and delivery give a second, well-behaved
tenant exactly what it gets when it is alone."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from renewflow import context
from renewflow.db import Database
from renewflow.engine.schedule import run_schedule
from renewflow.engine.sweep import run_sweep
from renewflow.errors import RenewflowError
from renewflow.notify.delivery import deliver_now
from tests.engine.hostile import (
    HUGE_CURRENCY,
    LOOP,
    NOW,
    active,
    add_customer,
    core_config,
    failures,
    new_tenant,
    notifications,
    save_workflow,
    scratch_database,
)
from tests.notify.conftest import free_port

MONEY_MAX = Decimal("999999999999.99")
USAGE_MAX = Decimal("1e15")

LOOP3 = (
    "{{#each intelligence.insights}}{{#each @root.intelligence.insights}}"
    "{{#each @root.intelligence.insights}}{{/each}}{{/each}}{{/each}}"
)
# fail for a customer with 400 insights (the report's currency one, with the helpers of old)
FAILING = [LOOP, LOOP3, HUGE_CURRENCY]
NASTY = [
    *FAILING,
    "true",
    "{{#if (gte intelligence.riskScore 50)}}true{{/if}}",
    "{{formatCurrency customer.arr}}",
    "{{formatNumber data.usage.metrics.active_users 20}}",
    "{{formatCurrency data.usage.metrics.active_users 'JPY'}}",
    "{{round data.usage.changePercent 20}}",
    "{{json data.engagement}}",
    "{{json intelligence.insights}}",
    "{{customer.name}}{{customer.name}}{{customer.name}}",
    "{{data.engagement.contact}}",
    "{{#each data.engagement.list}}{{this}},{{/each}}",
    "{{daysBetween customer.renewalDate '2999-12-31'}}",
    "{{formatDate customer.renewalDate 'YYYY'}}",
    "{{lookup data.engagement 'contact'}}",
]
plain_text = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_characters="\x00{}"),
    min_size=1,
    max_size=600,
)
template = st.one_of(st.sampled_from(FAILING), st.sampled_from(NASTY), plain_text)
long_text = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_characters="\x00"),
    max_size=1000,
)


@st.composite
def hostile_inputs(draw: st.DrawFn) -> dict[str, Any]:
    customers = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.text(
                        alphabet=st.characters(
                            blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"
                        ),
                        min_size=1,
                        max_size=255,
                    ).filter(lambda s: s.strip() != ""),
                    "days": st.sampled_from([-8, 130, 145, 160, 175, 400]),
                    "risk": st.integers(0, 100),
                    "arr": st.decimals(0, MONEY_MAX, places=2, allow_nan=False),
                    "usage": st.lists(
                        st.decimals(-USAGE_MAX, USAGE_MAX, places=4, allow_nan=False),
                        max_size=3,
                    ),
                    # 400 make a loop over them twice nested pass the loop limit
                    "insights": st.one_of(
                        st.just(["x"] * 400),
                        st.lists(st.sampled_from(["x", "", "y" * 50]), max_size=20),
                    ),
                    "contact": long_text,
                    "list": st.lists(long_text, max_size=40),
                }
            ),
            min_size=1,
            max_size=4,
        )
    )
    # one customer overdue (the schedule's day) and one before Prepare's early window, always
    customers[0]["days"] = -8
    if len(customers) > 1:
        customers[1]["days"] = 160
    return {
        "customers": customers,
        "early": draw(st.lists(template, min_size=1, max_size=3)),
        "title": draw(template),
        "message": draw(template),
        "recipients": draw(st.lists(template, min_size=1, max_size=3)),
        "condition": draw(st.none() | template),
        "type": draw(st.sampled_from(["in_app", "email", "slack", "sms"])),
        "channels": draw(
            st.sampled_from(
                [
                    None,
                    {"smtp": {"host": "127.0.0.1", "port": "x"}},
                    {
                        "smtp": {
                            "host": "127.0.0.1",
                            "port": free_port(),
                            "security": "none",
                            "from_address": "a@b.example",
                        }
                    },
                    {"webhook": {"url": f"http://127.0.0.1:{free_port()}/hook"}},
                    "not an object",
                ]
            )
        ),
    }


@pytest.fixture(scope="module")
def world(make_database: Callable[[], str]) -> Iterator[tuple[str, Database]]:
    yield from scratch_database(make_database)


@pytest.fixture(scope="module")
def smtp_port() -> Iterator[int]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def _good(db: Database, smtp_port: int) -> uuid.UUID:
    smtp = {
        "host": "127.0.0.1",
        "port": smtp_port,
        "security": "none",
        "from_address": "rf@vendor.example",
    }
    tenant = new_tenant(db, "Good", settings={"notifications": {"smtp": smtp}})
    add_customer(db, tenant, "Plain", 130)
    add_customer(db, tenant, "Risky", 160, risk=80)
    add_customer(db, tenant, "Calm", 160, risk=10)
    add_customer(db, tenant, "Late", -8, arr=300_000)
    return tenant


def _state(db: Database, tenant: uuid.UUID) -> dict[str, Any]:
    return {
        "executions": active(db, tenant),
        "notifications": [row[:6] for row in notifications(db, tenant)],
        "failures": failures(db, tenant),
    }


def _run_jobs(db: Database) -> None:
    run_sweep(db, NOW)
    run_schedule(db, NOW)
    deliver_now(db)


@pytest.fixture(scope="module")
def alone(world: tuple[str, Database], smtp_port: int) -> dict[str, Any]:
    """The well-behaved tenant's outcome with nobody else around."""
    _, db = world
    tenant = _good(db, smtp_port)
    _run_jobs(db)
    state = _state(db, tenant)
    assert state["executions"] == {
        "Plain": ("prepare", "daysUntilRenewal"),
        "Risky": ("prepare", "earlyTrigger"),
        "Calm": ("monitor", "daysUntilRenewal"),
        "Late": ("overdue", "daysUntilRenewal"),
    }
    assert {row[5] for row in state["notifications"]} == {"sent"}  # in the app, or mailed
    assert {row[1] for row in state["notifications"]} >= {"manager-escalation", "vp-escalation"}
    assert state["failures"] == []
    return state


def _hostile(db: Database, url: str, inputs: dict[str, Any]) -> uuid.UUID:
    settings_ = {"notifications": inputs["channels"]} if inputs["channels"] is not None else {}
    tenant = new_tenant(db, "Hostile", settings=settings_)
    prepare = core_config("prepare")
    prepare["trigger"]["earlyTriggers"] = [
        {"condition": condition, "description": "generated"} for condition in inputs["early"]
    ]
    overdue = core_config("overdue")
    generated = {
        "id": "generated",
        "type": inputs["type"],
        "title": inputs["title"],
        "message": inputs["message"],
        "recipients": inputs["recipients"],
        "schedule": {"daysUntilRenewal": -8},
    }
    if inputs["condition"] is not None:
        generated["condition"] = inputs["condition"]
    overdue["notifications"].append(generated)
    for config in (prepare, overdue):
        # refused when saved, as the API refuses it: the core workflow runs instead
        with contextlib.suppress(RenewflowError):
            save_workflow(db, tenant, config)
    for spec in inputs["customers"]:
        try:
            customer = add_customer(
                db,
                tenant,
                spec["name"],
                spec["days"],
                risk=spec["risk"],
                arr=spec["arr"],
                insights=spec["insights"],
                engagement={"contact": spec["contact"], "list": spec["list"]},
            )
        except (RenewflowError, ValueError):
            continue  # the API refuses it
        with db.tenant_transaction(tenant) as conn:
            for i, value in enumerate(spec["usage"]):
                try:
                    usage = context.UsageIn.model_validate(
                        {
                            "metricName": "active_users",
                            "metricDate": (NOW.date().replace(day=1)).isoformat()
                            if i == 0
                            else NOW.date().isoformat(),
                            "value": str(value),
                        }
                    )
                except ValueError:
                    continue
                context.record_usage(conn, customer, [usage])
            conn.execute(
                "UPDATE customers SET metadata = metadata || %s WHERE id = %s",
                (Jsonb({"crm": {"notes": spec["list"]}}), customer),
            )
    return tenant


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(inputs=hostile_inputs())
def test_a_hostile_tenant_changes_nothing_for_a_well_behaved_one(
    world: tuple[str, Database], smtp_port: int, alone: dict[str, Any], inputs: dict[str, Any]
) -> None:
    url, db = world
    hostile = _hostile(db, url, inputs)
    good = _good(db, smtp_port)
    _run_jobs(db)  # none of them raises, whatever the hostile tenant holds
    assert _state(db, good) == alone
    for row in failures(db, hostile):
        assert row["error"]
        assert "\x00" not in row["error"]
