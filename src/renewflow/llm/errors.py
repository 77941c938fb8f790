"""The LLM layer's errors. Every provider SDK's exceptions are mapped to these at the boundary.

`retryable` says whether trying the same request again later can succeed; `kind` is the short name
recorded in `llm_calls.error_kind`.
"""

from __future__ import annotations

from renewflow.errors import RenewflowError


class LLMError(RenewflowError):
    """Base of the LLM layer's errors."""

    kind = "error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        attempts: int = 1,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        raw_text: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.attempts = attempts
        # Known when the provider answered (and billed) but the answer was unusable.
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        # The answer as received, kept for inspection (a non-JSON reply to a schema request).
        self.raw_text = raw_text
        # The provider's Retry-After hint in seconds (rate limits, sometimes 503s).
        self.retry_after = retry_after


class LLMTimeout(LLMError):
    """The provider did not answer within the request's timeout."""

    kind = "timeout"


class LLMRateLimited(LLMError):
    """The provider refused for now (HTTP 429). `retry_after` is its hint in seconds, if any."""

    kind = "rate_limited"
    retryable = True


class LLMUnavailable(LLMError):
    """The provider failed (5xx) or could not be reached (connection error)."""

    kind = "unavailable"
    retryable = True


class LLMBadResponse(LLMError):
    """The provider rejected the request (4xx other than auth/not-found) or answered unusably:
    not JSON when a schema was asked for, truncated, no content."""

    kind = "bad_response"


class LLMConfigError(LLMError):
    """The configuration cannot work: unknown provider, missing extra, missing or refused API key,
    unknown model or endpoint."""

    kind = "config"


ERROR_KINDS = ("timeout", "rate_limited", "unavailable", "bad_response", "config")
