"""Retries with exponential backoff, in one place for every provider.

Retried: `LLMRateLimited` (waiting what Retry-After asks, when it asks a bounded time) and
`LLMUnavailable` (5xx, connection errors). Not retried: timeouts (the attempt already spent the
step's time budget; the job layer retries later), rejected requests (4xx), bad answers and
configuration errors.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from renewflow.llm.errors import LLMError, LLMRateLimited
from renewflow.llm.models import LLMProvider, LLMRequest, LLMResponse


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`max_retries` retries after the first attempt. The n-th retry waits
    `min(max_delay, base_delay * 2**n)` with "equal jitter" (half fixed, half random), or exactly
    the provider's Retry-After when it sends one. A Retry-After above `max_retry_after` is not waited
    for: the error is raised at once so the job can be rescheduled instead of holding a worker."""

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(
        self, retry: int, error: LLMError, rand: Callable[[], float] = random.random
    ) -> float:
        backoff = min(self.max_delay, self.base_delay * (2.0**retry))
        jittered = backoff / 2 + rand() * backoff / 2
        if error.retry_after is not None:
            # the server knows when it will have capacity again: more precise than our guess
            return max(0.0, float(error.retry_after))
        return jittered


class RetryingProvider:
    """Wraps a provider with a `RetryPolicy`; itself an `LLMProvider`.

    The response's `attempts` counts every attempt and its `latency_ms` covers all of them and the
    waits between (what the caller actually waited). An error raised after retries carries
    `attempts` too.

    A rate limit slows every caller of this provider down, not only the one that hit it: after a
    429 with Retry-After, each attempt (from any thread) first waits until that time has passed,
    instead of spending its own attempts on more 429s.
    """

    def __init__(
        self,
        inner: LLMProvider,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()
        self.name = inner.name
        self.default_model = inner.default_model
        self.in_process = getattr(inner, "in_process", False)
        self._sleep = sleep
        self._clock = time.monotonic
        self._not_before = 0.0
        self._lock = threading.Lock()

    def _cool_down(self, seconds: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)

    def _wait_for_capacity(self) -> None:
        wait = self._not_before - self._clock()
        if wait > 0:
            self._sleep(min(wait, self.policy.max_retry_after))

    def close(self) -> None:
        self.inner.close()

    def complete(self, request: LLMRequest) -> LLMResponse:
        started = time.perf_counter()
        attempt = 0
        waited = False  # this call just waited out its own backoff: no second wait
        while True:
            attempt += 1
            if not waited:
                self._wait_for_capacity()
            try:
                response = self.inner.complete(request)
            except LLMError as error:
                error.attempts = attempt
                if isinstance(error, LLMRateLimited) and error.retry_after is not None:
                    self._cool_down(min(float(error.retry_after), self.policy.max_retry_after))
                retry = attempt - 1
                if not error.retryable or retry >= self.policy.max_retries:
                    raise
                if (
                    isinstance(error, LLMRateLimited)
                    and error.retry_after is not None
                    and error.retry_after > self.policy.max_retry_after
                ):
                    raise
                self._sleep(self.policy.delay(retry, error))
                waited = True
                continue
            elapsed = round((time.perf_counter() - started) * 1000)
            return replace(response, attempts=attempt, latency_ms=max(elapsed, response.latency_ms))
