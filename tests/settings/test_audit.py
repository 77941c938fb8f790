"""The settings audit trail: appended to, never edited, even by the application's own role on its
own tenant's rows; a tenant's or a user's deletion still goes through (the foreign keys' actions)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest

from renewflow import accounts, settings
from renewflow.db import Database


def _changed(database: Database, tenant: uuid.UUID, actor: settings.Actor) -> None:
    with database.tenant_transaction(tenant) as conn:
        _, keys = settings.update_settings(conn, {"company": {"ceo": "ceo@acme.example"}}, actor)
    assert keys == ["company.ceo"]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE tenant_settings_changes SET keys = ARRAY['nothing']",
        "UPDATE tenant_settings_changes SET actor = 'someone else'",
        "DELETE FROM tenant_settings_changes",
    ],
)
def test_the_app_role_cannot_edit_or_erase_its_own_trail(
    database: Database, tenant_factory: Callable[..., uuid.UUID], statement: str
) -> None:
    tenant = tenant_factory("Audit")
    _changed(database, tenant, settings.Actor(label="cli:ops"))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="never edited"):
        with database.tenant_transaction(tenant) as conn:
            conn.execute(statement)
    with database.tenant_transaction(tenant) as conn:
        rows, total = settings.list_changes(conn)
    assert total == 1
    assert (rows[0]["actor"], rows[0]["keys"]) == ("cli:ops", ["company.ceo"])


def test_deleting_the_actor_keeps_the_record_and_who_it_was(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory("Audit")
    with database.tenant_transaction(tenant) as conn:
        ada = accounts.create_user(conn, email="ada@acme.example", role=accounts.Role.ADMIN)
    _changed(database, tenant, settings.Actor(label="ada@acme.example", user_id=ada["id"]))
    with database.tenant_transaction(tenant) as conn:
        conn.execute("DELETE FROM users WHERE id = %s", (ada["id"],))
        rows, _ = settings.list_changes(conn)
    assert (rows[0]["actor"], rows[0]["actor_user_id"]) == ("ada@acme.example", None)


def test_deleting_the_tenant_deletes_its_trail(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory("Audit")
    _changed(database, tenant, settings.Actor(label="cli:ops"))
    with database.service_transaction() as conn:
        conn.execute("DELETE FROM tenants WHERE id = %s", (tenant,))
        left = conn.execute(
            "SELECT count(*) AS n FROM tenant_settings_changes WHERE tenant_id = %s", (tenant,)
        ).fetchone()
    assert left == {"n": 0}
