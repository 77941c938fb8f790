"""Prometheus metrics of every renewflow process, with prometheus-client.

`default()` is the process's `Metrics`: the API, the step engine, the LLM client, the worker and
delivery record into it; the API's `/metrics` and the worker's metrics port expose it
(`exposition()`). The families, their labels and what they count are in docs/operations.md,
"Monitoring".

Several processes (`renewflow serve --processes N` and the worker it runs; `PROMETHEUS_MULTIPROC_DIR`
set for any process) use prometheus-client's multiprocess mode: each process writes its values to
memory-mapped files in one directory, emptied by the process that starts the others
(`prepare_multiprocess_dir`), and a scrape of any of them sums every process's files. Counters of
a process that died stay counted; its live gauges (requests in progress, pool connections) are
removed by the next process to start.

Some values are read at scrape time instead of being recorded: queue depths, the periodic jobs'
slots and the open job failures come from the database (`renewflow_database_up` says whether it
answered), each scrape waiting at most `SCRAPE_DB_TIMEOUT` for them, so a scrape during a database
outage answers at once with what is known; the pools' statistics come from psycopg_pool.

Labels are bounded: routes are templates (`/api/workflows/runs/{run_id}`, `unmatched` for paths
no route serves), and the values tenants choose (workflow ids, model names) are kept as they are
up to a number of distinct values per process, then counted as `other`. A per-tenant label on the
LLM families is opt-in (`RENEWFLOW_METRICS_TENANT_LABEL=true`).
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from renewflow import __version__
from renewflow.db import load_queries
from renewflow.errors import InvalidInputError, RenewflowError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from renewflow.db import Database

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
TENANT_LABEL_ENV = "RENEWFLOW_METRICS_TENANT_LABEL"
SCRAPE_DB_TIMEOUT = 1.0  # seconds a scrape waits for the database's answers
# seconds between two samples of the pools' statistics in multiprocess mode (a scrape samples
# the process it asks; the others' pool gauges are at most this old); a sample is a few reads of
# memory and writes to a mapped file
SAMPLE_EVERY = 1.0

_Q = load_queries("renewflow.observability")

# no `_created` series beside each counter and histogram: they double the series for a value
# Prometheus does not use (a counter's reset shows in the counter itself)
disable_created_metrics()  # type: ignore[no-untyped-call]

# Buckets, in seconds, by what they time.
_HTTP = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_LLM = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
_STEP = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_QUEUE = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_QUEUE_START = (*_QUEUE, 60.0, 300.0, 900.0, 3600.0)
_DELIVERY = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def multiprocess() -> bool:
    """Whether this process records in prometheus-client's multiprocess mode."""
    return bool(os.environ.get(MULTIPROC_ENV))


def tenant_label_from_environment(env: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get(TENANT_LABEL_ENV, "").strip().lower()
    if value in ("", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise InvalidInputError(TENANT_LABEL_ENV, f"must be true or false, not {value!r}")


class _Bounded:
    """A label whose values come from outside the code (tenant-authored ids, model names): kept
    as they are up to `limit` distinct values, then `other`, so that no tenant can grow the
    number of series without bound."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return "other"
        self._seen.add(value)  # a race only lets a few more in
        return value


class _Families:
    """The recorded families, on `registry` (None in multiprocess mode: the files are the
    registry, read by `MultiProcessCollector`)."""

    def __init__(self, registry: CollectorRegistry | None, tenant_label: bool) -> None:
        r = registry
        tenant = ("tenant",) if tenant_label else ()
        self.tenant_label = tenant_label
        self.http_requests = Counter(
            "renewflow_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "renewflow_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route and method.",
            ["route", "method"],
            buckets=_HTTP,
            registry=r,
        )
        self.http_in_progress = Gauge(
            "renewflow_http_requests_in_progress",
            "HTTP requests being answered.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.llm_calls = Counter(
            "renewflow_llm_calls",
            "LLM calls (all attempts of one call count once), by provider, model and outcome "
            "(success, or the error kind: timeout, rate_limited, unavailable, bad_response, config).",
            ["provider", "model", "outcome", *tenant],
            registry=r,
        )
        self.llm_duration = Histogram(
            "renewflow_llm_call_duration_seconds",
            "Time an LLM call took, its retries and their waits included.",
            ["provider", "model"],
            buckets=_LLM,
            registry=r,
        )
        self.llm_tokens = Counter(
            "renewflow_llm_tokens",
            "Tokens of LLM calls as the provider counted them, by type (input, output).",
            ["provider", "model", "type", *tenant],
            registry=r,
        )
        self.llm_cost = Counter(
            "renewflow_llm_cost_usd",
            "Cost of LLM calls in US dollars, from the price table (unpriced models count 0).",
            ["provider", "model", *tenant],
            registry=r,
        )
        self.llm_retries = Counter(
            "renewflow_llm_retries",
            "Attempts of LLM calls beyond the first (rate limits, unavailable providers).",
            ["provider", "model"],
            registry=r,
        )
        self.steps = Counter(
            "renewflow_steps",
            "Workflow steps finished, by workflow, step type and outcome (completed, failed, skipped).",
            ["workflow", "step_type", "outcome"],
            registry=r,
        )
        self.step_duration = Histogram(
            "renewflow_step_duration_seconds",
            "Time a step took from its claim to its finish, the LLM call included, by workflow.",
            ["workflow"],
            buckets=_STEP,
            registry=r,
        )
        self.job_outcomes = Counter(
            "renewflow_jobs_outcomes",
            "Finished runs of queued jobs, by queue, processor and outcome (success, retry, "
            "failed, lost).",
            ["queue", "processor", "outcome"],
            registry=r,
        )
        self.job_start_latency = Histogram(
            "renewflow_jobs_start_latency_seconds",
            "Time from a job's enqueueing to the start of its run, by queue.",
            ["queue"],
            buckets=_QUEUE_START,
            registry=r,
        )
        self.job_claim_duration = Histogram(
            "renewflow_jobs_claim_duration_seconds",
            "Time one claim statement takes, by queue.",
            ["queue"],
            buckets=_QUEUE,
            registry=r,
        )
        self.periodic_interval = Gauge(
            "renewflow_periodic_interval_seconds",
            "The interval of each periodic job a running worker schedules.",
            ["periodic_job"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.deliveries = Counter(
            "renewflow_notification_deliveries",
            "Notification delivery attempts, by channel and outcome (sent, retryable, permanent).",
            ["channel", "outcome"],
            registry=r,
        )
        self.delivery_duration = Histogram(
            "renewflow_notification_delivery_duration_seconds",
            "Time one delivery attempt took, by channel.",
            ["channel"],
            buckets=_DELIVERY,
            registry=r,
        )
        self.pool_connections = Gauge(
            "renewflow_db_pool_connections",
            "Connections of the database pools, by pool (app, service) and state (in_use, idle).",
            ["pool", "state"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.pool_max = Gauge(
            "renewflow_db_pool_max_connections",
            "The most connections the pools may open.",
            ["pool"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.pool_waiting = Gauge(
            "renewflow_db_pool_waiting_requests",
            "Requests waiting for a connection now.",
            ["pool"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.pool_requests = Counter(
            "renewflow_db_pool_requests",
            "Connections asked of the pools.",
            ["pool"],
            registry=r,
        )
        self.pool_queued = Counter(
            "renewflow_db_pool_queued_requests",
            "Connections asked of the pools that had to wait for one.",
            ["pool"],
            registry=r,
        )
        self.pool_wait = Counter(
            "renewflow_db_pool_wait_seconds",
            "Time spent waiting for a pool's connection.",
            ["pool"],
            registry=r,
        )
        self.pool_timeouts = Counter(
            "renewflow_db_pool_timeouts",
            "Requests that got no connection in time.",
            ["pool"],
            registry=r,
        )
        self.pool_connection_errors = Counter(
            "renewflow_db_pool_connection_errors",
            "Failed attempts to open a connection.",
            ["pool"],
            registry=r,
        )
        self.pool_connections_lost = Counter(
            "renewflow_db_pool_connections_lost",
            "Connections found broken and discarded.",
            ["pool"],
            registry=r,
        )
        self.build_info = Gauge(
            "renewflow_build_info",
            "Always 1; its label is renewflow's version.",
            ["version"],
            registry=r,
            multiprocess_mode="max",
        )
        self.build_info.labels(__version__).set(1)


# psycopg_pool's counters (`get_stats()` keys), and the family each one feeds (by scale)
_POOL_COUNTERS: tuple[tuple[str, str, float], ...] = (
    ("requests_num", "pool_requests", 1.0),
    ("requests_queued", "pool_queued", 1.0),
    ("requests_wait_ms", "pool_wait", 0.001),
    ("requests_timeouts", "pool_timeouts", 1.0),
    ("connections_errors", "pool_connection_errors", 1.0),
    ("connections_lost", "pool_connections_lost", 1.0),
)


class _DepthQueue(Protocol):
    name: str

    def depth(self) -> Mapping[str, int]: ...


@dataclass
class _Snapshot:
    """What the database said at one scrape."""

    depths: dict[str, dict[str, int]] = field(default_factory=dict)
    periodic: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    # (task type, state) -> tenants: the health of scheduled work (renewflow.ledger.health)
    health: dict[tuple[str, str], int] = field(default_factory=dict)


class _Probe:
    """One read of the database at a time, each scrape waiting at most `timeout` for it: a read
    still running when a scrape gives up goes on in the background and serves a later scrape,
    so a slow or absent database never piles up reads nor holds a scrape."""

    def __init__(self, read: Callable[[], _Snapshot], timeout: float) -> None:
        self._read = read
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pending: threading.Event | None = None
        self.last: _Snapshot | None = None
        self._ok = False

    def get(self) -> tuple[_Snapshot | None, bool]:
        """The latest snapshot, and whether it is this scrape's (the database answered)."""
        with self._lock:
            pending = self._pending
            if pending is None:
                pending = self._pending = threading.Event()
                threading.Thread(
                    target=self._run, args=(pending,), name="metrics-db-read", daemon=True
                ).start()
        answered = pending.wait(self._timeout)
        return self.last, answered and self._ok

    def _run(self, done: threading.Event) -> None:
        ok = False
        try:
            snapshot = self._read()
            self.last, ok = snapshot, True
        except Exception as error:  # the database is away: the scrape says so
            log.debug("metrics: the database did not answer: %s", error)
        finally:
            with self._lock:
                self._ok = ok
                self._pending = None
            done.set()


class _DatabaseCollector:
    """The families read from the database at scrape time (see the module docstring)."""

    def __init__(self, timeout: float) -> None:
        self.databases: dict[int, Database] = {}
        self.queues: dict[str, _DepthQueue] = {}
        self._probe = _Probe(self._read, timeout)

    def _read(self) -> _Snapshot:
        snapshot = _Snapshot()
        for name, queue in list(self.queues.items()):
            snapshot.depths[name] = {state: int(n) for state, n in queue.depth().items()}
        for database in list(self.databases.values())[:1]:
            with database.service_transaction() as conn:
                conn.execute(_Q["bound_the_scrape"])
                snapshot.periodic = conn.execute(_Q["periodic_jobs"]).fetchall()
                snapshot.failures = conn.execute(_Q["open_failures"]).fetchall()
                # imported here: the ledger's package imports the layers this module serves
                from renewflow.ledger.health import tenants_by_state

                snapshot.health = {key: n for key, n in tenants_by_state(conn).items()}
        return snapshot

    def collect(self) -> Iterator[Metric]:
        if not self.databases and not self.queues:
            return
        snapshot, fresh = self._probe.get()
        yield GaugeMetricFamily(
            "renewflow_database_up",
            "1 if the database answered this scrape's queries within "
            f"{SCRAPE_DB_TIMEOUT:g}s; 0 if not, and the database families are its last answer.",
            value=1 if fresh else 0,
        )
        depth = GaugeMetricFamily(
            "renewflow_jobs_queue_depth",
            "Jobs per queue and state (queued, waiting for their time, running), read from the "
            "database.",
            labels=["queue", "state"],
        )
        last_slot = GaugeMetricFamily(
            "renewflow_periodic_last_slot_timestamp_seconds",
            "Start of the newest slot of each periodic job that a worker took.",
            labels=["periodic_job"],
        )
        last_ok = GaugeMetricFamily(
            "renewflow_periodic_last_ok_slot_timestamp_seconds",
            "Start of the newest slot of each periodic job that ran (or runs) without failing.",
            labels=["periodic_job"],
        )
        failing = GaugeMetricFamily(
            "renewflow_periodic_failing",
            "1 while the newest slot of a periodic job failed and waits for its next attempt.",
            labels=["periodic_job"],
        )
        failures = GaugeMetricFamily(
            "renewflow_job_failures_open",
            "Open failures of cross-tenant jobs (job_failures), by job and subject type.",
            labels=["periodic_job", "subject"],
        )
        health = GaugeMetricFamily(
            "renewflow_scheduled_job_tenants",
            "Tenants per scheduled job (ledger task type) and state: ok, late (not succeeded "
            "within its interval and grace), down.",
            labels=["task_type", "state"],
        )
        if snapshot is not None:
            for (task_type, state), count in sorted(snapshot.health.items()):
                health.add_metric([task_type, state], count)
            for queue, states in sorted(snapshot.depths.items()):
                for state, count in sorted(states.items()):
                    depth.add_metric([queue, state], count)
            for row in snapshot.periodic:
                last_slot.add_metric([row["job_name"]], float(row["last_slot"]))
                if row["last_ok_slot"] is not None:
                    last_ok.add_metric([row["job_name"]], float(row["last_ok_slot"]))
                failing.add_metric([row["job_name"]], 1.0 if row["failing"] else 0.0)
            for row in snapshot.failures:
                failures.add_metric([row["job"], row["subject_type"]], row["open"])
        yield from (depth, last_slot, last_ok, failing, failures, health)


class _Scrape:
    """What one scrape collects: the recorded families (this registry's, or every process's
    files) and the database's; the pools are sampled first."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        metrics.sample_pools()
        if metrics.registry is not None:
            yield from metrics.registry.collect()
        else:
            files = CollectorRegistry(auto_describe=True)
            MultiProcessCollector(files)  # type: ignore[no-untyped-call]
            yield from files.collect()
            yield from metrics.database.collect()


class Metrics:
    """renewflow's metric families and how each is recorded (see the module docstring).

    Each instance in the usual (one process) mode has a registry of its own; in multiprocess
    mode every instance of a process shares one set of families, since two in one process would
    overwrite each other's values in the shared files."""

    def __init__(self, *, tenant_label: bool | None = None) -> None:
        if tenant_label is None:
            tenant_label = tenant_label_from_environment()
        self.database = _DatabaseCollector(SCRAPE_DB_TIMEOUT)
        if multiprocess():
            self.registry: CollectorRegistry | None = None
            self._f = _shared_families(tenant_label)
        else:
            self.registry = CollectorRegistry(auto_describe=True)
            self._f = _Families(self.registry, tenant_label)
            self.registry.register(self.database)
        self._workflow = _Bounded(200)
        self._label = _Bounded(200)
        self._tenant = _Bounded(1000)
        self._pool_seen: dict[tuple[int, str], dict[str, float]] = {}
        self._pools: dict[int, Database] = {}
        self._sampler: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- what to read at scrape time -----------------------------------------------------------

    def watch(
        self,
        database: Database,
        queues: Iterable[_DepthQueue] = (),
        periodic: Iterable[tuple[str, float]] = (),
    ) -> None:
        """Reports `database`'s pools, its periodic jobs and job failures, and the depth of
        `queues`, at every scrape; `periodic` gives the (name, interval seconds) of the periodic
        jobs this process schedules."""
        with self._lock:
            self._pools[id(database)] = database
            self.database.databases[id(database)] = database
            for queue in queues:
                self.database.queues[queue.name] = queue
            if multiprocess() and self._sampler is None:
                self._sampler = threading.Thread(
                    target=self._sample_forever, name="metrics-sampler", daemon=True
                )
                self._sampler.start()
        for name, seconds in periodic:
            self._f.periodic_interval.labels(name).set(seconds)

    def sample_pools(self) -> None:
        """Copies psycopg_pool's statistics of the watched databases into the pool families."""
        f = self._f
        for key, database in list(self._pools.items()):
            for pool, stats in database.pool_stats().items():
                size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
                f.pool_connections.labels(pool, "in_use").set(max(0, size - available))
                f.pool_connections.labels(pool, "idle").set(available)
                f.pool_max.labels(pool).set(stats.get("pool_max", 0))
                f.pool_waiting.labels(pool).set(stats.get("requests_waiting", 0))
                seen = self._pool_seen.setdefault((key, pool), {})
                for stat, family, scale in _POOL_COUNTERS:
                    now = float(stats.get(stat, 0))
                    before = seen.get(stat, 0.0)
                    # a count that went down belongs to a new pool: all of it is new
                    delta = now - before if now >= before else now
                    if delta > 0:
                        getattr(f, family).labels(pool).inc(delta * scale)
                    seen[stat] = now

    def _sample_forever(self) -> None:
        while True:
            try:
                self.sample_pools()
            except Exception:  # a sample must never end the thread
                log.exception("metrics: sampling the pools failed")
            time.sleep(SAMPLE_EVERY)

    # -- exposition -----------------------------------------------------------------------------

    def collector(self) -> _Scrape:
        """What a scrape collects (for prometheus-client's encoders and its HTTP server)."""
        return _Scrape(self)

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The scrape's body and content type, in the format the `Accept` header asks for
        (Prometheus text, or OpenMetrics)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.collector()), content_type

    def render(self) -> str:
        """The Prometheus text of a scrape."""
        return self.exposition()[0].decode()

    # -- what the code records ------------------------------------------------------------------

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "_OTHER"
        self._f.http_requests.labels(route, method, str(status)).inc()
        self._f.http_duration.labels(route, method).observe(seconds)

    def http_started(self) -> None:
        self._f.http_in_progress.inc()

    def http_finished(self) -> None:
        self._f.http_in_progress.dec()

    def llm_call(
        self,
        *,
        provider: str,
        model: str,
        outcome: str,
        seconds: float,
        attempts: int,
        input_tokens: int | None,
        output_tokens: int | None,
        cost_usd: float | None,
        tenant: str | None,
    ) -> None:
        f = self._f
        model = self._label(model)
        extra = (self._tenant(tenant or "none"),) if f.tenant_label else ()
        f.llm_calls.labels(provider, model, outcome, *extra).inc()
        f.llm_duration.labels(provider, model).observe(seconds)
        # every call's series exist, at 0 if need be (an unpriced model, a call that failed
        # before any token): a rate over them then works from the first call on
        f.llm_tokens.labels(provider, model, "input", *extra).inc(max(input_tokens or 0, 0))
        f.llm_tokens.labels(provider, model, "output", *extra).inc(max(output_tokens or 0, 0))
        f.llm_cost.labels(provider, model, *extra).inc(max(cost_usd or 0.0, 0.0))
        if attempts > 1:
            f.llm_retries.labels(provider, model).inc(attempts - 1)

    def step_finished(self, workflow: str, step_type: str, outcome: str, seconds: float) -> None:
        workflow = self._workflow(workflow)
        self._f.steps.labels(workflow, step_type, outcome).inc()
        self._f.step_duration.labels(workflow).observe(seconds)

    def outcome(self, queue: str, processor: str, outcome: str) -> None:
        self._f.job_outcomes.labels(queue, self._label(processor), outcome).inc()

    def start_latency(self, queue: str, seconds: float) -> None:
        self._f.job_start_latency.labels(queue).observe(max(seconds, 0.0))

    def claim_duration(self, queue: str, seconds: float) -> None:
        self._f.job_claim_duration.labels(queue).observe(seconds)

    def delivery(self, channel: str, error: object | None, seconds: float) -> None:
        """One delivery attempt: sent (`error` None), or failed, retryable or not (the error's
        `retryable`)."""
        outcome = (
            "sent"
            if error is None
            else "retryable"
            if getattr(error, "retryable", False)
            else "permanent"
        )
        self._f.deliveries.labels(channel, outcome).inc()
        self._f.delivery_duration.labels(channel).observe(seconds)


_shared: _Families | None = None
_default: Metrics | None = None
_default_lock = threading.RLock()  # _shared_families takes it inside default()


def _shared_families(tenant_label: bool) -> _Families:
    global _shared  # noqa: PLW0603 - one set of families per process in multiprocess mode
    with _default_lock:
        if _shared is None:
            forget_dead_processes()
            _shared = _Families(None, tenant_label)
        return _shared


def default() -> Metrics:
    """This process's metrics (created on first use)."""
    global _default  # noqa: PLW0603 - one Metrics per process, built on first use
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Metrics()
    return _default


def set_default(metrics: Metrics | None) -> None:
    """Replaces this process's metrics (a benchmark's baseline without them; tests)."""
    global _default  # noqa: PLW0603 - one Metrics per process, built on first use
    _default = metrics


def prepare_multiprocess_dir(path: str | os.PathLike[str] | None, *, create: bool = True) -> Path:
    """Makes `path` (or, with None, `PROMETHEUS_MULTIPROC_DIR`) this process tree's multiprocess
    directory: created if needed, emptied of an earlier run's files, and exported in the
    environment for this process and the ones it starts. Call it before recording anything."""
    if _shared is not None or (_default is not None and _default.registry is not None):
        raise RuntimeError("metrics were recorded before their multiprocess directory was set")
    chosen = Path(path if path is not None else os.environ[MULTIPROC_ENV])
    if create:
        chosen.mkdir(parents=True, exist_ok=True)
    if not chosen.is_dir():
        raise RenewflowError(f"{MULTIPROC_ENV}: {chosen} is not a directory")
    for stale in chosen.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(chosen)
    # prometheus-client picks its value class when it is first imported, from the environment:
    # pick it again, since this module imported it before the variable was set
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return chosen


def forget_dead_processes() -> None:
    """Removes the live gauges' files of processes that are gone (a restarted HTTP process's
    predecessor), so that the gauges sum the living only."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return
    pids: set[int] = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        number = os.path.basename(path).removesuffix(".db").rsplit("_", 1)[-1]
        if number.isdigit():
            pids.add(int(number))
    for pid in pids:
        if not _alive(pid):
            mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve_metrics(metrics: Metrics, host: str, port: int) -> WSGIServer:
    """Serves `metrics` at `http://host:port/metrics` on a daemon thread (prometheus-client's
    server); returns the server (its port if `port` was 0)."""
    try:
        server, _ = start_http_server(port, addr=host, registry=metrics.collector())
    except OSError as error:
        raise RenewflowError(
            f"cannot serve metrics on {host}:{port}: {error.strerror or error}"
        ) from None
    return server


def periodic_intervals(jobs: Sequence[Any]) -> list[tuple[str, float]]:
    """(name, seconds) of periodic jobs (objects with `name` and `every`)."""
    return [(job.name, job.every.total_seconds()) for job in jobs]
