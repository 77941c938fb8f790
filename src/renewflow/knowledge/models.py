"""The knowledge package's models, shared by the API and the CLI."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from renewflow.knowledge.limits import MAX_QUERY_CHARS, MAX_SEARCH_LIMIT


class SearchMode(StrEnum):
    FULLTEXT = "fulltext"
    VECTOR = "vector"
    HYBRID = "hybrid"


class DocumentStatus(StrEnum):
    QUEUED = "queued"
    INDEXING = "indexing"
    READY = "ready"
    FAILED = "failed"


BaseName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class KnowledgeBaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: BaseName = Field(description="unique in the tenant")
    description: str = Field(default="", max_length=2000)
    embedding_dimensions: int | None = Field(
        default=None,
        ge=1,
        le=16000,
        description="the dimension the base's embeddings must have (default: whatever the first "
        "embedding has); a vector of another dimension is refused",
    )


class ReindexIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    embedding_dimensions: int | None = Field(
        default=None, ge=1, le=16000, description="the dimension the new embeddings must have"
    )


class KnowledgeBase(BaseModel):
    id: UUID
    name: str
    description: str
    embedding_model: str | None = Field(description="what the base's vectors are made with")
    embedding_dimensions: int | None
    document_count: int
    chunk_count: int
    created_at: datetime
    updated_at: datetime


class Document(BaseModel):
    id: UUID
    knowledge_base_id: UUID
    title: str
    filename: str
    format: str
    size_bytes: int
    sha256: str
    status: DocumentStatus = Field(description="queued, indexing, ready (searchable) or failed")
    attempts: int
    last_error: str | None = Field(description="why the last indexing run failed, if it did")
    chunk_count: int
    embedding_model: str | None
    indexed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ReindexResult(BaseModel):
    knowledge_base_id: UUID
    embedding_model: str | None
    queued: int = Field(description="documents queued for indexing")


Query = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS)
]


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Query
    knowledge_base_ids: list[UUID] | None = Field(
        default=None, max_length=100, description="search these bases only (default: all)"
    )
    limit: int = Field(default=10, ge=1, le=MAX_SEARCH_LIMIT)
    mode: SearchMode = SearchMode.FULLTEXT


class SearchChunk(BaseModel):
    """One retrieved chunk: what a citation points at."""

    model_config = ConfigDict(frozen=True)

    chunk_id: UUID
    document_id: UUID
    document_title: str
    knowledge_base_id: UUID
    title: str = Field(description="the document's title and the headings above the chunk")
    text: str
    ordinal: int = Field(description="the chunk's place in its document, from 0")
    score: float = Field(description="higher is better; comparable within one result only")
    rank: int = Field(description="1 for the best chunk")


class SearchResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    query: str
    mode: SearchMode
    chunks: list[SearchChunk]
    reason: str | None = Field(
        default=None, description="why there are no results (e.g. the query is stop words only)"
    )
