"""Periodic jobs that run once per slot, however many workers run them."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from renewflow.db import Connection, Database, load_queries
from renewflow.jobs.failures import describe_error

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.jobs")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_KEEP_SLOTS = 100
_RETRY_BASE = timedelta(seconds=5)


@dataclass(frozen=True)
class PeriodicJob:
    """A job run once per slot of `every`, in one of two ways:

    - `run(conn)`: `conn` is the service-role (cross-tenant) transaction that holds the slot, so
      a crash mid-run rolls the slot back for another worker; a run that raises is rolled back
      (a savepoint) and recorded on its slot;
    - `run_alone(should_stop)` (`PeriodicJob.alone`): for a job that opens its own transactions
      and may wait on other servers. The slot is committed first, so no transaction stays open
      while it runs. `should_stop()` turns true when the worker is stopping: a long job checks
      it between its steps.

    Either way a failed run is tried again with a backoff (`retry_at`), at most until the next
    slot: never at every tick.
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


def retry_at(job: PeriodicJob, slot: datetime, failed_at: datetime, attempts: int) -> datetime:
    """When a slot whose run failed `attempts` times is tried again: at once after the first
    failure (another worker may well succeed), then after a pause that doubles from
    max(5 s, a sixtieth of the interval), never later than the next slot, which runs anyway."""
    base = max(_RETRY_BASE, job.every / 60)
    delay = timedelta(0) if attempts <= 1 else base * (2 ** min(attempts - 2, 30))
    return min(failed_at + delay, slot + job.every)


class PeriodicScheduler:
    """Asks, for each job, whether this worker is the one to run the current slot.

    A run that raises is recorded on its slot (`periodic_runs.last_error`, `attempts`) with its
    next attempt (`retry_at`): until then no worker runs it again, however often they tick. The
    tick then raises the error (after giving the other jobs their turn), for the worker to log.
    """

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
        # job name -> (slot, when this worker asks again): a failed slot's next attempt, or this
        # worker's own backoff when the failure could not even be recorded
        self._waiting: dict[str, tuple[datetime, datetime]] = {}
        self._local_attempts: dict[tuple[str, datetime], int] = {}

    def tick(self, now: datetime | None = None) -> list[str]:
        """Runs every job whose current slot nobody has taken (or whose failed run is due
        again); returns the names it ran. If a job raised, raises the first such error once
        every job has had its turn."""
        now = now or datetime.now(UTC)
        ran: list[str] = []
        errors: list[Exception] = []
        for job in self._jobs:
            slot = slot_start(job.every, now)
            if self._seen.get(job.name) == slot:
                continue
            waiting = self._waiting.get(job.name)
            if waiting is not None and waiting[0] == slot and now < waiting[1]:
                continue
            try:
                if self._run_slot(job, slot, now):
                    log.info("periodic job %s ran for slot %s", job.name, slot.isoformat())
                    ran.append(job.name)
            except Exception as error:
                errors.append(error)
        for other in errors[1:]:
            log.error("a periodic job failed", exc_info=other)
        if errors:
            raise errors[0]
        return ran

    def _run_slot(self, job: PeriodicJob, slot: datetime, now: datetime) -> bool:
        try:
            with self._database.service_transaction() as conn:
                lock = conn.execute(
                    _Q["try_lock_slot"], {"key": _slot_key(job.name, slot)}
                ).fetchone()
                if lock is None or not lock["free"]:
                    return False  # another worker is running this slot: ask again at the next tick
                won = conn.execute(
                    _Q["claim_slot"],
                    {"job_name": job.name, "slot": slot, "worker": self._worker, "now": now},
                ).fetchone()
                if won is None:
                    self._not_ours(conn, job, slot)
                    return False
                failure: Exception | None = None
                if job.run is not None:
                    try:
                        with conn.transaction():  # a savepoint: the job's writes, not the slot's
                            job.run(conn)
                    except Exception as error:
                        failure = error
                        self._record(
                            conn, job, slot, now=now, attempts=won["attempts"] + 1, error=error
                        )
                conn.execute(
                    _Q["forget_old_slots"],
                    {"job_name": job.name, "before": slot - job.every * _KEEP_SLOTS},
                )
        except Exception:
            # not even recorded (the database went away): this worker backs off on its own
            self._back_off_locally(job, slot, now)
            raise
        if failure is not None:
            raise failure
        self._seen[job.name] = slot
        if job.run_alone is not None:
            # the slot is committed: no transaction stays open while the job runs
            try:
                job.run_alone(self._should_stop)
            except Exception as error:
                self._record_alone(job, slot, now, won["attempts"] + 1, error)
                raise
        self._local_attempts.pop((job.name, slot), None)
        return True

    def _not_ours(self, conn: Connection, job: PeriodicJob, slot: datetime) -> None:
        """The slot is taken: done (or running elsewhere, committed), or failed and waiting."""
        row = conn.execute(_Q["slot_waiting"], {"job_name": job.name, "slot": slot}).fetchone()
        if row is not None and row["next_attempt_at"] is not None:
            self._waiting[job.name] = (slot, row["next_attempt_at"])
        else:
            self._seen[job.name] = slot

    def _record(
        self,
        conn: Connection,
        job: PeriodicJob,
        slot: datetime,
        *,
        now: datetime,
        attempts: int,
        error: Exception,
    ) -> None:
        when = retry_at(job, slot, now, attempts)
        conn.execute(
            _Q["fail_slot"],
            {
                "job_name": job.name,
                "slot": slot,
                "error": describe_error(error),
                "next_attempt_at": when,
            },
        )
        self._waiting[job.name] = (slot, when)
        log.warning(
            "periodic job %s failed (attempt %d for slot %s); next attempt at %s",
            job.name,
            attempts,
            slot.isoformat(),
            when.isoformat(),
        )

    def _record_alone(
        self, job: PeriodicJob, slot: datetime, now: datetime, attempts: int, error: Exception
    ) -> None:
        self._seen.pop(job.name, None)
        try:
            with self._database.service_transaction() as conn:
                self._record(conn, job, slot, now=now, attempts=attempts, error=error)
        except Exception as db_error:
            log.warning("periodic job %s: its failure was not recorded (%s)", job.name, db_error)
            self._back_off_locally(job, slot, now)

    def _back_off_locally(self, job: PeriodicJob, slot: datetime, now: datetime) -> None:
        key = (job.name, slot)
        attempts = self._local_attempts[key] = self._local_attempts.get(key, 0) + 1
        # never at once: the failure was not recorded, so nothing else slows this worker down
        self._waiting[job.name] = (slot, retry_at(job, slot, now, attempts + 1))
