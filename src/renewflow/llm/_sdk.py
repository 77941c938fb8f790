"""Loading the optional SDKs, and the one table that maps their errors to ours.

Both official SDKs are generated from the same toolkit and share their exception names and
`status_code`/`response` attributes, so one table serves both.
"""

from __future__ import annotations

import email.utils
import importlib
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from renewflow.llm.errors import (
    LLMBadResponse,
    LLMConfigError,
    LLMError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
)

# Checked in order (subclasses first): APITimeoutError is an APIConnectionError.
_BY_CLASS: tuple[tuple[str, type[LLMError], str], ...] = (
    ("APITimeoutError", LLMTimeout, "no answer within the timeout"),
    ("APIConnectionError", LLMUnavailable, "cannot connect"),
    ("APIResponseValidationError", LLMBadResponse, "the answer does not have the expected shape"),
    # the HTTP client's own, which an SDK lets through while a streamed answer is read
    ("TimeoutException", LLMTimeout, "no answer within the timeout"),
    ("TransportError", LLMUnavailable, "the connection failed"),
)
_HTTP_ERRORS = frozenset({"TimeoutException", "TransportError"})

_BY_STATUS: dict[int, tuple[type[LLMError], str]] = {
    401: (LLMConfigError, "the API key was refused; check the variable named by api_key_env"),
    403: (LLMConfigError, "the API key may not use this model or endpoint"),
    404: (LLMConfigError, "unknown model or endpoint; check model and base_url"),
    408: (LLMTimeout, "the provider timed out the request"),
    429: (LLMRateLimited, "rate limited"),
}


def import_sdk(module: str, extra: str) -> ModuleType:
    """The SDK module, or LLMConfigError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise LLMConfigError(
            f"the {extra} provider needs the {module!r} package: pip install 'renewflow[{extra}]'"
        ) from None


def map_sdk_error(error: BaseException, provider: str) -> LLMError:
    """Our error for an SDK exception (the SDK's message is kept only where it cannot hold a key)."""
    status: int | None = getattr(error, "status_code", None)
    response = getattr(error, "response", None)
    retry_after = _retry_after(response) if response is not None else None
    if isinstance(status, int) and status > 0:
        if status in _BY_STATUS:
            cls, text = _BY_STATUS[status]
        elif status >= 500:
            cls, text = LLMUnavailable, "the provider failed"
        else:
            cls, text = LLMBadResponse, f"the request was rejected: {_detail(error)}"
        return cls(
            f"{provider}: {text} (HTTP {status})",
            provider=provider,
            status=status,
            retry_after=retry_after,
        )
    names = {klass.__name__ for klass in type(error).__mro__}
    for name, cls, text in _BY_CLASS:
        if name in names:
            return cls(f"{provider}: {text}", provider=provider)
    return LLMUnavailable(f"{provider}: {type(error).__name__}", provider=provider)


def mapped_stream(stream: Any, provider: str, sdk_error: type[BaseException]) -> Iterator[Any]:
    """The events of an SDK stream, with errors met while reading it mapped to ours (the SDK's,
    and the HTTP client's read timeouts and broken connections some SDKs let through); the
    response is closed when the stream ends, fails or is dropped."""
    try:
        with stream:
            yield from stream
    except sdk_error as error:
        raise map_sdk_error(error, provider) from None
    except Exception as error:
        if _HTTP_ERRORS.isdisjoint(k.__name__ for k in type(error).__mro__):
            raise
        raise map_sdk_error(error, provider) from None


def _retry_after(response: Any) -> float | None:
    """Seconds from `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _detail(error: BaseException) -> str:
    body = getattr(error, "body", None)
    message: Any = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
    text = str(message if message is not None else type(error).__name__)
    return text[:200]
