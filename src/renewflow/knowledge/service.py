"""Knowledge bases and their documents, inside the caller's tenant transaction.

An upload is extracted before anything is written (a refused file leaves no row), then stored
with its indexing job queued by the same INSERT: the document row is the job.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePath
from typing import Any
from uuid import UUID

import psycopg

from renewflow.db import Connection, load_queries
from renewflow.errors import ConflictError
from renewflow.knowledge.errors import (
    DocumentNotFound,
    InvalidInputError,
    KnowledgeBaseNotFound,
)
from renewflow.knowledge.extract import extract
from renewflow.knowledge.limits import MAX_FILENAME_CHARS, MAX_TITLE_CHARS
from renewflow.knowledge.models import (
    Document,
    KnowledgeBase,
    KnowledgeBaseCreate,
    ReindexResult,
)

_Q = load_queries("renewflow.knowledge")


def create_base(conn: Connection, body: KnowledgeBaseCreate) -> KnowledgeBase:
    row = conn.execute(
        _Q["create_base"],
        {
            "name": body.name,
            "description": body.description,
            "embedding_dimensions": body.embedding_dimensions,
        },
    ).fetchone()
    if row is None:
        raise ConflictError(f"a knowledge base named {body.name!r} already exists")
    return KnowledgeBase.model_validate(row)


def list_bases(conn: Connection) -> list[KnowledgeBase]:
    return [KnowledgeBase.model_validate(r) for r in conn.execute(_Q["list_bases"]).fetchall()]


def get_base(conn: Connection, base_id: UUID) -> KnowledgeBase:
    row = conn.execute(_Q["get_base"], {"id": base_id}).fetchone()
    if row is None:
        raise KnowledgeBaseNotFound(base_id)
    return KnowledgeBase.model_validate(row)


def resolve_base(conn: Connection, id_or_name: str) -> UUID:
    """A base named by its id or its name (what the CLI accepts)."""
    try:
        base_id = UUID(id_or_name)
    except ValueError:
        row = conn.execute(_Q["find_base_by_name"], {"name": id_or_name.strip()}).fetchone()
        if row is None:
            raise KnowledgeBaseNotFound(repr(id_or_name)) from None
        found: UUID = row["id"]
        return found
    get_base(conn, base_id)
    return base_id


def delete_base(conn: Connection, base_id: UUID) -> None:
    """Deletes the base with its documents and chunks."""
    if conn.execute(_Q["delete_base"], {"id": base_id}).fetchone() is None:
        raise KnowledgeBaseNotFound(base_id)


def _lock_base(conn: Connection, base_id: UUID) -> dict[str, Any]:
    row = conn.execute(_Q["lock_base"], {"id": base_id}).fetchone()
    if row is None:
        raise KnowledgeBaseNotFound(base_id)
    return row


def add_document(
    conn: Connection,
    base_id: UUID,
    data: bytes,
    filename: str,
    *,
    content_type: str | None = None,
    title: str | None = None,
) -> Document:
    """Extracts `data` and stores it, queued for indexing (see the module docstring). Refused,
    with nothing written: a base that is not the caller's (404), an unsupported type (415), an
    over-size file (413), an undecodable one or one without text (422)."""
    name = PurePath(filename.replace("\\", "/")).name.strip()
    if not name:
        raise InvalidInputError("filename", "must not be empty")
    if len(name) > MAX_FILENAME_CHARS:
        raise InvalidInputError("filename", f"at most {MAX_FILENAME_CHARS} characters")
    if title is not None:
        title = title.strip()
        if len(title) > MAX_TITLE_CHARS:
            raise InvalidInputError("title", f"at most {MAX_TITLE_CHARS} characters")
        if "\x00" in title:
            raise InvalidInputError("title", "must not contain NUL characters")
    _lock_base(conn, base_id)
    extracted = extract(data, name, content_type)
    chosen = title or extracted.title or PurePath(name).stem or name
    row = conn.execute(
        _Q["insert_document"],
        {
            "knowledge_base_id": base_id,
            "title": chosen[:MAX_TITLE_CHARS],
            "filename": name,
            "format": extracted.format,
            "size_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "content": extracted.text,
        },
    ).fetchone()
    assert row is not None
    return Document.model_validate(row)


def list_documents(conn: Connection, base_id: UUID) -> list[Document]:
    get_base(conn, base_id)
    rows = conn.execute(_Q["list_documents"], {"knowledge_base_id": base_id}).fetchall()
    return [Document.model_validate(r) for r in rows]


def get_document(conn: Connection, base_id: UUID, document_id: UUID) -> Document:
    row = conn.execute(
        _Q["get_document"], {"id": document_id, "knowledge_base_id": base_id}
    ).fetchone()
    if row is None:
        get_base(conn, base_id)  # which of the two is missing
        raise DocumentNotFound(document_id)
    return Document.model_validate(row)


def delete_document(conn: Connection, base_id: UUID, document_id: UUID) -> None:
    """Deletes the document and its chunks (a job running for it then finds its lease gone)."""
    found = conn.execute(
        _Q["delete_document"], {"id": document_id, "knowledge_base_id": base_id}
    ).fetchone()
    if found is None:
        get_base(conn, base_id)
        raise DocumentNotFound(document_id)


def reindex_base(
    conn: Connection,
    base_id: UUID,
    *,
    embedding_model: str | None,
    embedding_dimensions: int | None = None,
) -> ReindexResult:
    """Queues every document of the base again, for `embedding_model` (None: full-text only)."""
    _lock_base(conn, base_id)
    try:
        conn.execute(
            _Q["reindex_base"],
            {
                "id": base_id,
                "embedding_model": embedding_model,
                "embedding_dimensions": embedding_dimensions,
            },
        )
    except psycopg.errors.StringDataRightTruncation:
        raise InvalidInputError("embedding_model", "at most 255 characters") from None
    queued = conn.execute(_Q["requeue_documents"], {"id": base_id}).fetchall()
    return ReindexResult(
        knowledge_base_id=base_id, embedding_model=embedding_model, queued=len(queued)
    )


def has_embeddings(conn: Connection) -> bool:
    row = conn.execute(_Q["has_embeddings"]).fetchone()
    return bool(row and row["present"])
