"""The trigger sweep over many generated customers, against the seeded core library."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from renewflow import accounts
from renewflow.db import Database, Migrator
from renewflow.engine import sweep
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CUSTOMERS = 10_000


@pytest.fixture(scope="module")
def sweep_db(make_database: Callable[[], str]) -> Iterator[Database]:
    """A database of its own: the core library seeded, one tenant, customers from -90 to 400 days."""
    url = make_database()
    Migrator(url).migrate()
    with Database(url, max_size=4) as db:
        with db.service_transaction() as conn:
            seed_core(conn, core_library())
        yield db


def _populate(db: Database, count: int) -> uuid.UUID:
    with db.service_transaction() as conn:
        tenant: uuid.UUID = accounts.create_tenant(conn, f"Sweep {uuid.uuid4().hex[:6]}")["id"]
        # customer i renews (i mod 491) - 90 days after NOW's date: every day from -90 to 400
        conn.execute(
            """WITH c AS (
                 INSERT INTO customers (tenant_id, name, external_id)
                 SELECT %(tenant)s, 'Customer ' || i, 'c-' || i FROM generate_series(1, %(count)s) i
                 RETURNING id, external_id)
               INSERT INTO contracts (tenant_id, customer_id, renewal_date, arr)
               SELECT %(tenant)s, c.id,
                      %(today)s::date + ((substr(c.external_id, 3)::int %% 491) - 90), 50000
               FROM c""",
            {"tenant": tenant, "count": count, "today": NOW.date()},
        )
    return tenant


def _mismatches(db: Database, tenant: uuid.UUID, now: datetime) -> dict[str, int]:
    """Compares each customer's active execution with the library's workflow for its day.

    Customers outside every range (more than a year out, more than 90 days overdue) are not
    counted: the sweep starts nothing for them and leaves a running execution to its people.
    """
    ranges = [
        (c.id, c.trigger.days_until_renewal.min, c.trigger.days_until_renewal.max)
        for c in core_library()
    ]
    with db.service_transaction() as conn:
        row = conn.execute(
            """WITH expected AS (
                 SELECT k.customer_id, r.workflow_id
                 FROM contracts k
                 LEFT JOIN unnest(%(ids)s::text[], %(mins)s::int[], %(maxs)s::int[]) AS r(workflow_id, lo, hi)
                   ON k.renewal_date - %(today)s::date BETWEEN r.lo AND r.hi
                 WHERE k.tenant_id = %(tenant)s),
               actual AS (
                 SELECT e.customer_id, w.workflow_id
                 FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id
                 WHERE e.tenant_id = %(tenant)s AND e.status = 'active')
               SELECT count(*) FILTER (WHERE ex.workflow_id IS NOT NULL
                                         AND ex.workflow_id IS DISTINCT FROM ac.workflow_id) AS wrong,
                      count(ac.customer_id) FILTER (WHERE ex.workflow_id IS NOT NULL) AS active,
                      count(ex.workflow_id) AS expected
               FROM expected ex LEFT JOIN actual ac USING (customer_id)""",
            {
                "ids": [r[0] for r in ranges],
                "mins": [r[1] for r in ranges],
                "maxs": [r[2] for r in ranges],
                "today": now.date(),
                "tenant": tenant,
            },
        ).fetchone()
    assert row is not None
    return dict(row)


def test_every_customer_gets_exactly_the_workflow_of_its_day(sweep_db: Database) -> None:
    tenant = _populate(sweep_db, CUSTOMERS)
    with sweep_db.service_transaction() as conn:
        first = sweep(conn, NOW)
    expected_active = sum(1 for i in range(1, CUSTOMERS + 1) if (i % 491) - 90 <= 365)
    assert first.started == expected_active
    assert _mismatches(sweep_db, tenant, NOW) == {
        "wrong": 0,
        "active": expected_active,
        "expected": expected_active,
    }

    with sweep_db.service_transaction() as conn:
        again = sweep(conn, NOW)
    assert (again.started, again.superseded, again.tasks_carried) == (0, 0, 0)

    with sweep_db.service_transaction() as conn:
        reasons = conn.execute(
            """SELECT trigger_reason FROM workflow_executions
               WHERE tenant_id = %s AND trigger_reason ->> 'daysUntilRenewal' = '130'""",
            (tenant,),
        ).fetchall()
    assert reasons
    assert reasons[0]["trigger_reason"]["workflowId"] == "prepare"
    assert reasons[0]["trigger_reason"]["range"] == {"min": 120, "max": 149}


def test_moving_time_supersedes_and_carries_open_tasks(sweep_db: Database) -> None:
    tenant = _populate(sweep_db, 2_000)
    with sweep_db.service_transaction() as conn:
        sweep(conn, NOW)
        # an open and a finished task on the execution of a customer 120 days out (last Prepare day)
        execution = conn.execute(
            """SELECT e.id, e.customer_id FROM workflow_executions e JOIN contracts k USING (customer_id)
               WHERE e.tenant_id = %s AND k.renewal_date = %s::date + 120""",
            (tenant, NOW.date()),
        ).fetchone()
        assert execution is not None
        for status in ("pending", "completed"):
            conn.execute(
                """INSERT INTO workflow_tasks (tenant_id, workflow_execution_id, customer_id, task_type, owner,
                                               action, description, status, priority)
                   VALUES (%s, %s, %s, 'CSM_TASK', 'CSM', 'Call the CFO', 'Intro call', %s, 2)""",
                (tenant, execution["id"], execution["customer_id"], status),
            )
    later = NOW + timedelta(days=10)
    with sweep_db.service_transaction() as conn:
        moved = sweep(conn, later)
        old = conn.execute(
            "SELECT status FROM workflow_executions WHERE id = %s", (execution["id"],)
        ).fetchone()
        new = conn.execute(
            """SELECT e.id, w.workflow_id FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id
               WHERE e.customer_id = %s AND e.status = 'active'""",
            (execution["customer_id"],),
        ).fetchone()
        tasks = conn.execute(
            """SELECT status, original_workflow_execution_id, surfaced_in_workflow_ids FROM workflow_tasks
               WHERE customer_id = %s ORDER BY status""",
            (execution["customer_id"],),
        ).fetchall()
    assert old == {"status": "superseded"}
    assert new is not None
    assert new["workflow_id"] == "engage"  # 110 days out now
    # about 10 days' worth of customers sit on each of the 8 stage boundaries
    assert moved.superseded > 0
    assert moved.tasks_carried >= 1
    completed, pending = tasks
    assert pending["surfaced_in_workflow_ids"] == [new["id"]]
    assert pending["original_workflow_execution_id"] == execution["id"]
    assert completed["surfaced_in_workflow_ids"] is None
    assert _mismatches(sweep_db, tenant, later)["wrong"] == 0
    with sweep_db.service_transaction() as conn:
        assert sweep(conn, later).tasks_carried == 0  # carried once, not again


def test_tenant_override_wins_for_that_tenant_only(sweep_db: Database) -> None:
    from psycopg.types.json import Jsonb

    mine, other = _populate(sweep_db, 500), _populate(sweep_db, 500)
    prepare = next(c for c in core_library() if c.id == "prepare")
    config = prepare.model_dump(mode="json", by_alias=True, exclude_none=True)
    config["name"] = "Our Prepare"
    with sweep_db.tenant_transaction(mine) as conn:
        conn.execute(
            "INSERT INTO workflows (tenant_id, workflow_id, name, config) VALUES (current_tenant_id(), 'prepare', 'Our Prepare', %s)",
            (Jsonb(config),),
        )
    with sweep_db.service_transaction() as conn:
        sweep(conn, NOW)
        rows = conn.execute(
            """SELECT e.tenant_id, w.tenant_id IS NULL AS core, count(*) AS n
               FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id
               WHERE w.workflow_id = 'prepare' AND e.tenant_id = ANY(%s) AND e.status = 'active'
               GROUP BY 1, 2""",
            ([mine, other],),
        ).fetchall()
    by_tenant = {(r["tenant_id"], r["core"]): r["n"] for r in rows}
    assert set(by_tenant) == {(mine, False), (other, True)}


def test_admin_sweep_through_a_tenant_transaction_touches_only_that_tenant(
    sweep_db: Database,
) -> None:
    mine, other = _populate(sweep_db, 300), _populate(sweep_db, 300)
    with sweep_db.tenant_transaction(mine) as conn:
        result = sweep(conn, NOW)
    assert result.started > 0
    with sweep_db.service_transaction() as conn:
        counts = conn.execute(
            "SELECT tenant_id, count(*) AS n FROM workflow_executions WHERE tenant_id = ANY(%s) GROUP BY 1",
            ([mine, other],),
        ).fetchall()
    assert {r["tenant_id"] for r in counts} == {mine}


def test_early_trigger_pulls_the_stage_forward(sweep_db: Database) -> None:
    """Prepare (120-149 days) starts early for a risky customer 160 days out (its early trigger:
    riskScore >= 70); a calm customer at the same distance stays in Monitor."""
    from decimal import Decimal

    from renewflow import context

    with sweep_db.service_transaction() as conn:
        tenant: uuid.UUID = accounts.create_tenant(conn, f"Early {uuid.uuid4().hex[:6]}")["id"]
    with sweep_db.tenant_transaction(tenant) as conn:
        ids = {}
        for name, risk in (("Risky", 75), ("Calm", 20)):
            customer, _ = context.upsert_customer(
                conn,
                context.CustomerIn(
                    name=name, arr=Decimal(50000), renewalDate=NOW.date() + timedelta(days=160)
                ),
            )
            context.set_intelligence(conn, customer, context.IntelligenceIn(riskScore=risk))
            ids[name] = customer
    with sweep_db.service_transaction() as conn:
        first = sweep(conn, NOW)
        rows = conn.execute(
            """SELECT c.name, w.workflow_id, e.trigger_reason FROM workflow_executions e
               JOIN customers c ON c.id = e.customer_id JOIN workflows w ON w.id = e.workflow_id
               WHERE e.tenant_id = %s AND e.status = 'active' ORDER BY c.name""",
            (tenant,),
        ).fetchall()
        again = sweep(conn, NOW)
        later = sweep(conn, NOW + timedelta(days=15))  # 145 days: inside Prepare's own range
        still = conn.execute(
            "SELECT count(*) AS n FROM workflow_executions WHERE customer_id = %s AND status = 'active'",
            (ids["Risky"],),
        ).fetchone()
    assert first.started_early >= 1
    by_name = {r["name"]: r for r in rows}
    assert by_name["Calm"]["workflow_id"] == "monitor"
    assert by_name["Risky"]["workflow_id"] == "prepare"
    reason = by_name["Risky"]["trigger_reason"]
    assert (reason["rule"], reason["condition"], reason["daysUntilRenewal"]) == (
        "earlyTrigger",
        "{{gte intelligence.riskScore 70}}",
        160,
    )
    assert again.started_early == 0
    assert later.started_early == 0
    assert still == {"n": 1}


def test_a_finished_playbook_is_not_started_again_in_the_same_stage(sweep_db: Database) -> None:
    tenant = _populate(sweep_db, 600)
    with sweep_db.service_transaction() as conn:
        sweep(conn, NOW)
        done, old = conn.execute(
            """SELECT e.id, e.customer_id FROM workflow_executions e
               WHERE e.tenant_id = %s AND e.status = 'active' ORDER BY e.id LIMIT 2""",
            (tenant,),
        ).fetchall()
        # one finished its playbook this stage; the other finished the same playbook a year ago
        conn.execute(
            "UPDATE workflow_executions SET status = 'completed', completed_at = %s WHERE id = %s",
            (NOW, done["id"]),
        )
        conn.execute(
            "UPDATE workflow_executions SET status = 'completed', completed_at = %s WHERE id = %s",
            (NOW - timedelta(days=400), old["id"]),
        )
        again = sweep(conn, NOW + timedelta(hours=1))
        restarted = conn.execute(
            "SELECT customer_id FROM workflow_executions WHERE tenant_id = %s AND status = 'active'"
            " AND customer_id = ANY(%s)",
            (tenant, [done["customer_id"], old["customer_id"]]),
        ).fetchall()
    assert again.started == 1
    assert [r["customer_id"] for r in restarted] == [old["customer_id"]]
