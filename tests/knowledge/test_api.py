"""The knowledge API on a real server: bases, uploads indexed by the queue, search, bad input."""

from __future__ import annotations

import uuid

import httpx
import pytest

from renewflow.db import Database
from renewflow.knowledge import STOP_WORDS_ONLY
from renewflow.knowledge.limits import MAX_DOCUMENT_BYTES
from tests.knowledge.conftest import run_worker_until
from tests.knowledge.helpers import MARKDOWN, create_base, tenant_key, upload


def _counts(database: Database, tenant_id: uuid.UUID) -> tuple[int, int]:
    with database.tenant_transaction(tenant_id) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM knowledge_documents) AS documents,"
            " (SELECT count(*) FROM knowledge_chunks) AS chunks"
        ).fetchone()
    assert row is not None
    return row["documents"], row["chunks"]


def test_upload_is_indexed_by_the_worker_then_found(
    client: httpx.Client, database: Database, tenant_factory, make_key
) -> None:
    tenant_id, headers = tenant_key(tenant_factory, make_key)
    base_id = create_base(client, headers)
    answer = upload(client, headers, base_id, "playbook.md", MARKDOWN, "text/markdown")
    assert answer.status_code == 202, answer.text
    document = answer.json()
    assert (document["status"], document["format"], document["title"]) == (
        "queued",
        "md",
        "Renewal playbook",
    )
    status_url = f"/api/knowledge/bases/{base_id}/documents/{document['id']}"

    def ready() -> bool:
        status: str = client.get(status_url, headers=headers).json()["status"]
        return status == "ready"

    run_worker_until(database, ready)
    indexed = client.get(status_url, headers=headers).json()
    assert indexed["chunk_count"] >= 2
    assert indexed["indexed_at"] is not None

    found = client.post(
        "/api/knowledge/search", json={"query": "price increase approval"}, headers=headers
    )
    assert found.status_code == 200, found.text
    result = found.json()
    assert result["reason"] is None
    best = result["chunks"][0]
    assert "seven percent" in best["text"]
    assert best["rank"] == 1
    assert best["document_title"] == "Renewal playbook"
    assert best["title"] == "Renewal playbook › Pricing"
    assert best["knowledge_base_id"] == base_id
    scores = [c["score"] for c in result["chunks"]]
    assert scores == sorted(scores, reverse=True)

    listed = client.get(f"/api/knowledge/bases/{base_id}", headers=headers).json()
    assert (listed["document_count"], listed["chunk_count"]) == (1, indexed["chunk_count"])
    assert client.delete(status_url, headers=headers).status_code == 204
    assert client.get(status_url, headers=headers).status_code == 404
    assert _counts(database, tenant_id) == (0, 0)
    assert client.delete(f"/api/knowledge/bases/{base_id}", headers=headers).status_code == 204
    assert client.get(f"/api/knowledge/bases/{base_id}", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("filename", "data", "status", "says"),
    [
        ("setup.exe", b"MZ\x90\x00", 415, "unsupported file type"),
        ("notes", b"hello", 415, "unsupported file type"),
        ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), 422, "not UTF-8"),
        ("blank.md", b"   \n\n  \t\n", 422, "no text"),
        ("empty.txt", b"", 422, "empty"),
        ("broken.json", b'{"title": ', 422, "not valid JSON"),
        ("nul.txt", b"a\x00b", 422, "NUL"),
        ("scan.pdf", b"%PDF-1.4 garbage", 422, "PDF"),
        ("letter.docx", b"PK not a zip", 422, "docx"),
        ("big.txt", b"renewal " * (MAX_DOCUMENT_BYTES // 8 + 1), 413, "at most"),
    ],
)
def test_refused_uploads_write_nothing(
    client: httpx.Client,
    database: Database,
    tenant_factory,
    make_key,
    filename: str,
    data: bytes,
    status: int,
    says: str,
) -> None:
    tenant_id, headers = tenant_key(tenant_factory, make_key)
    base_id = create_base(client, headers)
    answer = upload(client, headers, base_id, filename, data)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert says in answer.json()["detail"]
    assert _counts(database, tenant_id) == (0, 0)


def test_a_query_of_stop_words_is_200_with_a_reason(
    client: httpx.Client, tenant_factory, make_key
) -> None:
    _, headers = tenant_key(tenant_factory, make_key)
    create_base(client, headers)
    answer = client.post(
        "/api/knowledge/search", json={"query": "the and of it is"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["chunks"] == []
    assert answer.json()["reason"] == STOP_WORDS_ONLY


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "body.query"),
        ({"query": "x" * 1001}, "body.query"),
        ({"query": "renewal", "limit": 0}, "body.limit"),
        ({"query": "renewal", "mode": "psychic"}, "body.mode"),
    ],
)
def test_bad_search_input_is_422_naming_the_field(
    client: httpx.Client, tenant_factory, make_key, body: dict[str, object], field: str
) -> None:
    _, headers = tenant_key(tenant_factory, make_key)
    answer = client.post("/api/knowledge/search", json=body, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == field


def test_another_tenants_base_is_404_everywhere(
    client: httpx.Client, database: Database, tenant_factory, make_key, index
) -> None:
    b_tenant, b_headers = tenant_key(tenant_factory, make_key)
    b_base = create_base(client, b_headers)
    document = upload(client, b_headers, b_base, "playbook.md", MARKDOWN).json()
    index()
    _, a_headers = tenant_key(tenant_factory, make_key)
    base = f"/api/knowledge/bases/{b_base}"
    doc = f"{base}/documents/{document['id']}"
    for method, url in [
        ("GET", base),
        ("DELETE", base),
        ("GET", f"{base}/documents"),
        ("GET", doc),
        ("DELETE", doc),
        ("POST", f"{base}/reindex"),
    ]:
        assert client.request(method, url, headers=a_headers).status_code == 404, (method, url)
    assert upload(client, a_headers, b_base, "x.md", MARKDOWN).status_code == 404
    search = client.post(
        "/api/knowledge/search",
        json={"query": "pricing", "knowledge_base_ids": [b_base]},
        headers=a_headers,
    )
    assert search.status_code == 404
    everything = client.post("/api/knowledge/search", json={"query": "pricing"}, headers=a_headers)
    assert everything.status_code == 200
    assert everything.json()["chunks"] == []
    assert client.get("/api/knowledge/bases", headers=a_headers).json() == []
    # and B's rows are untouched
    assert _counts(database, b_tenant)[0] == 1


def test_a_csm_searches_but_does_not_edit(client: httpx.Client, tenant_factory, make_key) -> None:
    from tests.api.conftest import bearer

    tenant_id = tenant_factory("KB")
    _, admin = make_key(tenant_id, "admin")
    _, csm = make_key(tenant_id, "csm")
    base_id = create_base(client, bearer(admin))
    assert upload(client, bearer(csm), base_id, "a.md", MARKDOWN).status_code == 403
    assert (
        client.post("/api/knowledge/bases", json={"name": "mine"}, headers=bearer(csm)).status_code
        == 403
    )
    assert client.get("/api/knowledge/bases", headers=bearer(csm)).status_code == 200
    assert (
        client.post(
            "/api/knowledge/search", json={"query": "churn"}, headers=bearer(csm)
        ).status_code
        == 200
    )


def test_duplicate_base_name_is_409(client: httpx.Client, tenant_factory, make_key) -> None:
    _, headers = tenant_key(tenant_factory, make_key)
    create_base(client, headers, "Playbooks")
    again = client.post("/api/knowledge/bases", json={"name": "Playbooks"}, headers=headers)
    assert again.status_code == 409


def test_vector_search_without_embeddings_is_409(
    client: httpx.Client, tenant_factory, make_key, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, headers = tenant_key(tenant_factory, make_key)
    answer = client.post(
        "/api/knowledge/search", json={"query": "churn", "mode": "hybrid"}, headers=headers
    )
    assert answer.status_code == 409
    assert "embeddings" in answer.json()["detail"]


def test_openapi_documents_the_knowledge_routes(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    upload_op = paths["/api/knowledge/bases/{base_id}/documents"]["post"]
    assert {"413", "415", "422"} <= set(upload_op["responses"])
    assert "multipart/form-data" in upload_op["requestBody"]["content"]
    for path in (
        "/api/knowledge/bases",
        "/api/knowledge/bases/{base_id}",
        "/api/knowledge/bases/{base_id}/documents/{document_id}",
        "/api/knowledge/bases/{base_id}/reindex",
        "/api/knowledge/search",
    ):
        assert path in paths
