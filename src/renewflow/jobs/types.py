"""What a queue promises the worker: the contract every queue-like table implements."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable
from uuid import UUID


class Outcome(StrEnum):
    """How one run of a claimed job ended (the `outcome` label of the metrics)."""

    SUCCESS = "success"
    RETRY = "retry"  # failed, retryable, attempts left: queued again after a backoff
    FAILED = "failed"  # failed for good: not retryable, or out of attempts
    LOST = "lost"  # the lease was gone when the job finished: the write was refused


@dataclass(frozen=True)
class Lease:
    """One claimed job. `token` is fresh for every claim and fences every later write.

    `payload` is whatever the claim returned for running the job (a queue's own business, opaque
    to the worker), so that running needs no second round trip; it takes no part in equality.
    """

    job_id: UUID
    tenant_id: UUID
    token: UUID
    attempt: int
    max_attempts: int
    kind: str  # what runs it (a processor name): the label outcomes are counted by
    queued_at: datetime | None
    claimed_at: datetime
    payload: Any = field(default=None, compare=False, repr=False)


class Queue(Protocol):
    """A queue-like table. Every method is one transaction; the fenced ones compare the token.

    - `claim` marks up to `limit` ready jobs as running under fresh leases of `lease_seconds` and
      returns them; concurrent claimers never receive the same job (SKIP LOCKED).
    - `heartbeat` extends the still-valid leases among `leases`; returns how many it extended.
    - `release` hands unstarted leases back (queued again, the attempt not counted).
    - `reap` re-queues jobs whose lease expired (or fails them when out of attempts).
    - `run` does the job and writes its result, fenced: `Outcome.LOST` if the lease was gone.
    - `depth` counts jobs by state, for the metrics.

    A queue may also implement `BatchQueue.run_batch`; the worker then hands it each claimed
    batch whole instead of calling `run` once per job.
    """

    name: str

    def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Lease]: ...

    def heartbeat(self, leases: Sequence[Lease], lease_seconds: float) -> int: ...

    def release(self, leases: Sequence[Lease]) -> int: ...

    def reap(self) -> int: ...

    def run(self, lease: Lease) -> Outcome: ...

    def depth(self) -> Mapping[str, int]: ...


@runtime_checkable
class BatchQueue(Queue, Protocol):
    """A queue that runs a claimed batch at once (optional: see `Queue`).

    `run_batch` runs the jobs of `leases` in order and writes their results, fenced per job (a job
    whose lease is gone is `LOST`, the others are written), in as few transactions as it can. Once
    `should_stop()` is true it starts no further job: those entries are None and the worker hands
    them back with `release`. It returns one entry per lease, in the order given. If it raises
    (the database went away), the worker releases every lease of the batch still held; results
    already written stay written (the release matches only leases still running).
    """

    def run_batch(
        self, leases: Sequence[Lease], should_stop: Callable[[], bool]
    ) -> list[Outcome | None]: ...
