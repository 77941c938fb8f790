"""A database holding the rows the API accepted before the input limits (migration 0016).

Built the way production got there: migrated up to 0015, written to with what the old API
accepted (or a hand-written UPDATE left), then migrated to the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from psycopg.types.json import Jsonb

from renewflow.db import Migrator, connect
from tests.db.rows import base_values, insert

BEFORE_LIMITS = 15
HUGE = 10**400  # stored by jsonb; no double holds it


@dataclass(frozen=True)
class Dirty:
    url: str
    tenant_id: uuid.UUID
    customer_id: uuid.UUID  # every kind of bad value, and one good usage value ("fine": 7)
    far_customer_id: uuid.UUID  # a contract renewing in year 12026: unreadable from Python
    bad_usage_ids: frozenset[uuid.UUID]
    fine_usage_id: uuid.UUID
    intelligence_id: uuid.UUID
    task_id: uuid.UUID


def dirty_database(make_database: Callable[[], str]) -> Dirty:
    url = make_database()
    Migrator(url).migrate(target=BEFORE_LIMITS)
    with connect(url) as conn, conn.transaction():
        tenant = conn.execute("INSERT INTO tenants (name) VALUES ('Dirty') RETURNING id").fetchone()
        assert tenant is not None
        conn.execute("SELECT set_config('renewflow.tenant_id', %s, true)", (str(tenant["id"]),))
        ids: dict[str, uuid.UUID] = {}
        ids["users"] = insert(conn, "users", base_values(ids, "users"))
        ids["customers"] = insert(
            conn,
            "customers",
            {
                **base_values(ids, "customers"),
                "metadata": Jsonb({"engagement": {"logins": HUGE, "tickets": 3}, "crm": {}}),
                "account_team": Jsonb({"ae": HUGE}),
            },
        )
        customer = ids["customers"]
        insert(
            conn,
            "contracts",
            {"customer_id": customer, "renewal_date": date(2027, 3, 31), "arr": Decimal("NaN")},
        )
        bad = {
            insert(conn, "usage_metrics", _usage(customer, name, value, date(2026, 11, 1)))
            for name, value in (
                ("huge", Decimal("1e400")),
                ("tiny", Decimal("-1e400")),
                ("nan", Decimal("NaN")),
                ("big", Decimal("1e16")),
            )
        }
        fine = insert(
            conn, "usage_metrics", _usage(customer, "fine", Decimal(7), date(2026, 11, 1))
        )
        future = conn.execute(
            """INSERT INTO usage_metrics (tenant_id, customer_id, metric_date, metric_name, value)
               VALUES (current_tenant_id(), %s, '12026-01-01', 'future', 1) RETURNING id""",
            (customer,),
        ).fetchone()
        assert future is not None
        intelligence = insert(
            conn,
            "customer_intelligence",
            {
                "customer_id": customer,
                "risk_score": 40,
                "ai_summary": "s" * 100_001,
                "insights": Jsonb([HUGE, "churn risk"]),
            },
        )
        ids["workflows"] = insert(conn, "workflows", base_values(ids, "workflows"))
        ids["workflow_executions"] = insert(
            conn, "workflow_executions", base_values(ids, "workflow_executions")
        )
        task = insert(
            conn,
            "workflow_tasks",
            {
                **base_values(ids, "workflow_tasks"),
                "status": "skipped",
                "skipped_at": date(2026, 11, 2),
                "skip_reason": "r" * 2_001,
                "metadata": Jsonb({"n": -HUGE}),
            },
        )
        far = insert(conn, "customers", base_values(ids, "customers"))
        conn.execute(
            """INSERT INTO contracts (tenant_id, customer_id, renewal_date, arr)
               VALUES (current_tenant_id(), %s, '12026-03-31', 100)""",
            (far,),
        )
    Migrator(url).migrate()
    return Dirty(
        url=url,
        tenant_id=tenant["id"],
        customer_id=customer,
        far_customer_id=far,
        bad_usage_ids=frozenset({*bad, future["id"]}),
        fine_usage_id=fine,
        intelligence_id=intelligence,
        task_id=task,
    )


def _usage(customer: uuid.UUID, name: str, value: Decimal, day: date) -> dict[str, object]:
    return {"customer_id": customer, "metric_name": name, "metric_date": day, "value": value}
