"""The worker process: every queue and periodic job of renewflow on the generic job mechanism.

One place composes them (as the app factory composes the routers):
- the AI task queue (claims, leases, processors);
- asynchronous step runs, on runner threads of their own (`step_workers` at once: each waits on
  one LLM call with no connection held, so they must not take turns with the tasks' runners);
- agent task steps (`agent_workers` at once), on runner threads of their own for the same reason;
- periodic jobs, each run once per slot however many workers run: the task sweep (snoozes,
  decisions, expired leases), the renewal trigger sweep, scheduled notifications (the overdue
  ladder), delivery of queued email and webhook notifications, the health check (late or down
  jobs, budgets) and retention. Each writes its rows in the autonomous-run ledger
  (`renewflow.ledger`).
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from types import FrameType

from renewflow.agents import AgentStepQueue
from renewflow.config import load_settings
from renewflow.db import Connection, Database
from renewflow.engine import RunLimits, StepRunner, run_schedule
from renewflow.engine.schedule import JOB as SCHEDULE_JOB
from renewflow.engine.sweep import JOB as RENEWAL_SWEEP_JOB
from renewflow.engine.sweep import run_sweep as run_renewal_sweep
from renewflow.intelligence import PassLimits
from renewflow.intelligence import periodic_job as intelligence_job
from renewflow.intelligence.passes import JOB as INTELLIGENCE_JOB
from renewflow.jobs import Metrics, PeriodicJob, Worker, WorkerConfig, retry_delay, serve_metrics
from renewflow.jobs.metrics import default_metrics
from renewflow.knowledge import IndexQueue, default_embedder
from renewflow.ledger import TaskType
from renewflow.ledger.health import ScheduledJob
from renewflow.ledger.health import job as health_rule
from renewflow.ledger.jobs import health_job, ledgered, retention_job
from renewflow.llm import LLMClients, shared_clients
from renewflow.notify.delivery import delivery_job
from renewflow.tasks.processors import ProcessorRegistry
from renewflow.tasks.queue import TaskQueue
from renewflow.tasks.sweep import sweep_job

log = logging.getLogger(__name__)


# Tasks per claim when no config is given (the worker `renewflow serve` runs): each batch costs two
# short transactions, its claim and one statement finishing all its results; slow processors are
# claimed fewer at a time anyway (`WorkerConfig.batch_seconds`), so a big batch does not make them
# wait behind each other.
TASK_BATCH = 32
# Agent steps run at once per worker process: each holds one LLM call and no connection.
AGENT_WORKERS = 4
AGENT_BATCH = 8


@dataclass(frozen=True)
class Intervals:
    """How often each periodic job runs. The renewal sweep is idempotent, so running it hourly
    (rather than daily) starts each tenant's new day within the hour, whatever its time zone."""

    task_sweep: timedelta = timedelta(minutes=1)
    renewal_sweep: timedelta = timedelta(hours=1)
    notification_schedule: timedelta = timedelta(minutes=15)
    notification_delivery: timedelta = timedelta(seconds=30)
    health_check: timedelta = timedelta(minutes=5)
    retention: timedelta = timedelta(days=1)
    # the continuous-intelligence agent's slot, shared with its cron endpoint
    intelligence: timedelta = timedelta(minutes=30)


def scheduled_jobs(intervals: Intervals, *, intelligence: bool = True) -> list[ScheduledJob]:
    """The health rules of the periodic jobs at these intervals (`renewflow.ledger.health`),
    the continuous-intelligence agent's when the worker runs it."""
    rules = [
        health_rule(TaskType.TASK_SWEEP, "tasks.sweep", intervals.task_sweep),
        health_rule(TaskType.RENEWAL_SWEEP, RENEWAL_SWEEP_JOB, intervals.renewal_sweep),
        health_rule(TaskType.NOTIFICATION_SCHEDULE, SCHEDULE_JOB, intervals.notification_schedule),
        health_rule(
            TaskType.NOTIFICATION_DELIVERY, "notify.deliver", intervals.notification_delivery
        ),
        health_rule(TaskType.SYSTEM_HEALTH_CHECK, "ledger.health", intervals.health_check),
        health_rule(
            TaskType.DATA_CLEANUP, "ledger.retention", intervals.retention, timedelta(hours=6)
        ),
    ]
    if intelligence:
        rules.append(
            health_rule(
                TaskType.CONTINUOUS_INTELLIGENCE_UPDATE, INTELLIGENCE_JOB, intervals.intelligence
            )
        )
    return rules


def periodic_jobs(database: Database, intervals: Intervals) -> list[PeriodicJob]:
    """The cross-tenant jobs, each failing per tenant (and per customer, execution or message
    inside a tenant), recorded in `job_failures` for the tenant's admins; a run that raises
    all the same (the database went away) is retried with a backoff, never at every tick."""

    def sweep_renewals(should_stop: Callable[[], bool]) -> None:
        # alone: one transaction for every tenant, or one per tenant if that one fails
        result = run_renewal_sweep(database)
        if result.started or result.superseded:
            log.info("renewal sweep: %d started, %d superseded", result.started, result.superseded)
        for failure in result.failures:
            log.warning("renewal sweep: %s", failure.describe())

    settings = load_settings()

    def schedule_notifications(conn: Connection) -> None:
        # each tenant in its own transaction; `conn` holds this slot's claim meanwhile
        run_schedule(database)

    jobs = [
        ledgered(database, sweep_job(database, intervals.task_sweep), TaskType.TASK_SWEEP),
        ledgered(
            database,
            PeriodicJob.alone(RENEWAL_SWEEP_JOB, intervals.renewal_sweep, sweep_renewals),
            TaskType.RENEWAL_SWEEP,
        ),
        ledgered(
            database,
            PeriodicJob(SCHEDULE_JOB, intervals.notification_schedule, schedule_notifications),
            TaskType.NOTIFICATION_SCHEDULE,
        ),
        ledgered(
            database,
            delivery_job(database, intervals.notification_delivery),
            TaskType.NOTIFICATION_DELIVERY,
        ),
        health_job(
            database,
            scheduled_jobs(intervals, intelligence=settings.intelligence_agent),
            intervals.health_check,
        ),
        retention_job(database, intervals.retention),
    ]
    if settings.intelligence_agent:
        limits = PassLimits(settings.intelligence_batch_size, settings.intelligence_max_workspaces)
        jobs.append(intelligence_job(database, shared_clients, limits, intervals.intelligence))
    return jobs


def build_worker(
    database: Database,
    *,
    config: WorkerConfig | None = None,
    registry: ProcessorRegistry | None = None,
    intervals: Intervals | None = None,
    sweep_every: timedelta | None = None,
    backoff_base: float = 2.0,
    backoff_cap: float = 600.0,
    metrics: Metrics | None = None,
    step_runner: StepRunner | None = None,
    step_workers: int = 0,
    agent_workers: int = AGENT_WORKERS,
    llm_clients: LLMClients | None = None,
) -> WorkerGroup:
    """A worker ready to `start()` (in a thread, as `renewflow serve` does) or to run here; with
    `step_workers` > 0 it also runs asynchronous step runs (with `step_runner`'s limits), and
    with `agent_workers` > 0 agent task steps (their retries back off like the tasks')."""
    intervals = intervals or Intervals()
    if sweep_every is not None:
        intervals = replace(intervals, task_sweep=sweep_every)
    queue = TaskQueue(
        database,
        registry or ProcessorRegistry.default(),
        backoff=lambda attempt: retry_delay(attempt, base=backoff_base, cap=backoff_cap),
    )
    config = config or WorkerConfig(batch=TASK_BATCH)
    # documents to index for the knowledge base: the same worker, one job at a time each
    index_queue = IndexQueue(database, embedder=default_embedder())
    workers = [
        Worker(
            database,
            [queue, index_queue],
            config=config,
            periodic=periodic_jobs(database, intervals),
            metrics=metrics,
        )
    ]
    if step_workers > 0:
        runner = step_runner or StepRunner(database, shared_clients)
        steps = WorkerConfig(
            name=f"{config.name}/steps",
            concurrency=step_workers,
            batch=1,
            lease_seconds=runner.limits.lease_seconds,
            poll_interval=config.poll_interval,
            reap_interval=config.reap_interval,
            shutdown_grace=config.shutdown_grace,
            listen=config.listen,
        )
        workers.append(Worker(database, [runner.queue], config=steps, metrics=metrics))
    if agent_workers > 0:
        agent_queue = AgentStepQueue(
            database,
            llm_clients or shared_clients,
            backoff=lambda attempt: retry_delay(attempt, base=backoff_base, cap=backoff_cap),
        )
        agents = WorkerConfig(
            name=f"{config.name}/agents",
            concurrency=agent_workers,
            # steps claimed at once by a runner, fewer when they take long (`batch_seconds`):
            # a batch of quick steps finishes in one statement, a slow provider's one at a time
            batch=AGENT_BATCH,
            lease_seconds=config.lease_seconds,
            poll_interval=config.poll_interval,
            reap_interval=config.reap_interval,
            shutdown_grace=config.shutdown_grace,
            listen=config.listen,
        )
        workers.append(Worker(database, [agent_queue], config=agents, metrics=metrics))
    return WorkerGroup(workers)


class WorkerGroup:
    """Workers started, stopped and joined together (the task queue's and the step runs')."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    @property
    def stopping(self) -> bool:
        return all(worker.stopping for worker in self.workers)

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        stopped = True
        for worker in self.workers:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            stopped &= worker.join(remaining)
        return stopped

    def run_until_stopped(self) -> None:
        """Starts, blocks until `stop()` (e.g. from a SIGTERM handler), then shuts down."""
        self.start()
        while not all(worker.stopping for worker in self.workers):
            time.sleep(0.5)
        grace = max(worker.config.shutdown_grace for worker in self.workers)
        if not self.join(grace):
            log.warning("jobs still running after the grace period")


def run_worker(
    database: Database,
    config: WorkerConfig,
    *,
    registry: ProcessorRegistry | None = None,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
    intervals: Intervals | None = None,
    backoff_base: float = 2.0,
    backoff_cap: float = 600.0,
    step_workers: int = 0,
    agent_workers: int = AGENT_WORKERS,
) -> None:
    """Runs a worker in this process until SIGTERM or SIGINT, then stops gracefully (the jobs in
    hand finish within `config.shutdown_grace`; the rest is released to other workers). The
    metrics port serves this process's metrics, its steps' LLM calls included."""
    metrics = default_metrics()
    worker = build_worker(
        database,
        config=config,
        registry=registry,
        intervals=intervals,
        backoff_base=backoff_base,
        backoff_cap=backoff_cap,
        metrics=metrics,
        step_runner=StepRunner(
            database, shared_clients, limits=RunLimits.from_settings(load_settings())
        ),
        step_workers=step_workers,
        agent_workers=agent_workers,
    )
    server = (
        serve_metrics(metrics, metrics_host, metrics_port) if metrics_port is not None else None
    )
    if server is not None:
        log.info("metrics on http://%s:%d/metrics", metrics_host, server.server_address[1])

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing the jobs in hand, then stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        worker.run_until_stopped()
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
