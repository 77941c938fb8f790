"""Knowledge bases for retrieval-augmented chat: documents uploaded per tenant, extracted,
chunked and indexed on the job queue; full-text search (PostgreSQL, weighted title and body),
optional embeddings (any OpenAI-compatible `/embeddings` endpoint, stored with pgvector where the
extension exists) and a hybrid of both (reciprocal-rank fusion).

The search the chat's `rag_search` tool calls::

    renewflow.knowledge.search(
        conn,                      # the caller's tenant transaction: RLS isolates tenants
        *,
        query: str,                # websearch syntax: words, "a phrase", -excluded, or
        knowledge_base_ids: Sequence[UUID] | None = None,   # None: every base of the tenant
        limit: int = 10,           # 1..50
        mode: str = "fulltext",    # "fulltext", "vector" or "hybrid"
        query_embedding: QueryEmbedding | None = None,      # needed by vector and hybrid
    ) -> SearchResult

`SearchResult.chunks` are `SearchChunk`s, best first: `chunk_id`, `document_id`,
`document_title`, `knowledge_base_id`, `title` (with the headings above the chunk), `text`,
`ordinal`, `score` (higher is better, comparable within one result) and `rank` (1 for the best).
`SearchResult.reason` is None, or why there are no chunks (e.g. `STOP_WORDS_ONLY`): a query of
stop words only is not an error. Bad arguments raise `InvalidInputError` naming the argument.

A vector or hybrid search needs `query_embedding = embed_query(query)`, called before the
transaction opens (the endpoint may take seconds: no transaction waits on it); a base embedded
with another model or dimension raises `DimensionMismatch` (a conflict: re-index it), and a
deployment without embeddings raises `EmbeddingsUnavailable`.
"""

from renewflow.knowledge.embeddings import (
    Embedder,
    EmbeddingSettings,
    QueryEmbedding,
    default_embedder,
)
from renewflow.knowledge.errors import (
    DimensionMismatch,
    DocumentNotFound,
    DocumentTooLarge,
    EmbeddingError,
    EmbeddingsUnavailable,
    KnowledgeBaseNotFound,
    UnreadableDocument,
    UnsupportedDocument,
)
from renewflow.knowledge.extract import FORMATS, Extracted, detect_format, extract
from renewflow.knowledge.models import (
    Document,
    DocumentStatus,
    KnowledgeBase,
    KnowledgeBaseCreate,
    ReindexIn,
    ReindexResult,
    SearchChunk,
    SearchIn,
    SearchMode,
    SearchResult,
)
from renewflow.knowledge.queue import IndexQueue
from renewflow.knowledge.search import NO_MATCH, STOP_WORDS_ONLY, embed_query, search
from renewflow.knowledge.service import (
    add_document,
    create_base,
    delete_base,
    delete_document,
    get_base,
    get_document,
    has_embeddings,
    list_bases,
    list_documents,
    reindex_base,
    resolve_base,
)

__all__ = [
    "FORMATS",
    "NO_MATCH",
    "STOP_WORDS_ONLY",
    "DimensionMismatch",
    "Document",
    "DocumentNotFound",
    "DocumentStatus",
    "DocumentTooLarge",
    "Embedder",
    "EmbeddingError",
    "EmbeddingSettings",
    "EmbeddingsUnavailable",
    "Extracted",
    "IndexQueue",
    "KnowledgeBase",
    "KnowledgeBaseCreate",
    "KnowledgeBaseNotFound",
    "QueryEmbedding",
    "ReindexIn",
    "ReindexResult",
    "SearchChunk",
    "SearchIn",
    "SearchMode",
    "SearchResult",
    "UnreadableDocument",
    "UnsupportedDocument",
    "add_document",
    "create_base",
    "default_embedder",
    "delete_base",
    "delete_document",
    "detect_format",
    "embed_query",
    "extract",
    "get_base",
    "get_document",
    "has_embeddings",
    "list_bases",
    "list_documents",
    "reindex_base",
    "resolve_base",
    "search",
]
