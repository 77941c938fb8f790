"""The plain values that cross the provider boundary."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One completion request.

    `json_schema` asks for structured output: the provider must answer with one JSON value valid
    against it (OpenAI: `response_format` json_schema; Anthropic: a single forced tool). `model`
    None means the provider's configured default. `timeout` (seconds) bounds each attempt; None
    means the provider's configured timeout.
    """

    prompt: str
    system: str = ""
    model: str | None = None
    temperature: float = 0.0
    max_tokens: int = 1024
    json_schema: dict[str, Any] | None = None
    schema_name: str = "output"
    timeout: float | None = None
    # The workflow context the prompt was rendered from, for the offline mock to answer from the
    # customer's own data; never sent to a real provider (which sees the prompt only).
    context: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    def prompt_sha256(self) -> str:
        """The hex SHA-256 of the prompt as sent: system and user text, unambiguously joined.

        Recorded instead of the text, so a call can be matched to its prompt without storing it.
        """
        payload = json.dumps([self.system, self.prompt], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """One completion. `parsed` is the decoded JSON when the request carried a schema (None
    otherwise); `text` is always the answer as text (for a tool answer, its JSON)."""

    text: str
    model: str
    parsed: Any = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: int = 0
    finish_reason: str | None = None
    provider: str = ""
    # How many attempts it took (1 without retries); set by the retrying wrapper.
    attempts: int = 1
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


class LLMProvider(Protocol):
    """The contract every provider (mock, openai, anthropic, openai-compatible) implements.

    `complete(request)` sends one request and returns the answer, or raises an `LLMError`
    subclass — never an SDK's or httpx's own exception:

    - `LLMTimeout`: no answer within `request.timeout` (or the provider's default);
    - `LLMRateLimited`: HTTP 429, with `retry_after` set from the Retry-After header if present;
    - `LLMUnavailable`: HTTP 5xx or a connection failure;
    - `LLMBadResponse`: the request was rejected (other 4xx) or the answer is unusable (no content,
      truncated, or not JSON when `request.json_schema` was given); tokens are filled in if known;
    - `LLMConfigError`: missing extra or key, refused key (401/403), unknown model/endpoint (404).

    When `request.json_schema` is given, a successful response has `parsed` set to the decoded JSON
    value. Validating it against the schema is the caller's business (the engine repairs once).
    Providers make exactly one attempt: retries live in `RetryingProvider`, so they are counted
    and bounded in one place. `name` is what `llm_calls.provider` records; `default_model` is used
    when the request names none. Implementations must be safe to call from several threads and
    must never log prompts or API keys. `close()` releases pooled connections; it is idempotent,
    and a closed provider must not be used again.
    """

    name: str
    default_model: str

    def complete(self, request: LLMRequest) -> LLMResponse: ...

    def close(self) -> None: ...
