"""Seeding the core library into a real PostgreSQL database of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from renewflow.db import Database, Migrator
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core


@pytest.fixture
def fresh_database(make_database: Callable[[], str]) -> Iterator[Database]:
    """A migrated database of this test's own: seeding writes core rows every tenant sees."""
    url = make_database()
    Migrator(url).migrate()
    with Database(url, max_size=2) as database:
        yield database


def versions(database: Database) -> list[dict[str, Any]]:
    with database.service_transaction() as conn:
        return conn.execute(
            "SELECT w.workflow_id, v.version, v.change_description, v.tenant_id"
            " FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id"
            " ORDER BY w.workflow_id, v.version"
        ).fetchall()


def test_seed_inserts_core_rows_then_is_idempotent(fresh_database: Database) -> None:
    library = core_library()
    ids = sorted(config.id for config in library)
    with fresh_database.service_transaction() as conn:
        first = seed_core(conn, library)
    assert sorted(first.inserted) == ids
    assert first.updated == first.unchanged == []
    with fresh_database.service_transaction() as conn:
        rows = conn.execute(
            "SELECT workflow_id, is_core, tenant_id, version, config->>'id' AS config_id"
            " FROM workflows ORDER BY workflow_id"
        ).fetchall()
    assert [(r["workflow_id"], r["is_core"], r["tenant_id"], r["config_id"]) for r in rows] == [
        (i, True, None, i) for i in ids
    ]
    assert [(v["workflow_id"], v["version"]) for v in versions(fresh_database)] == [
        (i, 1) for i in ids
    ]
    assert {v["change_description"] for v in versions(fresh_database)} == {
        "seeded from the core library"
    }

    with fresh_database.service_transaction() as conn:
        again = seed_core(conn, core_library())
    assert sorted(again.unchanged) == ids
    assert again.inserted == again.updated == []
    assert len(versions(fresh_database)) == len(ids)


def test_a_changed_workflow_writes_exactly_one_version(fresh_database: Database) -> None:
    library = core_library()
    with fresh_database.service_transaction() as conn:
        seed_core(conn, library)
    changed = [
        c.model_copy(update={"description": c.description + " Revised."})
        if c.id == "critical"
        else c
        for c in library
    ]
    with fresh_database.service_transaction() as conn:
        result = seed_core(conn, changed)
    assert result.updated == ["critical"]
    assert len(result.unchanged) == len(library) - 1
    critical = [v["version"] for v in versions(fresh_database) if v["workflow_id"] == "critical"]
    assert critical == [1, 2]
    with fresh_database.service_transaction() as conn:
        stored = conn.execute(
            "SELECT description, config->>'description' AS in_config FROM workflows"
            " WHERE workflow_id = 'critical'"
        ).fetchone()
    assert stored is not None
    assert stored["description"] == stored["in_config"]
    assert stored["description"].endswith(" Revised.")


def test_a_failed_seed_writes_nothing(fresh_database: Database) -> None:
    library = core_library()

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with fresh_database.service_transaction() as conn:
            seed_core(conn, library)
            raise Boom
    assert versions(fresh_database) == []


def test_tenants_see_seeded_core_workflows_but_cannot_change_them(
    fresh_database: Database,
) -> None:
    from renewflow import accounts

    with fresh_database.service_transaction() as conn:
        seed_core(conn, core_library())
        tenant = accounts.create_tenant(conn, "Seed Reader")
    with fresh_database.tenant_transaction(tenant["id"]) as conn:
        seen = conn.execute("SELECT count(*) AS n FROM workflows WHERE is_core").fetchone()
        changed = conn.execute(
            "UPDATE workflows SET name = 'Mine' WHERE workflow_id = 'critical'"
        ).rowcount
    assert seen is not None
    assert seen["n"] == len(core_library())
    assert changed == 0
