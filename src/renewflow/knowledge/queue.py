"""knowledge_documents as a `renewflow.jobs.Queue`: indexing a document is a job.

A run is three steps, and no connection is held across the middle one:
1. the claim (one short service-role transaction) leases documents and returns their text;
2. the text is chunked and, when an embeddings endpoint is configured and the database has
   pgvector, the chunks are embedded, with nothing held;
3. the finish, one short transaction as the document's tenant, fenced by the lease token,
   replaces the document's chunks whole: a search sees the old chunks or the new ones, never a
   mix, and a run that lost its lease writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from renewflow.db import Database, DatabaseUnavailable, load_queries
from renewflow.jobs import Lease, Outcome, retry_delay
from renewflow.jobs.leased import LeasedRows
from renewflow.knowledge.chunking import Chunk, chunk_text
from renewflow.knowledge.embeddings import Embedder, vector_literal
from renewflow.knowledge.errors import EmbeddingError
from renewflow.knowledge.service import has_embeddings

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.knowledge", "queue.sql")
_TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, DatabaseUnavailable)


@dataclass(frozen=True, slots=True)
class _Claimed:
    knowledge_base_id: Any
    title: str
    content: str
    base_model: str | None
    base_dimensions: int | None


class _Refused(Exception):
    """The run cannot succeed: fail the document for good with this message."""


class IndexQueue(LeasedRows):
    """Claims queued documents and indexes them (chunks, then embeddings if configured)."""

    name = "knowledge_index"
    queries = _Q

    def __init__(
        self,
        database: Database,
        *,
        embedder: Embedder | None = None,
        backoff: Callable[[int], float] = retry_delay,
    ) -> None:
        self.database = database
        self.embedder = embedder
        self.backoff = backoff
        self._vectors: bool | None = None  # whether the database stores embeddings

    # -- the lease's life --------------------------------------------------------------------

    def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Lease]:
        with self.database.service_transaction() as conn:
            rows = conn.execute(
                _Q["claim"], {"worker": worker, "limit": limit, "lease_seconds": lease_seconds}
            ).fetchall()
        rows.sort(key=lambda r: (r["queued_at"], r["id"]))
        return [
            Lease(
                job_id=r["id"],
                tenant_id=r["tenant_id"],
                token=r["lease_token"],
                attempt=r["attempts"],
                max_attempts=r["max_attempts"],
                kind=r["format"],
                queued_at=r["queued_at"],
                claimed_at=r["claimed_at"],
                payload=_Claimed(
                    r["knowledge_base_id"],
                    r["title"],
                    r["content"],
                    r["base_model"],
                    r["base_dimensions"],
                ),
            )
            for r in rows
        ]

    def reap(self) -> int:
        with self.database.service_transaction() as conn:
            return len(conn.execute(_Q["reap"]).fetchall())

    # -- running -----------------------------------------------------------------------------

    def run(self, lease: Lease) -> Outcome:
        claimed = lease.payload
        assert isinstance(claimed, _Claimed)
        chunks = chunk_text(claimed.content, claimed.title)
        try:
            model, vectors = self._embed(claimed, chunks)
            return self._finish(lease, claimed, chunks, model, vectors)
        except EmbeddingError as error:
            log.warning("document %s: %s", lease.job_id, error)
            return self._fail(lease, str(error), retryable=error.retryable)
        except _Refused as error:
            return self._fail(lease, str(error), retryable=False)

    def _stores_vectors(self) -> bool:
        if self._vectors is None:
            with self.database.service_transaction() as conn:
                self._vectors = has_embeddings(conn)
        return self._vectors

    def _embed(
        self, claimed: _Claimed, chunks: list[Chunk]
    ) -> tuple[str | None, list[tuple[float, ...]] | None]:
        """The chunks' vectors (nothing held meanwhile), or (None, None) for full-text only: no
        embedder, no pgvector, or a base embedded with another model until it is re-indexed."""
        embedder = self.embedder
        if embedder is None or not chunks or not self._stores_vectors():
            return None, None
        if claimed.base_model is not None and claimed.base_model != embedder.model:
            return None, None
        vectors = embedder.embed([f"{c.title}\n\n{c.body}" for c in chunks])
        dimensions = len(vectors[0])
        if claimed.base_dimensions is not None and claimed.base_dimensions != dimensions:
            raise _Refused(_mismatch(claimed.base_dimensions, dimensions))
        return embedder.model, vectors

    def _finish(
        self,
        lease: Lease,
        claimed: _Claimed,
        chunks: list[Chunk],
        model: str | None,
        vectors: list[tuple[float, ...]] | None,
    ) -> Outcome:
        params: dict[str, Any] = {
            "id": lease.job_id,
            "knowledge_base_id": claimed.knowledge_base_id,
            "ordinals": [c.ordinal for c in chunks],
            "titles": [c.title for c in chunks],
            "bodies": [c.body for c in chunks],
        }
        with self.database.tenant_transaction(lease.tenant_id) as conn:
            fenced = conn.execute(
                _Q["fence"],
                {
                    "id": lease.job_id,
                    "token": lease.token,
                    "chunk_count": len(chunks),
                    "embedding_model": model,
                },
            ).fetchone()
            if fenced is None:
                return Outcome.LOST
            if vectors is not None:
                fixed = conn.execute(
                    _Q["claim_model"],
                    {
                        "knowledge_base_id": claimed.knowledge_base_id,
                        "model": model,
                        "dimensions": len(vectors[0]),
                    },
                ).fetchone()
                assert fixed is not None
                if fixed["embedding_dimensions"] != len(vectors[0]):
                    raise _RolledBack(_mismatch(fixed["embedding_dimensions"], len(vectors[0])))
                if fixed["embedding_model"] != model:
                    # re-indexed for another model meanwhile: its own job stores those vectors
                    vectors, model = None, None
                    conn.execute(_Q["forget_model"], {"id": lease.job_id})
            conn.execute(_Q["clear_chunks"], {"id": lease.job_id})
            if vectors is None:
                conn.execute(_Q["insert_chunks"], params)
            else:
                params["embeddings"] = [vector_literal(v) for v in vectors]
                conn.execute(_Q["insert_embedded_chunks"], params)
        return Outcome.SUCCESS

    def _fail(self, lease: Lease, error: str, *, retryable: bool) -> Outcome:
        again = retryable and lease.attempt < lease.max_attempts
        if retryable and not again:
            error = f"{error} (gave up after {lease.attempt} attempts)"
        with self.database.tenant_transaction(lease.tenant_id) as conn:
            row = conn.execute(
                _Q["fail"],
                {
                    "id": lease.job_id,
                    "token": lease.token,
                    "status": "queued" if again else "failed",
                    "error": error,
                    "delay": self.backoff(lease.attempt) if again else 0.0,
                },
            ).fetchone()
        if row is None:
            return Outcome.LOST
        return Outcome.RETRY if again else Outcome.FAILED


class _RolledBack(_Refused):
    """Raised inside the finish's transaction, so that nothing of it is written."""


def _mismatch(expected: int, got: int) -> str:
    return (
        f"the embeddings have dimension {got}, the knowledge base's is {expected}: "
        "re-index the base for the new model, or fix the endpoint"
    )
