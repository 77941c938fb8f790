"""One tenant's bad data harms nobody else in the notification schedule (per tenant, per
execution, per notification), and a step's own notifications never fail the step: a template that
fails, or a rendered title or recipient the table cannot hold, is recorded as undeliverable, never
cut."""

from __future__ import annotations

import importlib
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from renewflow.context import build_context
from renewflow.db import Database
from renewflow.engine import StepRequest, StepRunner, start_execution
from renewflow.engine.notifications import fire
from renewflow.engine.schedule import JOB, run_schedule
from renewflow.engine.sweep import run_sweep
from renewflow.jobs.failures import BACKOFF_BASE
from renewflow.llm import LLMClients
from renewflow.workflows import service as workflows
from renewflow.workflows.model import Notification
from tests.engine.hostile import (
    BOMB_INSIGHTS,
    HUGE_CURRENCY,
    LOOP,
    NOW,
    add_customer,
    core_config,
    fail_inserts_of,
    failures,
    new_tenant,
    notifications,
    save_workflow,
    scratch_database,
    set_insights,
)

schedule_module = importlib.import_module("renewflow.engine.schedule")

# what a customer 8 days overdue gets from the core overdue ladder in one run
LADDER = {
    ("overdue-daily-reminder", "in_app"): 1,
    ("manager-escalation", "email"): 1,
    ("vp-escalation", "email"): 2,
}


@pytest.fixture(scope="module")
def world_db(make_database: Callable[[], str]) -> Iterator[tuple[str, Database]]:
    yield from scratch_database(make_database)


def _counts(db: Database, tenant: uuid.UUID) -> dict[tuple[str, str], int]:
    return dict(Counter((row[1], row[2]) for row in notifications(db, tenant)))


def _overdue(db: Database, name: str = "Good", customers: int = 1) -> uuid.UUID:
    tenant = new_tenant(db, name)
    for i in range(customers):
        add_customer(db, tenant, f"Late {i}", -8)
    return tenant


def _long_range(db: Database, notifications: list[dict[str, Any]]) -> uuid.UUID:
    """A tenant with its own workflow for customers 366 to 420 days out, and the report's
    scheduled notifications (day 410)."""
    tenant = new_tenant(db, "Hostile")
    config = core_config("monitor")
    config.update(id="long-range", name="Long range")
    config["trigger"] = {"daysUntilRenewal": {"min": 366, "max": 420}}
    config["notifications"] = notifications
    save_workflow(db, tenant, config)
    return tenant


def _scheduled(note_id: str, title: str) -> dict[str, Any]:
    return {
        "id": note_id,
        "type": "in_app",
        "title": title,
        "message": "Renewal in {{workflow.daysUntilRenewal}} days.",
        "recipients": ["{{csm.email}}"],
        "schedule": {"daysUntilRenewal": 410},
    }


def test_a_failing_notification_fails_alone_and_the_loop_goes_on(
    world_db: tuple[str, Database],
) -> None:
    _, db = world_db
    hostile = _long_range(
        db,
        [
            _scheduled("bomb", "Heads up " + LOOP),
            _scheduled("currency", HUGE_CURRENCY),
            _scheduled("fine", "A year out"),
        ],
    )
    bomb = add_customer(db, hostile, "Bomb", 400, insights=BOMB_INSIGHTS)
    add_customer(db, hostile, "Calm", 400)
    goods = [_overdue(db) for _ in range(3)]
    run_sweep(db, NOW)

    run_schedule(db, NOW)

    for good in goods:
        assert _counts(db, good) == LADDER
        assert failures(db, good) == []
    rows = notifications(db, hostile)
    fired = Counter((r[0], r[1]) for r in rows)
    # everything but the failing notification of the failing customer went out
    assert fired[("Calm", "bomb")] == fired[("Calm", "fine")] == fired[("Bomb", "fine")] == 1
    assert fired[("Bomb", "bomb")] == 0
    recorded = failures(db, hostile, JOB)
    by_notification = {r["notification_id"]: r for r in recorded}
    assert by_notification["bomb"]["subject_type"] == "notification"
    assert by_notification["bomb"]["subject_id"].endswith(":bomb")
    assert by_notification["bomb"]["field"] == "notifications[bomb].title"
    assert by_notification["bomb"]["workflow_id"] == "long-range"
    assert "loop iterations" in by_notification["bomb"]["error"]
    # the report's title: it fires, or fails alone like the other (the helper decides)
    assert (fired[("Bomb", "currency")] == 1) != ("currency" in by_notification)

    # left alone until its next attempt
    run_schedule(db, NOW + timedelta(minutes=1))
    assert failures(db, hostile, JOB)[0]["attempts"] == 1
    later = NOW + timedelta(minutes=6)
    run_schedule(db, later)
    [row] = [r for r in failures(db, hostile, JOB) if r["notification_id"] == "bomb"]
    assert (row["attempts"], row["next_attempt_at"]) == (2, later + 2 * BACKOFF_BASE)

    # the data is fixed: it fires at its next attempt, and its failure is resolved
    set_insights(db, hostile, bomb, [])
    run_schedule(db, later + timedelta(minutes=11))
    assert Counter((r[0], r[1]) for r in notifications(db, hostile))[("Bomb", "bomb")] == 1
    assert [r for r in failures(db, hostile, JOB) if r["notification_id"] == "bomb"] == []
    for good in goods:
        assert _counts(db, good) == LADDER  # fired once, not again


def test_a_tenant_whose_schedule_fails_fails_alone(world_db: tuple[str, Database]) -> None:
    _, db = world_db
    broken = _overdue(db, "Broken")
    run_sweep(db, NOW)
    with db.service_transaction() as conn:  # bad data in the tenant's own row
        conn.execute("UPDATE tenants SET time_zone = 'Mars/Olympus' WHERE id = %s", (broken,))
    goods = [_overdue(db) for _ in range(20)]
    # some must come after it in the loop (by id): with 20 random ids that fails 1 time in 21
    while not any(good > broken for good in goods) and len(goods) < 200:
        goods.append(_overdue(db))
    run_sweep(db, NOW)
    assert any(good > broken for good in goods)

    run_schedule(db, NOW)

    for good in goods:
        assert _counts(db, good) == LADDER
    assert _counts(db, broken) == {}
    [row] = failures(db, broken, JOB)
    assert (row["subject_type"], row["subject_id"]) == ("tenant", str(broken))
    assert "Mars/Olympus" in row["error"]
    run_schedule(db, NOW + timedelta(minutes=1))  # waiting: not tried again yet
    assert failures(db, broken, JOB)[0]["attempts"] == 1

    with db.service_transaction() as conn:
        conn.execute("UPDATE tenants SET time_zone = 'UTC' WHERE id = %s", (broken,))
    run_schedule(db, NOW + timedelta(minutes=6))
    assert _counts(db, broken) == LADDER
    assert failures(db, broken, JOB) == []


def test_an_execution_that_fails_loses_nothing_else(
    world_db: tuple[str, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its context cannot be built: that execution's savepoint is rolled back, the tenant's
    other executions fire in the same transaction."""
    _, db = world_db
    tenant = _overdue(db, "Mixed", customers=3)
    run_sweep(db, NOW)
    with db.tenant_transaction(tenant) as conn:
        row = conn.execute(
            "SELECT e.id, e.customer_id FROM workflow_executions e JOIN customers c "
            "ON c.id = e.customer_id WHERE c.name = 'Late 0'"
        ).fetchone()
    assert row is not None
    real = schedule_module.build_context

    def build(conn: Any, customer_id: Any, execution_id: Any = None) -> Any:
        if customer_id == row["customer_id"]:
            raise OverflowError("int too large to convert to float")
        return real(conn, customer_id, execution_id)

    monkeypatch.setattr(schedule_module, "build_context", build)
    run_schedule(db, NOW)
    monkeypatch.undo()

    fired = Counter(r[0] for r in notifications(db, tenant))
    assert fired == {"Late 1": 4, "Late 2": 4}
    [failure] = failures(db, tenant, JOB)
    assert (failure["subject_type"], failure["subject_id"], failure["field"]) == (
        "execution",
        str(row["id"]),
        "context",
    )
    assert failure["error"] == "OverflowError: int too large to convert to float"
    run_schedule(db, NOW + timedelta(minutes=6))  # retried, works now: resolved
    assert Counter(r[0] for r in notifications(db, tenant))["Late 0"] == 4
    assert failures(db, tenant, JOB) == []


def test_a_write_that_fails_rolls_back_only_its_execution(world_db: tuple[str, Database]) -> None:
    url, db = world_db
    refused = _overdue(db, "Refused", customers=2)
    good = _overdue(db)
    run_sweep(db, NOW)
    undo = fail_inserts_of(url, "notifications", refused)
    try:
        run_schedule(db, NOW)
    finally:
        undo()
    assert _counts(db, good) == LADDER
    assert _counts(db, refused) == {}
    recorded = failures(db, refused, JOB)
    assert sorted(r["subject_type"] for r in recorded) == ["execution", "execution"]
    assert all("refused" in r["error"] and r["notification_id"] for r in recorded)


# -- the step's own notifications ---------------------------------------------------------------


def test_a_failing_template_never_fails_the_step(world_db: tuple[str, Database]) -> None:
    _, db = world_db
    tenant = new_tenant(db, "Steps")
    config = core_config("prepare")
    config["notifications"] += [
        {
            "id": "snapshot-bomb",
            "type": "email",
            "title": "Snapshot " + LOOP,
            "message": "Done.",
            "recipients": ["{{csm.email}}"],
            "actionTriggered": "data-snapshot",
        },
        {
            "id": "snapshot-done",
            "type": "in_app",
            "title": "Snapshot of {{customer.name}} ready",
            "message": "Done.",
            "recipients": ["{{csm.email}}"],
            "actionTriggered": "data-snapshot",
        },
    ]
    save_workflow(db, tenant, config)
    customer = add_customer(db, tenant, "Bomb", 130, risk=35, insights=BOMB_INSIGHTS)
    with db.tenant_transaction(tenant) as conn:
        manager = conn.execute("SELECT id FROM users WHERE role = 'manager'").fetchone()
        assert manager is not None
        execution = start_execution(
            conn,
            customer_id=customer,
            workflow=workflows.get_workflow(conn, tenant, "prepare"),
            started_by=manager["id"],
            reason={"rule": "manual"},
        )
    clients = LLMClients()
    runner = StepRunner(db, clients)
    try:
        answer = runner.run(
            lambda: db.tenant_transaction(tenant, manager["id"]),
            execution_id=execution,
            step_id="data-snapshot",
            request=StepRequest(actor_user_id=manager["id"], actor_role="manager"),
        )
    finally:
        runner.close()
        clients.close()
    assert answer.status == 200, answer.body
    assert answer.body["nextStep"]["stepId"] == "value-risk-analysis"
    assert answer.body["notifications"] == 1  # the one that can be delivered
    rows = {r[1]: r for r in notifications(db, tenant)}
    assert rows["snapshot-done"][5] == "sent"
    bomb = rows["snapshot-bomb"]
    assert bomb[5] == "failed"
    assert bomb[6].startswith(
        "permanent: undeliverable: notifications[snapshot-bomb].title: the template failed: "
    )
    assert "loop iterations" in bomb[6]
    with db.tenant_transaction(tenant) as conn:
        meta = conn.execute(
            "SELECT metadata, attempts FROM notifications WHERE notification_type = 'snapshot-bomb'"
        ).fetchone()
    assert meta is not None
    assert meta["attempts"] == 0  # never tried: the delivery job leaves it alone
    assert meta["metadata"]["undeliverable"]["place"] == "notifications[snapshot-bomb].title"


def test_a_rendered_title_or_recipient_too_long_is_undeliverable_never_cut(
    world_db: tuple[str, Database],
) -> None:
    _, db = world_db
    tenant = new_tenant(db, "Long")
    long_name = "N" * 255
    address = "a" * 390 + "@vendor.example"  # 405 characters: a cut one is someone else
    customer = add_customer(db, tenant, long_name, 130, engagement={"contact": address})
    title = Notification.model_validate(
        {
            "id": "long-title",
            "type": "email",
            "title": "{{customer.name}}{{customer.name}}",
            "message": "M",
            "recipients": ["{{csm.email}}"],
        }
    )
    recipient = Notification.model_validate(
        {
            "id": "long-recipient",
            "type": "email",
            "title": "To the contact",
            "message": "M",
            "recipients": ["{{data.engagement.contact}}", "{{csm.email}}"],
        }
    )
    with db.tenant_transaction(tenant) as conn:
        execution = conn.execute(
            "INSERT INTO workflow_executions (tenant_id, customer_id, workflow_id, "
            "workflow_version) SELECT current_tenant_id(), %s, w.id, 1 FROM workflows w "
            "WHERE w.workflow_id = 'prepare' AND w.tenant_id IS NULL RETURNING id",
            (customer,),
        ).fetchone()
        assert execution is not None
        ctx = build_context(conn, customer, execution["id"])
        made = [
            fire(
                conn,
                execution_id=execution["id"],
                customer_id=customer,
                notification=n,
                context=ctx,
                dedupe_key=f"{execution['id']}:{n.id}",
                strict=strict,
            )
            for n in (title, recipient)
            for strict in (False, True)  # the second time, the dedupe key makes it a no-op
        ]
    assert made == [0, 0, 1, 0]
    rows = notifications(db, tenant)
    assert [(r[1], r[3], r[4], r[5], r[6]) for r in rows] == [
        (
            "long-recipient",
            "",
            "To the contact",
            "failed",
            "permanent: undeliverable: notifications[long-recipient].recipients: recipient 1 "
            "of 2: the recipient is 405 characters long, over the 320 it may have",
        ),
        ("long-recipient", "sarah@vendor.example", "To the contact", "pending", None),
        (
            "long-title",
            "sarah@vendor.example",
            "{{customer.name}}{{customer.name}}",
            "failed",
            "permanent: undeliverable: notifications[long-title].title: the title is 510 "
            "characters long, over the 500 it may have",
        ),
    ]
    assert all(len(r[3]) <= 320 and len(r[4]) <= 500 for r in rows)
