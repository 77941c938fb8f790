"""Tenant isolation of knowledge chunks, in SQL as the app role and through search, including a
property test: whatever the query and the base ids asked for, a search never returns another
tenant's chunk."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renewflow import accounts, knowledge
from renewflow.db import Database
from renewflow.knowledge import IndexQueue, KnowledgeBaseCreate

_WORDS = [
    "renewal",
    "churn",
    "risk",
    "pricing",
    "discount",
    "escalation",
    "onboarding",
    "usage",
    "executive",
    "sponsor",
    "qbr",
    "expansion",
    "seats",
    "contract",
    "support",
    "ticket",
    "the",
    "and",
    "of",
    "not",
    "or",
    "-churn",
    '"renewal risk"',
]


def _tenant_with_documents(database: Database, words: list[str]) -> tuple[uuid.UUID, uuid.UUID]:
    with database.service_transaction() as conn:
        tenant_id: uuid.UUID = accounts.create_tenant(conn, f"Iso {uuid.uuid4().hex[:6]}")["id"]
    with database.tenant_transaction(tenant_id) as conn:
        base = knowledge.create_base(conn, KnowledgeBaseCreate(name="Shared name"))
        for n in range(6):
            text = " ".join(words[(n + i) % len(words)] for i in range(12)) + "."
            knowledge.add_document(conn, base.id, text.encode(), f"doc{n}.txt")
    return tenant_id, base.id


@pytest.fixture(scope="module")
def two_tenants(database: Database) -> dict[str, tuple[uuid.UUID, uuid.UUID]]:
    words = [w for w in _WORDS if w.isalpha() and w not in ("the", "and", "of", "not", "or")]
    tenants = {
        "a": _tenant_with_documents(database, words),
        "b": _tenant_with_documents(database, list(reversed(words))),
    }
    queue = IndexQueue(database)
    while leases := queue.claim("iso", 20, 30):
        for lease in leases:
            queue.run(lease)
    return tenants


def test_app_role_sees_only_its_own_chunks(database: Database, two_tenants) -> None:
    (a, _a_base), (b, b_base) = two_tenants["a"], two_tenants["b"]
    with database.tenant_transaction(a) as conn:
        rows = conn.execute("SELECT tenant_id, knowledge_base_id FROM knowledge_chunks").fetchall()
        assert rows
        assert {r["tenant_id"] for r in rows} == {a}
        hidden = conn.execute(
            "SELECT count(*) AS n FROM knowledge_chunks WHERE knowledge_base_id = %s", (b_base,)
        ).fetchone()
        assert hidden is not None
        assert hidden["n"] == 0
        deleted = conn.execute(
            "DELETE FROM knowledge_chunks WHERE knowledge_base_id = %s", (b_base,)
        )
        assert deleted.rowcount == 0
    with database.tenant_transaction(b) as conn:
        row = conn.execute("SELECT count(*) AS n FROM knowledge_chunks").fetchone()
        assert row is not None
        assert row["n"] == 6


_MATCHING = "SELECT id FROM knowledge_chunks_matching(%s::tsquery, %s::uuid[], 1000)"


def test_the_index_function_returns_only_the_callers_chunks(
    database: Database, two_tenants
) -> None:
    """knowledge_chunks_matching runs as the schema owner (so that the GIN index serves `@@`):
    the tenant rule is its own, checked here as the app role."""
    (a, a_base), (b, b_base) = two_tenants["a"], two_tenants["b"]
    with database.tenant_transaction(a) as conn:
        own = {
            r["id"]
            for r in conn.execute(
                "SELECT id FROM knowledge_chunks WHERE search @@ 'renew | churn'::tsquery"
            )
        }
        everything = {r["id"] for r in conn.execute(_MATCHING, ("renew | churn", None))}
        other_base = conn.execute(_MATCHING, ("renew | churn", [b_base])).fetchall()
        own_base = {r["id"] for r in conn.execute(_MATCHING, ("renew | churn", [a_base]))}
    assert own
    assert everything == own_base == own
    assert other_base == []
    with database.app_connection() as conn:
        assert conn.execute(_MATCHING, ("renew | churn", None)).fetchall() == []
    with database.tenant_transaction(b) as conn:
        theirs = {r["id"] for r in conn.execute(_MATCHING, ("renew | churn", None))}
    assert theirs
    assert not theirs & own


def test_the_index_function_can_read_every_chunk(database: Database) -> None:
    """Its owner is subject to the forced policies unless a superuser: it needs its own."""
    with database.owner_connection() as conn:
        row = conn.execute(
            """SELECT r.rolsuper OR r.rolbypassrls OR EXISTS (
                        SELECT 1 FROM pg_policy pol
                        WHERE pol.polrelid = 'knowledge_chunks'::regclass
                          AND pol.polcmd IN ('r', '*') AND p.proowner = ANY (pol.polroles)
                          AND pg_get_expr(pol.polqual, pol.polrelid) = 'true'
                      ) AS reads_all,
                      p.prosecdef AS definer
               FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
               WHERE p.proname = 'knowledge_chunks_matching'"""
        ).fetchone()
    assert row == {"reads_all": True, "definer": True}


def test_a_chunk_cannot_point_into_another_tenants_document(
    database: Database, two_tenants
) -> None:
    import psycopg

    (a, a_base), (b, _) = two_tenants["a"], two_tenants["b"]
    with database.service_transaction() as conn:
        doc = conn.execute(
            "SELECT id, knowledge_base_id FROM knowledge_documents WHERE tenant_id = %s LIMIT 1",
            (b,),
        ).fetchone()
    assert doc is not None
    with pytest.raises(psycopg.errors.ForeignKeyViolation), database.tenant_transaction(a) as c:
        c.execute(
            "INSERT INTO knowledge_chunks (tenant_id, knowledge_base_id, document_id, ordinal,"
            " body) VALUES (current_tenant_id(), %s, %s, 99, 'stolen')",
            (a_base, doc["id"]),
        )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    words=st.lists(st.sampled_from(_WORDS), min_size=1, max_size=5),
    ask_for=st.sampled_from(["none", "own", "other", "both"]),
    mode_limit=st.integers(min_value=1, max_value=50),
)
def test_search_never_returns_another_tenants_chunk(
    database: Database, two_tenants, words: list[str], ask_for: str, mode_limit: int
) -> None:
    (a, a_base), (_, b_base) = two_tenants["a"], two_tenants["b"]
    ids = {"none": None, "own": [a_base], "other": [b_base], "both": [a_base, b_base]}[ask_for]
    with database.tenant_transaction(a) as conn:
        own = {r["id"] for r in conn.execute("SELECT id FROM knowledge_chunks").fetchall()}
        result = knowledge.search(
            conn, query=" ".join(words), knowledge_base_ids=ids, limit=mode_limit
        )
    found = {c.chunk_id for c in result.chunks}
    assert found <= own
    assert all(c.knowledge_base_id == a_base for c in result.chunks)
    if ask_for == "other":
        assert not found
    assert (result.reason is None) == bool(found)
