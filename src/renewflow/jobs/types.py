"""What a queue promises the worker: the contract every queue-like table implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID


class Outcome(StrEnum):
    """How one run of a claimed job ended (the `outcome` label of the metrics)."""

    SUCCESS = "success"
    RETRY = "retry"  # failed, retryable, attempts left: queued again after a backoff
    FAILED = "failed"  # failed for good: not retryable, or out of attempts
    LOST = "lost"  # the lease was gone when the job finished: the write was refused


@dataclass(frozen=True)
class Lease:
    """One claimed job. `token` is fresh for every claim and fences every later write."""

    job_id: UUID
    tenant_id: UUID
    token: UUID
    attempt: int
    max_attempts: int
    kind: str  # what runs it (a processor name): the label outcomes are counted by
    queued_at: datetime | None
    claimed_at: datetime


class Queue(Protocol):
    """A queue-like table. Every method is one transaction; the fenced ones compare the token.

    - `claim` marks up to `limit` ready jobs as running under fresh leases of `lease_seconds` and
      returns them; concurrent claimers never receive the same job (SKIP LOCKED).
    - `heartbeat` extends the still-valid leases among `leases`; returns how many it extended.
    - `release` hands unstarted leases back (queued again, the attempt not counted).
    - `reap` re-queues jobs whose lease expired (or fails them when out of attempts).
    - `run` does the job and writes its result, fenced: `Outcome.LOST` if the lease was gone.
    - `depth` counts jobs by state, for the metrics.
    """

    name: str

    def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Lease]: ...

    def heartbeat(self, leases: Sequence[Lease], lease_seconds: float) -> int: ...

    def release(self, leases: Sequence[Lease]) -> int: ...

    def reap(self) -> int: ...

    def run(self, lease: Lease) -> Outcome: ...

    def depth(self) -> Mapping[str, int]: ...
