"""`Database.service_statement`: one statement as the service role in its own transaction, its
rows returned, and the pooled connection handed back as every other caller expects it (in
transaction mode, outside any transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from renewflow.db import Database


def test_a_statement_commits_alone_and_returns_its_rows(database: Database) -> None:
    name = f"statement-{uuid.uuid4().hex[:8]}"
    rows = database.service_statement(
        "INSERT INTO tenants (name) VALUES (%(name)s) RETURNING name, current_user AS role",
        {"name": name},
    )
    assert rows == [{"name": name, "role": "renewflow_service"}]
    # committed: another connection sees it at once
    with database.service_transaction() as conn:
        seen = conn.execute("SELECT count(*) AS n FROM tenants WHERE name = %s", (name,)).fetchone()
    assert seen == {"n": 1}
    assert database.service_statement("SELECT 1 AS one WHERE false") == []


@pytest.fixture
def one_connection(migrated_url: str) -> Iterator[Database]:
    """A service pool of one connection: what `service_statement` hands back is what comes next."""
    with Database(migrated_url, max_size=1, service_max_size=1) as database:
        yield database


def test_a_failed_statement_changes_nothing_and_leaves_the_pool_as_it_was(
    one_connection: Database,
) -> None:
    database = one_connection
    name = f"statement-{uuid.uuid4().hex[:8]}"
    with pytest.raises(psycopg.errors.NotNullViolation):
        database.service_statement(
            "INSERT INTO tenants (name) VALUES (%(name)s), (NULL)", {"name": name}
        )
    with database.service_transaction() as conn:
        assert not conn.autocommit
        seen = conn.execute("SELECT count(*) AS n FROM tenants WHERE name = %s", (name,)).fetchone()
        assert seen == {"n": 0}
    # and the connections' next transaction is one: what it wrote before failing is gone
    with pytest.raises(RuntimeError), database.service_transaction() as conn:
        conn.execute("INSERT INTO tenants (name) VALUES (%s)", (name,))
        raise RuntimeError("the caller fails")
    with database.service_transaction() as conn:
        seen = conn.execute("SELECT count(*) AS n FROM tenants WHERE name = %s", (name,)).fetchone()
    assert seen == {"n": 0}
