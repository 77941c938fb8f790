"""Deleting a tenant deletes every row of it, whatever order PostgreSQL fires the cascades in,
and nothing of another tenant."""

from __future__ import annotations

import uuid

from psycopg import sql

from renewflow import accounts
from renewflow.db import Database
from tests.db.rows import TENANT_TABLES, populate


def _count(conn: object, table: str, tenant: uuid.UUID) -> int:
    row = conn.execute(  # type: ignore[attr-defined]
        sql.SQL("SELECT count(*) AS n FROM {} WHERE tenant_id = %s").format(sql.Identifier(table)),
        (tenant,),
    ).fetchone()
    return int(row["n"])


def test_deleting_a_tenant_deletes_all_of_it_and_nothing_else(database: Database) -> None:
    tenants = []
    for name in ("Leaving", "Staying"):
        with database.service_transaction() as conn:
            tenant_id = accounts.create_tenant(conn, f"{name} {uuid.uuid4().hex[:6]}")["id"]
        with database.tenant_transaction(tenant_id) as conn:
            populate(conn)
            # the references that used to decide the order: a task of a customer and execution,
            # a user's manager, a customer's CSM
            conn.execute(
                "UPDATE users SET manager_id = (SELECT min(id::text)::uuid FROM users) "
                "WHERE id <> (SELECT min(id::text)::uuid FROM users)"
            )
        tenants.append(tenant_id)
    leaving, staying = tenants
    with database.service_transaction() as conn:
        before = {table: _count(conn, table, staying) for table in TENANT_TABLES}
        conn.execute("DELETE FROM tenants WHERE id = %s", (leaving,))
    with database.service_transaction() as conn:
        left = {table: _count(conn, table, leaving) for table in TENANT_TABLES}
        after = {table: _count(conn, table, staying) for table in TENANT_TABLES}
    assert {table: n for table, n in left.items() if n} == {}
    assert after == before
