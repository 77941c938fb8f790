"""Embeddings through any OpenAI-compatible `/embeddings` endpoint (OpenAI, Ollama, vLLM, LiteLLM...).

Configured for the deployment from the environment (nothing configured: no embeddings, and search
is full-text only):

- `RENEWFLOW_EMBEDDINGS_BASE_URL`: the API root, e.g. `http://localhost:11434/v1`;
- `RENEWFLOW_EMBEDDINGS_MODEL`: the model name sent with each request;
- `RENEWFLOW_EMBEDDINGS_API_KEY`: a bearer key, if the endpoint needs one;
- `RENEWFLOW_EMBEDDINGS_TIMEOUT` (seconds, default 30) and `RENEWFLOW_EMBEDDINGS_BATCH` (texts per
  request, default 64).

An `Embedder` is called with no database transaction open (an HTTP call may take seconds). Its
errors are `EmbeddingError`s, retryable or not, whatever httpx raised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from renewflow.knowledge.errors import EmbeddingError


class EmbeddingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RENEWFLOW_EMBEDDINGS_", extra="ignore")

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    timeout: float = Field(default=30.0, gt=0, le=600)
    batch: int = Field(default=64, ge=1, le=2048)

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)


@dataclass(frozen=True, slots=True)
class QueryEmbedding:
    """A query's embedding and the model that made it: what a vector or hybrid search needs,
    computed before the search's transaction opens (`embed_query`)."""

    model: str
    vector: tuple[float, ...]


class Embedder:
    """Calls one endpoint with one model. `transport` is for tests (an httpx mock transport)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        batch: int = 64,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.model = model
        self.batch = batch
        self._url = base_url.rstrip("/") + "/embeddings"
        self._where = httpx.URL(base_url).host or base_url
        headers = {"User-Agent": "renewflow"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            timeout=timeout, headers=headers, follow_redirects=False, transport=transport
        )

    @classmethod
    def from_settings(cls, settings: EmbeddingSettings) -> Embedder | None:
        if not settings.configured:
            return None
        assert settings.base_url is not None
        assert settings.model is not None
        return cls(
            settings.base_url,
            settings.model,
            api_key=settings.api_key,
            timeout=settings.timeout,
            batch=settings.batch,
        )

    def close(self) -> None:
        self._client.close()

    def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        """One vector per text, in order, all of one dimension."""
        vectors: list[tuple[float, ...]] = []
        for start in range(0, len(texts), self.batch):
            vectors.extend(self._request(list(texts[start : start + self.batch])))
        if vectors and len({len(v) for v in vectors}) > 1:
            raise EmbeddingError(
                f"embeddings {self._where}: vectors of different dimensions in one answer",
                retryable=False,
            )
        return vectors

    def embed_query(self, query: str) -> QueryEmbedding:
        return QueryEmbedding(self.model, self.embed([query])[0])

    def _request(self, texts: list[str]) -> list[tuple[float, ...]]:
        try:
            response = self._client.post(self._url, json={"model": self.model, "input": texts})
        except httpx.TimeoutException:
            raise EmbeddingError(
                f"embeddings {self._where}: no answer in time", retryable=True
            ) from None
        except httpx.TransportError as error:
            raise EmbeddingError(
                f"embeddings {self._where}: cannot connect ({type(error).__name__})",
                retryable=True,
            ) from None
        status = response.status_code
        if status != 200:
            raise EmbeddingError(
                f"embeddings {self._where}: HTTP {status}",
                retryable=status in (408, 429) or status >= 500,
            )
        try:
            return _vectors(response.json(), len(texts))
        except (ValueError, TypeError, KeyError) as error:
            raise EmbeddingError(
                f"embeddings {self._where}: not an embeddings answer ({error})", retryable=False
            ) from None


def _vectors(body: Any, expected: int) -> list[tuple[float, ...]]:
    data = body["data"]
    if not isinstance(data, list) or len(data) != expected:
        raise ValueError(f"expected {expected} embeddings")
    ordered = sorted(data, key=lambda item: item.get("index", 0))
    vectors = []
    for item in ordered:
        vector = tuple(float(x) for x in item["embedding"])
        if not vector or not all(math.isfinite(x) for x in vector):
            raise ValueError("an empty or non-finite vector")
        vectors.append(vector)
    return vectors


@cache
def default_embedder() -> Embedder | None:
    """The embedder the environment configures (one per process), or None."""
    return Embedder.from_settings(EmbeddingSettings())


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form, bound as a parameter and cast in SQL (`%s::vector`)."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"
