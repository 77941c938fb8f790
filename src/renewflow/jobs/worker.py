"""The worker loop: claim, run, heartbeat, reap, wake on NOTIFY, periodic jobs, graceful stop.

Threads of one worker process:
- `concurrency` runner threads, each claiming up to `batch` jobs at a time and running them: a
  `BatchQueue` runs the batch whole (and writes its results together), any other queue one `run`
  per job. A claim takes fewer than `batch` when the queue's recent jobs were slow: no more than
  the runner expects to get through in `batch_seconds`, so that slow jobs (an LLM, a CRM) are
  not claimed by one runner while other runners and workers sit idle;
- one listener holding a LISTEN connection, waking the runners on a notification (polling every
  `poll_interval` seconds is the fallback when notifications are lost or the connection is down);
- one housekeeping thread: heartbeats every `lease_seconds / 3`, reaps expired leases every
  `reap_interval`;
- one periodic thread: ticks the periodic scheduler every second (apart from housekeeping, so a
  long periodic job never delays a heartbeat).

Database trouble (a restart, a network cut) is never fatal: the thread logs it, backs off and
tries again; a job whose run was interrupted is released if possible, otherwise its lease simply
expires and the reaper of some worker queues it again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import psycopg
from psycopg_pool import PoolTimeout

from renewflow.db import Database, DatabaseUnavailable
from renewflow.jobs.metrics import Metrics, default_metrics, observed, observed_batch
from renewflow.jobs.periodic import PeriodicJob, PeriodicScheduler
from renewflow.jobs.types import BatchQueue, Lease, Outcome, Queue

log = logging.getLogger(__name__)

CHANNEL = "renewflow_jobs"
# what a lost or restarting database looks like from here
_TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, DatabaseUnavailable)


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class WorkerConfig:
    name: str = field(default_factory=default_worker_name)
    concurrency: int = 1
    batch: int = 1
    batch_seconds: float = 1.0
    lease_seconds: float = 30.0
    poll_interval: float = 1.0
    reap_interval: float = 5.0
    shutdown_grace: float = 30.0
    listen: bool = True


class Worker:
    """Runs the jobs of `queues` until `stop()`; see the module docstring for the threads."""

    def __init__(
        self,
        database: Database,
        queues: Sequence[Queue],
        *,
        config: WorkerConfig | None = None,
        periodic: Sequence[PeriodicJob] = (),
        metrics: Metrics | None = None,
    ) -> None:
        self.database = database
        self.queues = list(queues)
        # which queues run their batches whole: a Protocol's isinstance inspects every member
        # on each call, too slow to ask once per claim
        self._batch_queues = {q.name for q in self.queues if isinstance(q, BatchQueue)}
        self.config = config or WorkerConfig()
        self.metrics = metrics or default_metrics()
        self.metrics.watch(
            database, self.queues, [(j.name, j.every.total_seconds()) for j in periodic]
        )
        self._stopping = threading.Event()
        self._scheduler = PeriodicScheduler(
            database, periodic, self.config.name, should_stop=self._stopping.is_set
        )
        self._wake = threading.Event()
        self._idle_turn = threading.Lock()
        self._held: dict[tuple[str, object], tuple[Queue, Lease]] = {}
        self._held_lock = threading.Lock()
        # seconds per job, by queue: a moving average of recent runs (sizes the claims)
        self._per_job: dict[str, float] = {}
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        targets: list[tuple[str, object]] = [
            (f"runner-{i}", self._run_loop) for i in range(self.config.concurrency)
        ]
        targets.append(("housekeeping", self._housekeeping_loop))
        targets.append(("periodic", self._periodic_loop))
        if self.config.listen:
            targets.append(("listener", self._listen_loop))
        for name, target in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
            thread.start()
            self._threads.append(thread)
        log.info(
            "worker %s started: %d runner(s), batch %d, lease %.1fs",
            self.config.name,
            self.config.concurrency,
            self.config.batch,
            self.config.lease_seconds,
        )

    def stop(self) -> None:
        """Asks the threads to stop: runners finish the job in hand, claim nothing new."""
        self._stopping.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def join(self, timeout: float | None = None) -> bool:
        """Waits for the threads; then hands back any lease still held. True if all stopped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        stopped = not any(t.is_alive() for t in self._threads)
        self._release_all()
        return stopped

    def run_until_stopped(self) -> None:
        """Starts, blocks until `stop()` (e.g. from a SIGTERM handler), then shuts down gracefully."""
        self.start()
        while not self._stopping.wait(0.5):
            pass
        if not self.join(self.config.shutdown_grace):
            log.warning("worker %s: jobs still running after the grace period", self.config.name)

    # -- runners -----------------------------------------------------------------------------

    def _run_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            claimed_any = False
            try:
                for queue in self.queues:
                    if self._stopping.is_set():
                        break
                    claimed_any |= self._claim_and_run(queue)
                failures = 0
            except _TRANSIENT as error:
                failures += 1
                delay = min(5.0, 0.1 * 2**failures)
                log.warning("database unavailable (%s); retrying in %.1fs", _brief(error), delay)
                self._stopping.wait(delay)
                continue
            except Exception:
                # a queue's bug: the leases in hand were handed back (or will expire); the runner
                # lives on rather than leaving the worker with one runner fewer
                failures += 1
                log.exception("a runner failed; retrying")
                self._stopping.wait(min(5.0, 0.1 * 2**failures))
                continue
            if claimed_any:
                # there may be more: hand the watch to the next idle runner at once
                self._wake.set()
                continue
            # Idle: one runner at a time watches for work (a wake-up, or the poll interval), the
            # others wait their turn, so an idle worker with many runners claims once per wake-up
            # or poll, not once per runner. A runner that claims something wakes the next one.
            with self._idle_turn:
                if not self._stopping.is_set():
                    self._wake.wait(self.config.poll_interval)
                    self._wake.clear()

    def _claim_and_run(self, queue: Queue) -> bool:
        started = time.perf_counter()
        leases = queue.claim(self.config.name, self._claim_limit(queue), self.config.lease_seconds)
        if not leases:
            return False
        claimed = time.perf_counter()
        self.metrics.claim_duration(queue.name, claimed - started)
        with self._held_lock:
            for lease in leases:
                self._held[(queue.name, lease.token)] = (queue, lease)
        if queue.name in self._batch_queues:
            ran = self._run_batch(cast(BatchQueue, queue), leases)
            self._timed(queue, time.perf_counter() - claimed, ran)
            return True
        pending = list(leases)
        try:
            while pending:
                if self._stopping.is_set():
                    break
                lease = pending.pop(0)
                self._run_one(queue, lease)
        finally:
            if pending:
                self._release(queue, pending)
        self._timed(queue, time.perf_counter() - claimed, len(leases) - len(pending))
        return True

    def _claim_limit(self, queue: Queue) -> int:
        per_job = self._per_job.get(queue.name)
        if not per_job:
            return self.config.batch
        return max(1, min(self.config.batch, int(self.config.batch_seconds / per_job)))

    def _timed(self, queue: Queue, seconds: float, jobs: int) -> None:
        if jobs:
            sample = seconds / jobs
            previous = self._per_job.get(queue.name)
            self._per_job[queue.name] = (
                sample if previous is None else previous + 0.3 * (sample - previous)
            )

    def _run_batch(self, queue: BatchQueue, leases: Sequence[Lease]) -> int:
        """Runs a batch; returns how many of its jobs ran."""
        self._started(queue, leases)
        outcomes: list[Outcome | None] = []
        try:
            with observed_batch(queue, leases):
                outcomes = queue.run_batch(leases, self._stopping.is_set)
        finally:
            # unstarted (None), or every lease of the batch if it raised: the release only
            # matches leases still running, so results already written stay
            unfinished = [
                lease for i, lease in enumerate(leases) if i >= len(outcomes) or outcomes[i] is None
            ]
            if unfinished:
                self._release(queue, unfinished)
            with self._held_lock:
                for lease in leases:
                    self._held.pop((queue.name, lease.token), None)
        for lease, outcome in zip(leases, outcomes, strict=True):
            if outcome is not None:
                self._count(queue, lease, outcome)
        return len(leases) - len(unfinished)

    def _started(self, queue: Queue, leases: Sequence[Lease]) -> None:
        now = datetime.now(UTC)
        for lease in leases:
            if lease.queued_at is not None:
                self.metrics.start_latency(queue.name, (now - lease.queued_at).total_seconds())

    def _count(self, queue: Queue, lease: Lease, outcome: Outcome) -> None:
        self.metrics.outcome(queue.name, lease.kind, outcome.value)
        if outcome is Outcome.LOST:
            log.warning(
                "job %s: lease lost before it finished; its result was discarded", lease.job_id
            )

    def _run_one(self, queue: Queue, lease: Lease) -> None:
        self._started(queue, [lease])
        try:
            with observed(queue, lease):
                outcome = queue.run(lease)
        except _TRANSIENT:
            # The run's transaction is gone with its connection: nothing of it was written.
            self._release(queue, [lease])
            raise
        finally:
            with self._held_lock:
                self._held.pop((queue.name, lease.token), None)
        self._count(queue, lease, outcome)

    def _release(self, queue: Queue, leases: Sequence[Lease]) -> None:
        try:
            queue.release(leases)
        except _TRANSIENT as error:
            log.warning(
                "could not release %d lease(s): %s; they will expire", len(leases), _brief(error)
            )
        with self._held_lock:
            for lease in leases:
                self._held.pop((queue.name, lease.token), None)

    def _release_all(self) -> None:
        with self._held_lock:
            held = list(self._held.values())
        by_queue: dict[str, tuple[Queue, list[Lease]]] = {}
        for queue, lease in held:
            by_queue.setdefault(queue.name, (queue, []))[1].append(lease)
        for queue, leases in by_queue.values():
            self._release(queue, leases)

    # -- housekeeping ------------------------------------------------------------------------

    def _housekeeping_loop(self) -> None:
        beat_every = max(0.05, self.config.lease_seconds / 3)
        next_beat = next_reap = time.monotonic()
        while not self._stopping.is_set():
            now = time.monotonic()
            try:
                if now >= next_beat:
                    self._heartbeat()
                    next_beat = now + beat_every
                if now >= next_reap:
                    reaped = sum(queue.reap() for queue in self.queues)
                    if reaped:
                        log.info("re-queued %d job(s) whose lease expired", reaped)
                        self._wake.set()
                    next_reap = now + self.config.reap_interval
            except _TRANSIENT as error:
                log.warning("housekeeping: database unavailable (%s)", _brief(error))
            except Exception:
                log.exception("housekeeping failed; continuing")
            self._stopping.wait(min(0.25, beat_every))

    def _periodic_loop(self) -> None:
        """Periodic jobs, in a thread of their own: a long one (a big sweep, a slow mail server)
        must not hold up the heartbeats that keep this worker's leases alive."""
        while not self._stopping.is_set():
            try:
                self._scheduler.tick()
            except _TRANSIENT as error:
                log.warning("periodic jobs: database unavailable (%s)", _brief(error))
            except Exception:
                log.exception("a periodic job failed")
            self._stopping.wait(1.0)
        # one last heartbeat is pointless: join() releases what is still held

    def _heartbeat(self) -> None:
        with self._held_lock:
            held = list(self._held.values())
        by_queue: dict[str, tuple[Queue, list[Lease]]] = {}
        for queue, lease in held:
            by_queue.setdefault(queue.name, (queue, []))[1].append(lease)
        for queue, leases in by_queue.values():
            queue.heartbeat(leases, self.config.lease_seconds)

    # -- wake-ups ----------------------------------------------------------------------------

    def _listen_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(
                    self.database.service_conninfo, autocommit=True, connect_timeout=5
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._wake.set()  # anything queued while we were not listening
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._wake.set()
            except psycopg.Error as error:
                log.debug("listener: %s; polling until it reconnects", _brief(error))
                self._stopping.wait(1.0)


def _brief(error: BaseException) -> str:
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
