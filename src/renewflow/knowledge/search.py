"""Ranked chunks for a query: full-text, vector, or both fused by reciprocal rank.

Everything runs in the caller's tenant transaction: row-level security is what keeps another
tenant's chunks out, whatever ids are passed. A vector or hybrid search needs the query's
embedding, computed before the transaction opens (`embed_query`), so that no transaction waits on
the embeddings endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from renewflow.db import Connection, load_queries
from renewflow.knowledge.embeddings import (
    Embedder,
    QueryEmbedding,
    default_embedder,
    vector_literal,
)
from renewflow.knowledge.errors import (
    DimensionMismatch,
    EmbeddingsUnavailable,
    InvalidInputError,
)
from renewflow.knowledge.limits import MAX_QUERY_CHARS, MAX_SEARCH_LIMIT
from renewflow.knowledge.models import SearchChunk, SearchMode, SearchResult
from renewflow.knowledge.service import has_embeddings

_Q = load_queries("renewflow.knowledge")

STOP_WORDS_ONLY = "the query has only stop words (or no searchable words): nothing to search for"
NO_MATCH = "no indexed chunk matches the query"
RRF_K = 60
"""Reciprocal-rank fusion's constant (Cormack et al.): a chunk scores sum(1 / (RRF_K + rank))."""

RANK_CANDIDATES = 1000
"""Matches ranked at most per tier of a full-text search (see `search_fulltext`)."""

_FIELDS = ("chunk_id", "document_id", "document_title", "knowledge_base_id", "title", "text")


class _Configured:
    """The embedder the environment configures (`embed_query`'s default)."""


CONFIGURED = _Configured()


def embed_query(query: str, embedder: Embedder | _Configured | None = CONFIGURED) -> QueryEmbedding:
    """The query's embedding by `embedder` (by default the one the environment configures; None:
    there is none). Call it outside any transaction."""
    if isinstance(embedder, _Configured):
        embedder = default_embedder()
    if embedder is None:
        raise EmbeddingsUnavailable(
            "no embeddings endpoint is configured (RENEWFLOW_EMBEDDINGS_BASE_URL and "
            "RENEWFLOW_EMBEDDINGS_MODEL): only full-text search is available"
        )
    return embedder.embed_query(query)


def search(
    conn: Connection,
    *,
    query: str,
    knowledge_base_ids: Sequence[UUID] | None = None,
    limit: int = 10,
    mode: str = "fulltext",
    query_embedding: QueryEmbedding | None = None,
) -> SearchResult:
    """The best `limit` chunks for `query` among the caller's knowledge bases (or those of
    `knowledge_base_ids`). See `renewflow.knowledge` for the contract."""
    try:
        chosen = SearchMode(mode)
    except ValueError:
        names = ", ".join(m.value for m in SearchMode)
        raise InvalidInputError("mode", f"must be one of {names}") from None
    query = query.strip()
    if not query:
        raise InvalidInputError("query", "must not be empty")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInputError("query", f"at most {MAX_QUERY_CHARS} characters")
    if "\x00" in query:
        raise InvalidInputError("query", "must not contain NUL characters")
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise InvalidInputError("limit", f"must be between 1 and {MAX_SEARCH_LIMIT}")
    base_ids = list(knowledge_base_ids) if knowledge_base_ids is not None else None
    if chosen is not SearchMode.FULLTEXT and query_embedding is None:
        raise InvalidInputError(
            "query_embedding", f"a {chosen.value} search needs the query's embedding (embed_query)"
        )

    if chosen is SearchMode.FULLTEXT:
        rows, reason = _fulltext(conn, query, base_ids, limit)
        return _result(query, chosen, rows, reason)
    assert query_embedding is not None
    vector_rows = _vector(
        conn, query_embedding, base_ids, limit if chosen is SearchMode.VECTOR else _depth(limit)
    )
    if chosen is SearchMode.VECTOR:
        return _result(query, chosen, vector_rows, None if vector_rows else NO_MATCH)
    text_rows, reason = _fulltext(conn, query, base_ids, _depth(limit))
    fused = _fuse([text_rows, vector_rows], limit)
    return _result(query, chosen, fused, None if fused else reason or NO_MATCH)


def _depth(limit: int) -> int:
    """How deep each list of a fusion goes: deeper than the result, so that a chunk ranked well
    by one method and moderately by the other is found."""
    return max(50, 4 * limit)


def _fulltext(
    conn: Connection, query: str, base_ids: list[UUID] | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    terms = conn.execute(_Q["query_terms"], {"query": query}).fetchone()
    assert terms is not None
    if terms["words"] == 0 and terms["strict_nodes"] == 0:
        return [], STOP_WORDS_ONLY
    rows = conn.execute(
        _Q["search_fulltext"],
        {
            "strict": terms["strict"] if terms["strict_nodes"] else terms["loose"],
            "loose": terms["loose"] or terms["strict"],
            "base_ids": base_ids,
            "limit": limit,
            "candidates": RANK_CANDIDATES,
        },
    ).fetchall()
    return rows, None if rows else NO_MATCH


def _vector(
    conn: Connection, embedding: QueryEmbedding, base_ids: list[UUID] | None, limit: int
) -> list[dict[str, Any]]:
    if not has_embeddings(conn):
        raise EmbeddingsUnavailable(
            "this database has no pgvector extension: only full-text search is available"
        )
    bases = conn.execute(_Q["embedded_bases"], {"base_ids": base_ids}).fetchall()
    dimensions = len(embedding.vector)
    usable = []
    for base in bases:
        if base["embedding_model"] not in (None, embedding.model):
            raise DimensionMismatch(
                f"knowledge base {base['name']!r} is embedded with model "
                f"{base['embedding_model']!r}, not {embedding.model!r}: re-index it",
                knowledgeBaseId=str(base["id"]),
            )
        if base["embedding_dimensions"] is not None and base["embedding_dimensions"] != dimensions:
            raise DimensionMismatch(
                f"knowledge base {base['name']!r} has embeddings of dimension "
                f"{base['embedding_dimensions']}, the query's has {dimensions}: re-index it",
                knowledgeBaseId=str(base["id"]),
            )
        usable.append(base["id"])
    if not usable:
        return []
    return conn.execute(
        _Q["search_vector"],
        {
            "vector": vector_literal(embedding.vector),
            "base_ids": usable,
            "dimensions": dimensions,
            "limit": limit,
        },
    ).fetchall()


def _fuse(lists: list[list[dict[str, Any]]], limit: int) -> list[dict[str, Any]]:
    scores: dict[UUID, float] = {}
    rows: dict[UUID, dict[str, Any]] = {}
    for ranked in lists:
        for position, row in enumerate(ranked, start=1):
            key = row["chunk_id"]
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + position)
            rows.setdefault(key, row)
    order = sorted(scores, key=lambda k: (-scores[k], str(k)))[:limit]
    return [{**rows[k], "score": scores[k]} for k in order]


def _result(
    query: str, mode: SearchMode, rows: list[dict[str, Any]], reason: str | None
) -> SearchResult:
    chunks = [
        SearchChunk(
            **{name: row[name] for name in _FIELDS},
            ordinal=row["ordinal"],
            score=float(row["score"]),
            rank=rank,
        )
        for rank, row in enumerate(rows, start=1)
    ]
    return SearchResult(query=query, mode=mode, chunks=chunks, reason=None if chunks else reason)
