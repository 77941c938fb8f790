"""Tenant isolation enforced by PostgreSQL itself, checked as the app role on every tenant table."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from renewflow.db import Database
from tests.db.rows import TENANT_TABLES, base_values, insert, populate

SHARED_TABLES = {"workflows", "workflow_versions", "saved_actions", "workflow_chat_branches"}


@pytest.fixture(scope="module")
def two_tenants(
    database: Database,
) -> tuple[uuid.UUID, dict[str, uuid.UUID], uuid.UUID, dict[str, uuid.UUID]]:
    from renewflow import accounts

    tenants = []
    for name in ("Alpha", "Beta"):
        with database.service_transaction() as conn:
            tenant_id = accounts.create_tenant(conn, f"{name} {uuid.uuid4().hex[:6]}")["id"]
        with database.tenant_transaction(tenant_id) as conn:
            tenants.append((tenant_id, populate(conn)))
    (a, a_rows), (b, b_rows) = tenants
    return a, a_rows, b, b_rows


def test_every_table_with_tenant_id_is_covered_and_forced(database: Database) -> None:
    with database.owner_connection() as conn:
        rows = conn.execute(
            """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind = 'r'
                 AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                             AND a.attname = 'tenant_id' AND NOT a.attisdropped)"""
        ).fetchall()
    assert {r["relname"] for r in rows} == set(TENANT_TABLES)
    assert all(r["relrowsecurity"] and r["relforcerowsecurity"] for r in rows)


def test_tenants_table_is_forced_too(database: Database) -> None:
    with database.owner_connection() as conn:
        row = conn.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'tenants'"
        ).fetchone()
    assert row == {"relrowsecurity": True, "relforcerowsecurity": True}


@pytest.mark.parametrize("role", ["renewflow_app", "renewflow_service"])
def test_runtime_roles_own_nothing_and_cannot_bypass(database: Database, role: str) -> None:
    with database.owner_connection() as conn:
        attrs = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
            (role,),
        ).fetchone()
        owned = conn.execute(
            """SELECT count(*) AS n FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
               WHERE r.rolname = %s""",
            (role,),
        ).fetchone()
    assert attrs == {
        "rolsuper": False,
        "rolbypassrls": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
    }
    assert owned == {"n": 0}


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_app_role_sees_only_its_tenant(database: Database, two_tenants, table: str) -> None:
    a, a_rows, _b, b_rows = two_tenants
    with database.tenant_transaction(a) as conn:
        rows = conn.execute(
            sql.SQL("SELECT id, tenant_id FROM {}").format(sql.Identifier(table))
        ).fetchall()
    visible_ids = {r["id"] for r in rows}
    assert a_rows[table] in visible_ids
    assert b_rows[table] not in visible_ids
    allowed = {a, None} if table in SHARED_TABLES else {a}
    assert {r["tenant_id"] for r in rows} <= allowed


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_app_role_cannot_update_or_delete_other_tenant(
    database: Database, two_tenants, table: str
) -> None:
    a, _, b, b_rows = two_tenants
    target = b_rows[table]
    with database.tenant_transaction(a) as conn:
        updated = conn.execute(
            sql.SQL("UPDATE {} SET tenant_id = tenant_id WHERE id = %s").format(
                sql.Identifier(table)
            ),
            (target,),
        ).rowcount
        deleted = conn.execute(
            sql.SQL("DELETE FROM {} WHERE id = %s").format(sql.Identifier(table)), (target,)
        ).rowcount
    assert (updated, deleted) == (0, 0)
    with database.tenant_transaction(b) as conn:
        still_there = conn.execute(
            sql.SQL("SELECT count(*) AS n FROM {} WHERE id = %s").format(sql.Identifier(table)),
            (target,),
        ).fetchone()
    assert still_there == {"n": 1}


@pytest.mark.parametrize("table", [t for t in TENANT_TABLES if t != "workflow_versions"])
def test_app_role_cannot_insert_for_other_tenant(
    database: Database, two_tenants, table: str
) -> None:
    a, _, b, b_rows = two_tenants
    # a row that would be perfectly valid inside tenant B: only row-level security stops it
    values = base_values(b_rows, table) | {"tenant_id": b}
    # workflow_executions' visibility trigger runs before the policy check and, seeing only A's
    # workflows, refuses first: a different error, the same refusal.
    expected: type[Exception] = psycopg.errors.InsufficientPrivilege
    if table == "workflow_executions":
        expected = psycopg.errors.ForeignKeyViolation
    with pytest.raises(expected), database.tenant_transaction(a) as conn:
        insert(conn, table, values)


def test_app_role_cannot_move_own_row_to_other_tenant(database: Database, two_tenants) -> None:
    a, a_rows, b, _ = two_tenants
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        with database.tenant_transaction(a) as conn:
            conn.execute(
                "UPDATE customers SET tenant_id = %s WHERE id = %s", (b, a_rows["customers"])
            )


def test_rows_cannot_reference_another_tenants_rows(database: Database, two_tenants) -> None:
    """Foreign keys bypass RLS; the composite (tenant_id, id) keys close that gap."""
    a, _, _, b_rows = two_tenants
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        with database.tenant_transaction(a) as conn:
            insert(conn, "contacts", {"customer_id": b_rows["customers"], "name": "Spy"})


def test_execution_cannot_use_another_tenants_workflow(database: Database, two_tenants) -> None:
    a, a_rows, _, b_rows = two_tenants
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="not available"):
        with database.tenant_transaction(a) as conn:
            conn.execute(
                "UPDATE workflow_executions SET status = 'completed', completed_at = now() WHERE id = %s",
                (a_rows["workflow_executions"],),
            )
            insert(
                conn,
                "workflow_executions",
                {
                    "customer_id": a_rows["customers"],
                    "workflow_id": b_rows["workflows"],
                    "workflow_version": 1,
                },
            )


@pytest.mark.parametrize("table", [*TENANT_TABLES, "tenants"])
def test_no_tenant_set_sees_nothing(database: Database, two_tenants, table: str) -> None:
    with database.app_connection() as conn, conn.transaction():
        row = conn.execute(
            sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(table))
        ).fetchone()
    assert row == {"n": 0}


def test_tenant_sees_only_its_own_tenant_row_and_cannot_create_tenants(
    database: Database, two_tenants
) -> None:
    a, _, _b, _ = two_tenants
    with database.tenant_transaction(a) as conn:
        ids = {r["id"] for r in conn.execute("SELECT id FROM tenants").fetchall()}
    assert ids == {a}
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with database.tenant_transaction(a) as conn:
            conn.execute("INSERT INTO tenants (name) VALUES ('Intruder')")


def test_core_workflows_are_readable_by_all_and_writable_by_none(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    from psycopg.types.json import Jsonb

    slug = f"core-{uuid.uuid4().hex[:8]}"
    with database.service_transaction() as conn:
        core = conn.execute(
            "INSERT INTO workflows (workflow_id, name, config, is_core) VALUES (%s, 'Core', %s, true) RETURNING id",
            (slug, Jsonb({"id": slug})),
        ).fetchone()
    assert core is not None
    tenant = tenant_factory()
    with database.tenant_transaction(tenant) as conn:
        assert conn.execute(
            "SELECT count(*) AS n FROM workflows WHERE id = %s", (core["id"],)
        ).fetchone() == {"n": 1}
        changed = conn.execute(
            "UPDATE workflows SET name = 'Mine' WHERE id = %s", (core["id"],)
        ).rowcount
        removed = conn.execute("DELETE FROM workflows WHERE id = %s", (core["id"],)).rowcount
    assert (changed, removed) == (0, 0)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with database.tenant_transaction(tenant) as conn:
            conn.execute(
                "INSERT INTO workflows (workflow_id, name, config, is_core, tenant_id) VALUES (%s, 'x', '{}', true, NULL)",
                (f"fake-{slug}",),
            )
