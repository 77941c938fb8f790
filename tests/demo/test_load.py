"""The demo book in a real database: what `load` writes, `remove` deletes, and the command."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

from renewflow import accounts, demo
from renewflow.accounts.sessions import login_link_usable
from renewflow.context import build_context
from renewflow.db import Database, Migrator
from renewflow.llm import validate
from renewflow.workflows.files import core_library
from tests.demo.conftest import Loaded
from tests.test_cli import run

TOKEN = re.compile(r"\w+ [0-9a-f]{8}")
STEPS = {(config.id, step.id): step for config in core_library() for step in config.steps}


def rows(database: Database, tenant: uuid.UUID, query: str) -> list[dict[str, Any]]:
    with database.tenant_transaction(tenant) as conn:
        return conn.execute(query).fetchall()


def book_summary(database: Database, tenant: uuid.UUID) -> list[tuple[Any, ...]]:
    """What a reader of the book sees: names, ARR, days until renewal and stage, in order."""
    found = rows(
        database,
        tenant,
        """
        SELECT c.name, k.arr, k.renewal_date - (now() AT TIME ZONE t.time_zone)::date AS days,
               (SELECT w.workflow_id FROM workflow_executions e JOIN workflows w
                  ON w.id = e.workflow_id
                WHERE e.customer_id = c.id ORDER BY e.started_at LIMIT 1) AS first_stage
        FROM customers c JOIN contracts k ON k.customer_id = c.id
        JOIN tenants t ON t.id = c.tenant_id
        ORDER BY c.external_id
        """,
    )
    return [tuple(row.values()) for row in found]


def tenant_rows(owner_url: str, tenant_ids: list[uuid.UUID]) -> dict[str, int]:
    """Rows of these tenants in every table that has a tenant_id (as the owner: no RLS)."""
    counts = {}
    with psycopg.connect(owner_url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name = 'tenant_id' AND table_name IN (SELECT table_name FROM "
            "information_schema.tables WHERE table_type = 'BASE TABLE')"
        ).fetchall()
        for (table,) in tables:
            query = sql.SQL("SELECT count(*) FROM {} WHERE tenant_id = ANY(%s)").format(
                sql.Identifier(table)
            )
            row = conn.execute(query, (tenant_ids,)).fetchone()
            assert row is not None
            counts[table] = row[0]
        row = conn.execute(
            "SELECT count(*) FROM tenants WHERE id = ANY(%s)", (tenant_ids,)
        ).fetchone()
        assert row is not None
        counts["tenants"] = row[0]
    return counts


def test_it_loads_in_bounded_time(loaded: Loaded) -> None:
    # a guard against a load that runs away (`make run` waits for it), not a benchmark: it takes
    # 3-10 s on a shared 2-core machine
    assert loaded.seconds < 30
    assert loaded.tenant.counts["failed_steps"] == 0


def test_every_stage_range_has_customers_and_their_executions(
    demo_db: Database, loaded: Loaded
) -> None:
    found = rows(
        demo_db,
        loaded.tenant.tenant_id,
        """
        SELECT k.renewal_date - (now() AT TIME ZONE t.time_zone)::date AS days, w.workflow_id
        FROM contracts k JOIN customers c ON c.id = k.customer_id
        JOIN tenants t ON t.id = c.tenant_id
        LEFT JOIN workflow_executions e ON e.customer_id = c.id AND e.status = 'active'
        LEFT JOIN workflows w ON w.id = e.workflow_id
        """,
    )
    assert len(found) == loaded.tenant.counts["customers"] >= 180
    for config in core_library():
        window = config.trigger.days_until_renewal
        inside = [row for row in found if window.min <= row["days"] <= window.max]
        assert inside, config.id
        assert any(row["workflow_id"] == config.id for row in inside), config.id
    assert min(row["days"] for row in found) < -30  # well overdue
    assert max(row["days"] for row in found) == 365


def test_high_risk_accounts_decline_close_to_renewal(demo_db: Database, loaded: Loaded) -> None:
    risky = rows(
        demo_db,
        loaded.tenant.tenant_id,
        "SELECT customer_id FROM customer_intelligence WHERE risk_score >= 75",
    )
    assert len(risky) >= 3
    with demo_db.tenant_transaction(loaded.tenant.tenant_id) as conn:
        contexts = [build_context(conn, row["customer_id"]) for row in risky]
    for context in contexts:
        assert context["data"]["usage"]["trend"].endswith("decline"), context["data"]["usage"]
        assert context["workflow"]["daysUntilRenewal"] <= 60
        assert context["intelligence"]["aiSummary"]
        assert context["data"]["salesforce"]["opportunityStage"]


def test_the_team_the_settings_and_the_contacts(demo_db: Database, loaded: Loaded) -> None:
    tenant = loaded.tenant
    assert (len(tenant.users["admin"]), len(tenant.users["manager"]), len(tenant.csms)) == (1, 1, 3)
    team = rows(demo_db, tenant.tenant_id, "SELECT id, role, manager_id FROM users")
    assert {row["manager_id"] for row in team if row["role"] == "csm"} == {tenant.manager.id}
    books = rows(
        demo_db,
        tenant.tenant_id,
        "SELECT csm_id, count(*) AS n FROM customers GROUP BY csm_id",
    )
    assert {row["csm_id"] for row in books} == {csm.id for csm in tenant.csms}
    with demo_db.tenant_transaction(tenant.tenant_id) as conn:
        settings = accounts.tenant_settings(conn)
    # the escalation ladder's people, stored in the settings' current shape (migration 0020)
    assert set(settings["company"]) == {"vp_customer_success", "ceo", "war_room"}
    assert not {"vpCustomerSuccess", "ceo", "warRoom"} & set(settings)
    assert settings["llm"] == {"provider": "mock"}
    primaries = rows(
        demo_db,
        tenant.tenant_id,
        "SELECT customer_id, count(*) FILTER (WHERE is_primary) AS primaries, "
        "array_agg(role) AS roles FROM contacts GROUP BY customer_id",
    )
    assert len(primaries) == tenant.counts["customers"]
    assert all(row["primaries"] == 1 for row in primaries)
    assert all("economic buyer" in row["roles"] for row in primaries)
    weeks = rows(
        demo_db,
        tenant.tenant_id,
        "SELECT count(DISTINCT metric_date) AS weeks, count(DISTINCT metric_name) AS metrics "
        "FROM usage_metrics",
    )
    assert weeks == [{"weeks": 26, "metrics": 3}]


def test_every_screen_has_something_to_show(demo_db: Database, loaded: Loaded) -> None:
    tenant = loaded.tenant
    assert tenant.counts["active_executions"] >= 150
    assert tenant.counts["completed_steps"] >= 20
    assert tenant.counts["notifications"] > 0
    statuses = {
        row["status"]
        for row in rows(demo_db, tenant.tenant_id, "SELECT DISTINCT status FROM workflow_tasks")
    }
    assert statuses == {"pending", "in_progress", "snoozed", "completed", "skipped", "cancelled"}
    buckets = rows(
        demo_db,
        tenant.tenant_id,
        """
        SELECT
          count(*) FILTER (WHERE status IN ('pending', 'in_progress')
                           AND due_date < (now() AT TIME ZONE 'America/New_York')::date)
            AS overdue,
          count(*) FILTER (WHERE status = 'snoozed' AND snooze_deadline > now()) AS snoozed,
          count(*) FILTER (WHERE snooze_deadline <= now() AND status NOT IN
                           ('completed', 'skipped', 'cancelled')) AS decision
        FROM workflow_tasks WHERE task_type = 'CSM_TASK'
        """,
    )[0]
    assert all(buckets[key] >= 1 for key in ("overdue", "snoozed", "decision")), buckets
    failed = rows(
        demo_db,
        tenant.tenant_id,
        "SELECT count(*) AS n FROM workflow_step_executions WHERE status = 'failed'",
    )
    assert failed == [{"n": 0}]
    in_app = rows(
        demo_db,
        tenant.tenant_id,
        "SELECT count(*) AS n FROM notifications n JOIN users u ON lower(u.email) = "
        "lower(n.recipient) WHERE n.channel = 'in_app' AND u.role = 'csm'",
    )
    assert in_app[0]["n"] > 0
    waiting = rows(
        demo_db,
        tenant.tenant_id,
        "SELECT count(*) AS n FROM workflow_executions WHERE status = 'active' "
        "AND current_step_id = 'team-escalation'",
    )
    assert waiting[0]["n"] >= 1  # an emergency waits for its manager's approval


def test_the_steps_the_mock_answered_read_like_an_analysis(
    demo_db: Database, loaded: Loaded
) -> None:
    done = rows(
        demo_db,
        loaded.tenant.tenant_id,
        """
        SELECT s.step_id, s.outputs, w.workflow_id, c.name, i.risk_score
        FROM workflow_step_executions s
        JOIN workflow_executions e ON e.id = s.workflow_execution_id
        JOIN workflows w ON w.id = e.workflow_id
        JOIN customers c ON c.id = e.customer_id
        JOIN customer_intelligence i ON i.customer_id = c.id
        WHERE s.status = 'completed'
        """,
    )
    assert done
    for row in done:
        step = STEPS[(row["workflow_id"], row["step_id"])]
        assert validate(row["outputs"], step.execution.outputs or {}) == []
        text = " ".join(_strings(row["outputs"]))
        if row["step_id"] in {"health-check", "data-snapshot"}:
            assert row["outputs"]["riskScore"] == row["risk_score"]
        if row["step_id"] in {
            "health-check",
            "renewal-conversation",
            "critical-escalation",
            "overdue-status-check",
            "daily-follow-up",
            "emergency-status-check",
        }:
            assert row["name"] in text, (row["step_id"], text)
        # no plain tokens ("missingData dec6e481") where the heuristics know the property
        assert not [s for s in _strings(row["outputs"]) if TOKEN.fullmatch(s)], row["outputs"]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def test_same_seed_same_book_loading_twice_refused_replace_and_remove(
    demo_db: Database, loaded: Loaded, demo_url: str
) -> None:
    name = f"Demo twin {uuid.uuid4().hex[:8]}"
    twin = demo.load(demo_db, tenant_name=name)
    assert book_summary(demo_db, twin.tenant_id) == book_summary(demo_db, loaded.tenant.tenant_id)
    with pytest.raises(demo.DemoExists, match="exists already"):
        demo.load(demo_db, tenant_name=name)
    replaced = demo.load(demo_db, tenant_name=name, replace=True)
    assert replaced.tenant_id != twin.tenant_id
    assert set(tenant_rows(demo_url, [twin.tenant_id]).values()) == {0}
    found = demo.find(demo_db, name)
    assert found is not None
    assert (found.tenant_id, found.seed) == (replaced.tenant_id, 7)

    others_before = tenant_rows(demo_url, [loaded.tenant.tenant_id])
    assert demo.remove(demo_db, name) == 1
    assert set(tenant_rows(demo_url, [replaced.tenant_id]).values()) == {0}
    assert tenant_rows(demo_url, [loaded.tenant.tenant_id]) == others_before
    assert demo.remove(demo_db, name) == 0
    assert demo.find(demo_db, name) is None


def test_a_tenant_of_that_name_not_made_by_the_demo_is_never_touched(
    demo_db: Database,
) -> None:
    name = f"Real CS {uuid.uuid4().hex[:8]}"
    with demo_db.service_transaction() as conn:
        tenant = accounts.create_tenant(conn, name)["id"]
    with pytest.raises(demo.NotADemoTenant):
        demo.remove(demo_db, name)
    with pytest.raises(demo.NotADemoTenant):
        demo.load(demo_db, tenant_name=name)
    with pytest.raises(demo.NotADemoTenant):
        demo.load(demo_db, tenant_name=name, replace=True)
    with pytest.raises(demo.NotADemoTenant):
        demo.find(demo_db, name)
    with demo_db.service_transaction() as conn:
        assert accounts.get_tenant(conn, tenant)["name"] == name


def test_the_command_prints_a_sign_in_link_last(
    loaded: Loaded, demo_db: Database, demo_url: str
) -> None:
    name = loaded.tenant.name
    listed = run(
        demo_url,
        "demo",
        "load",
        "--tenant",
        name,
        "--if-missing",
        "--sign-in",
        "http://127.0.0.1:9",
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert "loaded already" in lines[0]
    prefix = "http://127.0.0.1:9/sign-in/link/"
    assert lines[-1].startswith(prefix)
    with demo_db.app_connection() as conn, conn.transaction():
        assert login_link_usable(conn, lines[-1].removeprefix(prefix))

    again = run(demo_url, "demo", "load", "--tenant", name)
    assert again.returncode == 1
    assert "exists already" in again.stderr
    assert again.stderr.count("\n") == 1  # one line, no traceback
    none = run(demo_url, "demo", "remove", "--tenant", f"No such demo {uuid.uuid4().hex[:6]}")
    assert none.returncode == 0
    assert "removed 0" in none.stdout


def test_without_the_core_workflows_nothing_is_created(make_database: Callable[[], str]) -> None:
    url = make_database()
    Migrator(url).migrate()
    with Database(url, max_size=2) as empty:
        with pytest.raises(demo.CoreWorkflowsMissing, match="renewflow workflows seed"):
            demo.load(empty, tenant_name="Demo CS")
        with empty.service_transaction() as conn:
            assert conn.execute("SELECT count(*) AS n FROM tenants").fetchone() == {"n": 0}
