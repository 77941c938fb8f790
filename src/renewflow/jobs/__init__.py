"""A small lease-based job mechanism on PostgreSQL, shared by every queue-like table.

A queue claims rows with `FOR UPDATE SKIP LOCKED`, each claim a lease with a fresh token; the worker
heartbeats its leases, a reaper re-queues expired ones, and the finishing write is fenced by the
token, so a worker that lost its lease can no longer change the row. Workers wake on LISTEN/NOTIFY
and poll as a fallback; periodic jobs run once per (job, slot) however many workers run.

Layers: `Worker` (the loop, threads, signals) -> a `Queue` (a manager that knows its queries, kept
in `.sql` files) -> `renewflow.db.Database`. The worker never touches SQL.
"""

from renewflow.jobs.backoff import retry_delay
from renewflow.jobs.metrics import Metrics, serve_metrics
from renewflow.jobs.periodic import PeriodicJob, PeriodicScheduler, slot_start
from renewflow.jobs.types import BatchQueue, Lease, Outcome, Queue
from renewflow.jobs.worker import Worker, WorkerConfig

__all__ = [
    "BatchQueue",
    "Lease",
    "Metrics",
    "Outcome",
    "PeriodicJob",
    "PeriodicScheduler",
    "Queue",
    "Worker",
    "WorkerConfig",
    "retry_delay",
    "serve_metrics",
    "slot_start",
]
