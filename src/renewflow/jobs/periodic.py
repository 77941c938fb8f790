"""Periodic jobs that run once per slot, however many workers run them."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from renewflow.db import Connection, Database, load_queries

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.jobs")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_KEEP_SLOTS = 100


@dataclass(frozen=True)
class PeriodicJob:
    """A job run once per slot of `every`, in one of two ways:

    - `run(conn)`: `conn` is the service-role (cross-tenant) transaction that holds the slot, so
      the job and the slot are all or nothing: a failed run frees the slot for the next tick;
    - `run_alone(should_stop)` (`PeriodicJob.alone`): for a job that opens its own transactions
      and may wait on other servers. The slot is committed first, so no transaction stays open
      while it runs; a failed run waits for the next slot. `should_stop()` turns true when the
      worker is stopping: a long job checks it between its steps.
    """

    name: str
    every: timedelta
    run: Callable[[Connection], None] | None = None
    run_alone: Callable[[Callable[[], bool]], object] | None = None

    def __post_init__(self) -> None:
        if (self.run is None) == (self.run_alone is None):
            raise ValueError(f"periodic job {self.name}: give exactly one of run and run_alone")

    @classmethod
    def alone(
        cls, name: str, every: timedelta, run: Callable[[Callable[[], bool]], object]
    ) -> PeriodicJob:
        return cls(name, every, run_alone=run)


def slot_start(every: timedelta, now: datetime) -> datetime:
    """The start of the slot `now` falls in: slots are aligned on a fixed epoch, so every worker
    computes the same slot without talking to the others."""
    step = every.total_seconds()
    if step <= 0:
        raise ValueError("a periodic job needs a positive interval")
    elapsed = (now - _EPOCH).total_seconds()
    return _EPOCH + timedelta(seconds=(elapsed // step) * step)


def _slot_key(job_name: str, slot: datetime) -> int:
    """The advisory lock key of one slot of one job (a signed 64-bit number)."""
    digest = hashlib.sha256(f"renewflow.periodic:{job_name}@{slot.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PeriodicScheduler:
    """Asks, for each job, whether this worker is the one to run the current slot."""

    def __init__(
        self,
        database: Database,
        jobs: Sequence[PeriodicJob],
        worker: str,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self._database = database
        self._jobs = list(jobs)
        self._worker = worker
        self._should_stop = should_stop
        self._seen: dict[str, datetime] = {}

    def tick(self, now: datetime | None = None) -> list[str]:
        """Runs every job whose current slot nobody has taken; returns the names it ran."""
        now = now or datetime.now(UTC)
        ran: list[str] = []
        for job in self._jobs:
            slot = slot_start(job.every, now)
            if self._seen.get(job.name) == slot:
                continue
            with self._database.service_transaction() as conn:
                lock = conn.execute(
                    _Q["try_lock_slot"], {"key": _slot_key(job.name, slot)}
                ).fetchone()
                if lock is None or not lock["free"]:
                    continue  # another worker is running this slot: ask again at the next tick
                won = conn.execute(
                    _Q["claim_slot"], {"job_name": job.name, "slot": slot, "worker": self._worker}
                ).fetchone()
                if won is not None:
                    if job.run is not None:
                        job.run(conn)
                    conn.execute(
                        _Q["forget_old_slots"],
                        {"job_name": job.name, "before": slot - job.every * _KEEP_SLOTS},
                    )
            self._seen[job.name] = slot
            if won is not None and job.run_alone is not None:
                job.run_alone(self._should_stop)
            if won is not None:
                log.info("periodic job %s ran for slot %s", job.name, slot.isoformat())
                ran.append(job.name)
        return ran
