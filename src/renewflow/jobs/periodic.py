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
    """`run(conn)` every `every`; `conn` is a service-role (cross-tenant) transaction."""

    name: str
    every: timedelta
    run: Callable[[Connection], None]


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

    def __init__(self, database: Database, jobs: Sequence[PeriodicJob], worker: str) -> None:
        self._database = database
        self._jobs = list(jobs)
        self._worker = worker
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
                    job.run(conn)
                    conn.execute(
                        _Q["forget_old_slots"],
                        {"job_name": job.name, "before": slot - job.every * _KEEP_SLOTS},
                    )
            self._seen[job.name] = slot
            if won is not None:
                log.info("periodic job %s ran for slot %s", job.name, slot.isoformat())
                ran.append(job.name)
        return ran
