"""How many LLM calls may be in flight, and how long a step run's lease lasts.

Two limits, for two reasons:
- **per tenant**, across every process (enforced by the database when a run is claimed: see
  migration 0014's `claim_step_runs` and the `insert_run` query): one tenant cannot take the whole
  service. A run over the limit waits in the queue, visible as `queued`, instead of failing;
- **per provider**, in each process (a semaphore around the call): a backstop that bounds the
  connections one process opens to one provider, whichever tenants use it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from renewflow.config import Settings


@dataclass(frozen=True)
class RunLimits:
    """`tenant_llm_concurrency`: step runs of one tenant calling at once, across processes.
    `provider_llm_concurrency`: calls of one process to one provider at once.
    `lease_seconds`: a run's lease, renewed every third of it while the call runs; a process that
    dies mid-call leaves its step resumable once the lease has passed.
    `wait_seconds`: how long a synchronous request waits for a queued run before answering 202
    with the run to follow instead."""

    tenant_llm_concurrency: int = 50
    provider_llm_concurrency: int = 100
    lease_seconds: float = 30.0
    wait_seconds: float = 300.0
    max_attempts: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> RunLimits:
        return cls(
            tenant_llm_concurrency=settings.tenant_llm_concurrency,
            provider_llm_concurrency=settings.provider_llm_concurrency,
            lease_seconds=settings.step_lease_seconds,
        )


class ProviderSlots:
    """One semaphore per provider endpoint (name and base URL), shared by the process's threads."""

    def __init__(self, per_provider: int) -> None:
        self._per_provider = per_provider
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def _semaphore(self, provider: str) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._slots.get(provider)
            if slot is None:
                slot = self._slots[provider] = threading.BoundedSemaphore(self._per_provider)
            return slot

    @contextmanager
    def slot(self, provider: str) -> Iterator[None]:
        semaphore = self._semaphore(provider)
        with semaphore:
            yield
