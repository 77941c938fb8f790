"""Worlds for the fault-isolation tests: tenants, their customers and workflows, built the way a
tenant's admin builds them (validated workflows, the customer API's functions), plus what the API
once accepted and a database may still hold (written with SQL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from renewflow import accounts, context
from renewflow.db import Database, Migrator, connect
from renewflow.workflows import service as workflows
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

# A condition or title that renders fine for an ordinary customer and blows the template loop
# limit (100,000 iterations) for one whose insights list has 400 entries: one tenant's data,
# not its template, is what fails.
LOOP = "{{#each intelligence.insights}}{{#each @root.intelligence.insights}}{{/each}}{{/each}}"
BOMB_INSIGHTS = [f"insight {i}" for i in range(400)]
# The reproduction from the report (whether it still fails depends on the template helpers).
HUGE_CURRENCY = "{{formatCurrency 1000000000000000000000000000000}}"


def scratch_database(make_database: Callable[[], str]) -> Iterator[tuple[str, Database]]:
    """A database of its own (the jobs under test sweep every tenant), the core library seeded."""
    url = make_database()
    Migrator(url).migrate()
    with Database(url, max_size=6) as db:
        with db.service_transaction() as conn:
            seed_core(conn, core_library())
        yield url, db


def new_tenant(
    db: Database, name: str, settings: dict[str, Any] | None = None, time_zone: str = "UTC"
) -> uuid.UUID:
    with db.service_transaction() as conn:
        tenant: uuid.UUID = accounts.create_tenant(conn, f"{name} {uuid.uuid4().hex[:6]}")["id"]
        conn.execute(
            "UPDATE tenants SET settings = %s, time_zone = %s WHERE id = %s",
            (
                Jsonb(
                    {
                        "vpCustomerSuccess": "vp@vendor.example",
                        "ceo": "ceo@vendor.example",
                        **(settings or {}),
                    }
                ),
                time_zone,
                tenant,
            ),
        )
    with db.tenant_transaction(tenant) as conn:
        manager = accounts.create_user(conn, email="mia@vendor.example", role=accounts.Role.MANAGER)
        # the CSM of every customer, reporting to the manager (escalations go to her)
        accounts.create_user(conn, email="sarah@vendor.example", role=accounts.Role.CSM)
        conn.execute(
            "UPDATE users SET manager_id = %s WHERE email = 'sarah@vendor.example'",
            (manager["id"],),
        )
    return tenant


def add_customer(
    db: Database,
    tenant: uuid.UUID,
    name: str,
    days: int,
    *,
    risk: int | None = None,
    arr: Decimal | int = 50_000,
    insights: list[Any] | None = None,
    engagement: dict[str, Any] | None = None,
) -> uuid.UUID:
    """A customer renewing `days` after NOW's date. `insights` is written with SQL: a list the
    API may refuse today, as a database may still hold."""
    with db.tenant_transaction(tenant) as conn:
        customer, _ = context.upsert_customer(
            conn,
            context.CustomerIn.model_validate(
                {
                    "name": name,
                    "arr": str(arr),
                    "renewalDate": (NOW.date() + timedelta(days=days)).isoformat(),
                    "csmEmail": "sarah@vendor.example",
                    "engagement": engagement or {},
                }
            ),
        )
        if risk is not None or insights is not None:
            context.set_intelligence(conn, customer, context.IntelligenceIn(riskScore=risk))
        if insights is not None:
            conn.execute(
                "UPDATE customer_intelligence SET insights = %s WHERE customer_id = %s",
                (Jsonb(insights), customer),
            )
    return customer


def set_insights(db: Database, tenant: uuid.UUID, customer: uuid.UUID, insights: list[Any]) -> None:
    with db.tenant_transaction(tenant) as conn:
        conn.execute(
            "UPDATE customer_intelligence SET insights = %s WHERE customer_id = %s",
            (Jsonb(insights), customer),
        )


def store_usage(
    db: Database, url: str, tenant: uuid.UUID, customer: uuid.UUID, values: list[str]
) -> None:
    """Usage values as a database written before the input limits may hold them (the limit's
    CHECK, where the schema has it, is put back NOT VALID, as its migration does for old rows)."""
    with connect(url) as owner:
        owner.execute(
            "ALTER TABLE usage_metrics DROP CONSTRAINT IF EXISTS usage_metrics_value_in_range"
        )
    with db.tenant_transaction(tenant) as conn:
        for i, value in enumerate(values):
            conn.execute(
                "INSERT INTO usage_metrics (tenant_id, customer_id, metric_date, metric_name, value) "
                "VALUES (current_tenant_id(), %s, %s, 'active_users', %s::numeric)",
                (customer, NOW.date() - timedelta(days=30 * (len(values) - 1 - i)), value),
            )
    with connect(url) as owner:
        exists = owner.execute(
            "SELECT 1 FROM pg_constraint WHERE conname = 'usage_metrics_value_in_range'"
        ).fetchone()
        if exists is None and _limits_migrated(owner):
            owner.execute(
                "ALTER TABLE usage_metrics ADD CONSTRAINT usage_metrics_value_in_range "
                "CHECK (value BETWEEN -1e15 AND 1e15) NOT VALID"
            )


def _limits_migrated(owner: Any) -> bool:
    row = owner.execute("SELECT to_regclass('quarantined_rows') IS NOT NULL AS migrated").fetchone()
    return bool(row and row["migrated"])


def core_config(workflow_id: str) -> dict[str, Any]:
    found = next(c for c in core_library() if c.id == workflow_id)
    return found.model_dump(mode="json", by_alias=True, exclude_none=True)


def save_workflow(db: Database, tenant: uuid.UUID, config: dict[str, Any]) -> None:
    """Through the workflow service, validated exactly as the API validates it."""
    with db.tenant_transaction(tenant) as conn:
        workflows.create_workflow(conn, tenant, None, workflow_id=config["id"], config=config)


def active(db: Database, tenant: uuid.UUID) -> dict[str, tuple[str, str]]:
    """Customer name -> (workflow id, trigger rule) of its active execution."""
    with db.tenant_transaction(tenant) as conn:
        rows = conn.execute(
            """SELECT c.name, w.workflow_id, e.trigger_reason ->> 'rule' AS rule
               FROM workflow_executions e JOIN customers c ON c.id = e.customer_id
               JOIN workflows w ON w.id = e.workflow_id WHERE e.status = 'active'"""
        ).fetchall()
    return {r["name"]: (r["workflow_id"], r["rule"]) for r in rows}


def failures(db: Database, tenant: uuid.UUID, job: str | None = None) -> list[dict[str, Any]]:
    from renewflow.jobs.failures import list_failures

    with db.tenant_transaction(tenant) as conn:
        rows, _ = list_failures(conn, job=job, limit=500)
    return rows


def notifications(db: Database, tenant: uuid.UUID) -> list[tuple[Any, ...]]:
    """(customer, type, channel, recipient, title, status, last_error), sorted."""
    with db.tenant_transaction(tenant) as conn:
        rows = conn.execute(
            """SELECT c.name, n.notification_type, n.channel, n.recipient, n.title, n.status,
                      n.last_error
               FROM notifications n LEFT JOIN customers c ON c.id = n.customer_id"""
        ).fetchall()
    return sorted(
        (tuple(r.values()) for r in rows), key=lambda r: ["" if v is None else str(v) for v in r]
    )


def fail_inserts_of(url: str, table: str, tenant: uuid.UUID) -> Callable[[], None]:
    """Makes every insert of `tenant` into `table` fail (a trigger, as the owner): how a tenant's
    rows that break a statement look to the job. Returns the undo."""
    name = f"test_fail_{uuid.uuid4().hex[:8]}"
    with connect(url) as owner:
        owner.execute(
            sql.SQL(
                "CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.tenant_id = {tenant}::uuid THEN RAISE EXCEPTION 'this tenant''s row is "
                "refused'; END IF; RETURN NEW; END $$"
            ).format(fn=sql.Identifier(name), tenant=sql.Literal(str(tenant)))
        )
        owner.execute(
            sql.SQL(
                "CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION {fn}()"
            ).format(
                name=sql.Identifier(name), table=sql.Identifier(table), fn=sql.Identifier(name)
            )
        )

    def undo() -> None:
        with connect(url) as owner:
            owner.execute(
                sql.SQL("DROP TRIGGER {name} ON {table}").format(
                    name=sql.Identifier(name), table=sql.Identifier(table)
                )
            )
            owner.execute(sql.SQL("DROP FUNCTION {fn}()").format(fn=sql.Identifier(name)))

    return undo
