"""Knowledge bases, their documents, search and re-index (docs/knowledge.md).

An upload answers 202: the document is stored and its indexing queued in the same transaction;
its status (GET) says when it is searchable. A vector or hybrid search embeds the query before
its transaction opens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, Response, UploadFile
from fastapi import status as http
from starlette.concurrency import run_in_threadpool

from renewflow import knowledge
from renewflow.accounts import Role
from renewflow.api.deps import SessionDep, require_role
from renewflow.knowledge import (
    Document,
    Embedder,
    EmbeddingError,
    KnowledgeBase,
    KnowledgeBaseCreate,
    QueryEmbedding,
    ReindexIn,
    ReindexResult,
    SearchIn,
    SearchMode,
    SearchResult,
)
from renewflow.knowledge.limits import MAX_DOCUMENT_BYTES

router = APIRouter(prefix="/api/knowledge", tags=["knowledge"])

# Bases and documents change what every CSM's chat answers from.
_Editors = Depends(require_role(Role.ADMIN, Role.MANAGER, Role.SERVICE))

_PROBLEM = {"description": "An RFC 9457 problem"}
_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {**_PROBLEM, "description": "no such knowledge base in the caller's tenant"},
    413: {**_PROBLEM, "description": f"the file is over {MAX_DOCUMENT_BYTES:,} bytes"},
    415: {**_PROBLEM, "description": "not a file type renewflow reads (or its extra is missing)"},
    422: {**_PROBLEM, "description": "undecodable, unparsable, or no extractable text"},
}
_SEARCH_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {**_PROBLEM, "description": "a knowledge base of knowledge_base_ids is not the tenant's"},
    409: {
        **_PROBLEM,
        "description": "a base's embeddings have another model or dimension (re-index it), or "
        "embeddings are not available (vector and hybrid modes)",
    },
    502: {**_PROBLEM, "description": "the embeddings endpoint refused the query"},
    503: {**_PROBLEM, "description": "the embeddings endpoint is not reachable"},
}


def _embedder(request: Request) -> Embedder | None:
    """The app's embedder if one was given to it (`app.state.knowledge_embedder`), else the one
    the environment configures."""
    state = request.app.state
    if hasattr(state, "knowledge_embedder"):
        given: Embedder | None = state.knowledge_embedder
        return given
    return knowledge.default_embedder()


_EmbedderDep = Annotated[Embedder | None, Depends(_embedder)]


@contextmanager
def _statuses() -> Iterator[None]:
    """An embeddings endpoint's failure: the gateway's (502), or away for now (503)."""
    try:
        yield
    except EmbeddingError as error:
        raise HTTPException(503 if error.retryable else 502, error.message) from None


@router.post("/bases", status_code=http.HTTP_201_CREATED, dependencies=[_Editors])
def create_base(body: KnowledgeBaseCreate, session: SessionDep) -> KnowledgeBase:
    """A knowledge base (409 if the tenant has one of that name)."""
    with session.transaction() as conn:
        return knowledge.create_base(conn, body)


@router.get("/bases")
def list_bases(session: SessionDep) -> list[KnowledgeBase]:
    with session.transaction() as conn:
        return knowledge.list_bases(conn)


@router.get("/bases/{base_id}")
def get_base(base_id: UUID, session: SessionDep) -> KnowledgeBase:
    with session.transaction() as conn:
        return knowledge.get_base(conn, base_id)


@router.delete("/bases/{base_id}", status_code=http.HTTP_204_NO_CONTENT, dependencies=[_Editors])
def delete_base(base_id: UUID, session: SessionDep) -> Response:
    """Deletes the base with its documents and chunks."""
    with session.transaction() as conn:
        knowledge.delete_base(conn, base_id)
    return Response(status_code=http.HTTP_204_NO_CONTENT)


@router.post(
    "/bases/{base_id}/documents",
    status_code=http.HTTP_202_ACCEPTED,
    dependencies=[_Editors],
    responses=_UPLOAD_ERRORS,
)
async def upload_document(
    base_id: UUID,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="txt, md, html, csv, json, pdf or docx")],
    title: Annotated[
        str | None, Form(description="the document's title (default: its own, or the filename)")
    ] = None,
) -> Document:
    """Stores the file's text and queues its indexing, in one transaction; nothing is written
    for a refused file. The answer's `status` is `queued`: poll the document for `ready`."""
    data = await file.read(MAX_DOCUMENT_BYTES + 1)
    filename = file.filename or ""
    content_type = file.content_type

    def store() -> Document:
        with _statuses(), session.transaction() as conn:
            return knowledge.add_document(
                conn, base_id, data, filename, content_type=content_type, title=title
            )

    return await run_in_threadpool(store)


@router.get("/bases/{base_id}/documents")
def list_documents(base_id: UUID, session: SessionDep) -> list[Document]:
    with session.transaction() as conn:
        return knowledge.list_documents(conn, base_id)


@router.get("/bases/{base_id}/documents/{document_id}")
def get_document(base_id: UUID, document_id: UUID, session: SessionDep) -> Document:
    """The document and its indexing status (queued, indexing, ready, failed with last_error)."""
    with session.transaction() as conn:
        return knowledge.get_document(conn, base_id, document_id)


@router.delete(
    "/bases/{base_id}/documents/{document_id}",
    status_code=http.HTTP_204_NO_CONTENT,
    dependencies=[_Editors],
)
def delete_document(base_id: UUID, document_id: UUID, session: SessionDep) -> Response:
    with session.transaction() as conn:
        knowledge.delete_document(conn, base_id, document_id)
    return Response(status_code=http.HTTP_204_NO_CONTENT)


@router.post(
    "/bases/{base_id}/reindex", status_code=http.HTTP_202_ACCEPTED, dependencies=[_Editors]
)
def reindex_base(
    base_id: UUID,
    session: SessionDep,
    embedder: _EmbedderDep,
    body: ReindexIn | None = None,
) -> ReindexResult:
    """Queues every document again, for the embeddings model configured now (after a model
    change; none configured: full-text only). Old chunks stay searchable until replaced."""
    with session.transaction() as conn:
        return knowledge.reindex_base(
            conn,
            base_id,
            embedding_model=embedder.model if embedder is not None else None,
            embedding_dimensions=body.embedding_dimensions if body is not None else None,
        )


@router.post("/search", responses=_SEARCH_ERRORS)
def search(body: SearchIn, session: SessionDep, embedder: _EmbedderDep) -> SearchResult:
    """Ranked chunks with scores. A query of stop words only answers 200 with no chunks and a
    `reason`."""
    embedding: QueryEmbedding | None = None
    with _statuses():
        if body.mode is not SearchMode.FULLTEXT:
            embedding = knowledge.embed_query(body.query, embedder)  # no transaction open yet
    with session.transaction() as conn:
        for base_id in dict.fromkeys(body.knowledge_base_ids or ()):
            knowledge.get_base(conn, base_id)
        return knowledge.search(
            conn,
            query=body.query,
            knowledge_base_ids=body.knowledge_base_ids,
            limit=body.limit,
            mode=body.mode.value,
            query_embedding=embedding,
        )
