"""Embeddings: hybrid search, dimension and model mismatches (409), re-index, endpoint failures.
Vector storage needs pgvector (the embedded server has it); without it those tests skip."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from renewflow.db import Database
from renewflow.knowledge import has_embeddings
from tests.knowledge.conftest import FakeEmbeddings
from tests.knowledge.helpers import MARKDOWN, create_base, tenant_key, upload


@pytest.fixture
def vectors(database: Database) -> None:
    with database.service_transaction() as conn:
        if not has_embeddings(conn):
            pytest.skip("this PostgreSQL has no pgvector")


@pytest.fixture
def api(embedded_api: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=embedded_api, timeout=10) as http:
        yield http


def _doc(api: httpx.Client, headers: dict[str, str], base_id: str, doc_id: str) -> dict[str, Any]:
    answer = api.get(f"/api/knowledge/bases/{base_id}/documents/{doc_id}", headers=headers)
    body: dict[str, Any] = answer.json()
    return body


def test_hybrid_search_fuses_vectors_and_text(
    api: httpx.Client,
    vectors: None,
    fake_embeddings: FakeEmbeddings,
    tenant_factory,
    make_key,
    index,
) -> None:
    _, headers = tenant_key(tenant_factory, make_key)
    base_id = create_base(api, headers)
    doc = upload(api, headers, base_id, "playbook.md", MARKDOWN).json()
    assert index(fake_embeddings.embedder()) == 1
    indexed = _doc(api, headers, base_id, doc["id"])
    assert (indexed["status"], indexed["embedding_model"]) == ("ready", "fake-embed")
    base = api.get(f"/api/knowledge/bases/{base_id}", headers=headers).json()
    assert (base["embedding_model"], base["embedding_dimensions"]) == ("fake-embed", 16)
    for mode in ("vector", "hybrid"):
        answer = api.post(
            "/api/knowledge/search",
            json={"query": "weekly active users churn risk", "mode": mode},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        chunks = answer.json()["chunks"]
        assert chunks, mode
        assert "churn risk" in chunks[0]["text"], mode


def test_a_declared_dimension_refuses_other_vectors(
    api: httpx.Client,
    database: Database,
    vectors: None,
    fake_embeddings: FakeEmbeddings,
    tenant_factory,
    make_key,
    index,
) -> None:
    tenant_id, headers = tenant_key(tenant_factory, make_key)
    created = api.post(
        "/api/knowledge/bases", json={"name": "Sized", "embedding_dimensions": 8}, headers=headers
    )
    base_id = created.json()["id"]
    search = api.post(
        "/api/knowledge/search",
        json={"query": "churn", "mode": "hybrid", "knowledge_base_ids": [base_id]},
        headers=headers,
    )
    assert search.status_code == 409
    assert "dimension 8" in search.json()["detail"]
    doc = upload(api, headers, base_id, "playbook.md", MARKDOWN).json()
    index(fake_embeddings.embedder())
    failed = _doc(api, headers, base_id, doc["id"])
    assert failed["status"] == "failed"
    assert "dimension 16" in failed["last_error"]
    with database.tenant_transaction(tenant_id) as conn:
        row = conn.execute("SELECT count(*) AS n FROM knowledge_chunks").fetchone()
        assert row is not None
        assert row["n"] == 0
        base = conn.execute("SELECT embedding_model FROM knowledge_bases").fetchone()
        assert base is not None
        assert base["embedding_model"] is None


def test_a_model_change_is_409_until_reindexed(
    embedded_api: str,
    api: httpx.Client,
    vectors: None,
    fake_embeddings: FakeEmbeddings,
    tenant_factory,
    make_key,
    index,
) -> None:
    _, headers = tenant_key(tenant_factory, make_key)
    base_id = create_base(api, headers)
    upload(api, headers, base_id, "playbook.md", MARKDOWN)
    index(fake_embeddings.embedder("old-model"))
    query = {"query": "pricing discount", "mode": "hybrid"}
    stale = api.post("/api/knowledge/search", json=query, headers=headers)
    assert stale.status_code == 409
    assert "re-index" in stale.json()["detail"]
    reindexed = api.post(f"/api/knowledge/bases/{base_id}/reindex", headers=headers)
    assert reindexed.status_code == 202, reindexed.text
    assert reindexed.json() == {
        "knowledge_base_id": base_id,
        "embedding_model": "fake-embed",
        "queued": 1,
    }
    # full-text keeps working on the old chunks meanwhile
    text = api.post("/api/knowledge/search", json={"query": "pricing"}, headers=headers)
    assert text.json()["chunks"]
    assert index(fake_embeddings.embedder()) == 1
    fresh = api.post("/api/knowledge/search", json=query, headers=headers)
    assert fresh.status_code == 200
    assert fresh.json()["chunks"]


def test_an_unreachable_endpoint_is_retried_then_fails(
    api: httpx.Client, vectors: None, tenant_factory, make_key, index
) -> None:
    _, headers = tenant_key(tenant_factory, make_key)
    base_id = create_base(api, headers)
    doc = upload(api, headers, base_id, "playbook.md", MARKDOWN).json()
    down = FakeEmbeddings(fail_with=503)
    ran = index(down.embedder())
    assert ran == 5  # max_attempts, with no backoff in the test
    failed = _doc(api, headers, base_id, doc["id"])
    assert failed["status"] == "failed"
    assert "HTTP 503" in failed["last_error"]
    assert "gave up after 5" in failed["last_error"]


def test_a_refused_query_embedding_is_not_retryable() -> None:
    from renewflow.knowledge import EmbeddingError, embed_query

    with pytest.raises(EmbeddingError) as refused:
        embed_query("churn", FakeEmbeddings(fail_with=400).embedder())
    assert not refused.value.retryable
    with pytest.raises(EmbeddingError) as down:
        embed_query("churn", FakeEmbeddings(fail_with=503).embedder())
    assert down.value.retryable
