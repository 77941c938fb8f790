"""The knowledge package's errors, on the shared hierarchy (mapped to HTTP statuses and exit codes
at the edges)."""

from __future__ import annotations

from renewflow.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    RenewflowError,
    UnsupportedMediaError,
)


class KnowledgeBaseNotFound(NotFoundError):
    def __init__(self, knowledge_base: object) -> None:
        super().__init__(f"knowledge base {knowledge_base} not found")


class DocumentNotFound(NotFoundError):
    def __init__(self, document_id: object) -> None:
        super().__init__(f"document {document_id} not found")


class UnsupportedDocument(UnsupportedMediaError):
    """A file of a type renewflow does not extract (or whose optional extra is not installed)."""


class DocumentTooLarge(PayloadTooLargeError):
    """A file, or the text extracted from it, over the limits of `renewflow.knowledge.limits`."""


class UnreadableDocument(InvalidInputError):
    """A file that cannot be decoded or parsed, or that holds no text (never an empty document)."""

    def __init__(self, message: str) -> None:
        super().__init__("file", message)


class DimensionMismatch(ConflictError):
    """An embedding whose dimension (or model) is not the knowledge base's: re-index first."""


class EmbeddingsUnavailable(ConflictError):
    """A vector or hybrid search where embeddings are not configured, or not stored (no pgvector)."""


class EmbeddingError(RenewflowError):
    """The embeddings endpoint failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


__all__ = [
    "DimensionMismatch",
    "DocumentNotFound",
    "DocumentTooLarge",
    "EmbeddingError",
    "EmbeddingsUnavailable",
    "InvalidInputError",
    "KnowledgeBaseNotFound",
    "UnreadableDocument",
    "UnsupportedDocument",
]
