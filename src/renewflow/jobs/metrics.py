"""The worker's metrics, traces and log ids: what `Worker` records, on renewflow.observability.

The families are prometheus-client's (see `renewflow.observability.metrics`); the worker records
- `renewflow_jobs_outcomes_total{queue,processor,outcome}` (each finished run),
- `renewflow_jobs_start_latency_seconds{queue}` (enqueued -> started),
- `renewflow_jobs_claim_duration_seconds{queue}` (the claim statement itself),
- `renewflow_periodic_interval_seconds{job}` (the periodic jobs it schedules),
and each scrape reads `renewflow_jobs_queue_depth{queue,state}` from the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from renewflow.jobs.types import Lease, Queue
from renewflow.observability import Metrics, context, serve_metrics, tracing
from renewflow.observability import default as default_metrics


@contextmanager
def _observed(queue: Queue, lease: Lease) -> Any:
    with context.bound(job=lease.job_id, tenant=lease.tenant_id):
        if not tracing.enabled():
            yield None
            return
        attributes = {
            "renewflow.job.queue": queue.name,
            "renewflow.job.id": str(lease.job_id),
            "renewflow.job.kind": lease.kind,
            "renewflow.job.attempt": lease.attempt,
            "renewflow.tenant.id": str(lease.tenant_id),
        }
        with tracing.span(f"renewflow.job {queue.name}", attributes, kind="consumer") as span:
            yield span


def observed(queue: Queue, lease: Lease) -> AbstractContextManager[Any]:
    """Around one job's run: its log ids (job, tenant) and its span (a root span: the job may
    continue a request's trace inside, as a step run does)."""
    return _observed(queue, lease)


def observed_batch(queue: Queue, leases: Sequence[Lease]) -> AbstractContextManager[Any]:
    """Around a batch's run: one span for the batch."""
    return tracing.span(
        f"renewflow.job {queue.name}",
        {"renewflow.job.queue": queue.name, "renewflow.job.batch_size": len(leases)},
        kind="consumer",
    )


__all__ = ["Metrics", "default_metrics", "observed", "observed_batch", "serve_metrics"]
