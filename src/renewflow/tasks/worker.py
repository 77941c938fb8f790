"""The AI task worker process: the generic job worker with the task queue, the processors and the
periodic sweep. `python -m renewflow.tasks --help`; `run_worker(...)` is what `renewflow worker`
calls."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from types import FrameType

from renewflow.config import load_settings
from renewflow.db import Database, database_from_settings
from renewflow.jobs import Metrics, Worker, WorkerConfig, serve_metrics
from renewflow.tasks.processors import Processor, ProcessorRegistry
from renewflow.tasks.queue import TaskQueue
from renewflow.tasks.sweep import sweep_job

log = logging.getLogger(__name__)


def build_worker(
    database: Database,
    *,
    config: WorkerConfig | None = None,
    registry: ProcessorRegistry | None = None,
    sweep_every: timedelta = timedelta(minutes=1),
    backoff_base: float = 2.0,
    backoff_cap: float = 600.0,
    metrics: Metrics | None = None,
) -> Worker:
    from renewflow.jobs import retry_delay

    queue = TaskQueue(
        database,
        registry or ProcessorRegistry.default(),
        backoff=lambda attempt: retry_delay(attempt, base=backoff_base, cap=backoff_cap),
    )
    return Worker(
        database, [queue], config=config, periodic=[sweep_job(sweep_every)], metrics=metrics
    )


def load_extra_processors(specs: Sequence[str]) -> list[tuple[str, Processor]]:
    """`name=module:attr` pairs (for development; installed plugins use the entry-point group)."""
    loaded: list[tuple[str, Processor]] = []
    for spec in specs:
        name, _, target = spec.partition("=")
        module_name, _, attr = target.partition(":")
        if not name or not module_name or not attr:
            raise SystemExit(f"--processor expects name=module:callable, got {spec!r}")
        loaded.append((name, getattr(importlib.import_module(module_name), attr)))
    return loaded


def run_worker(
    database: Database,
    config: WorkerConfig,
    *,
    registry: ProcessorRegistry | None = None,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
    sweep_every: timedelta = timedelta(minutes=1),
    backoff_base: float = 2.0,
    backoff_cap: float = 600.0,
    install_signals: bool = True,
) -> None:
    """Runs a worker in this process until SIGTERM or SIGINT, then stops gracefully (the jobs in
    hand finish within `config.shutdown_grace`; the rest is released to other workers)."""
    metrics = Metrics()
    worker = build_worker(
        database,
        config=config,
        registry=registry,
        sweep_every=sweep_every,
        backoff_base=backoff_base,
        backoff_cap=backoff_cap,
        metrics=metrics,
    )
    server = (
        serve_metrics(metrics, metrics_host, metrics_port) if metrics_port is not None else None
    )
    if server is not None:
        log.info("metrics on http://%s:%d/metrics", metrics_host, server.server_address[1])

    if install_signals:

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m renewflow.tasks", description="Run an AI task worker."
    )
    parser.add_argument(
        "--database-url", help="owner connection string (default: DATABASE_URL or embedded)"
    )
    parser.add_argument("--name", help="worker name in leases (default host:pid)")
    parser.add_argument("--concurrency", type=int, default=2, help="runner threads")
    parser.add_argument("--batch", type=int, default=8, help="tasks claimed per claim")
    parser.add_argument("--lease", type=float, default=30.0, help="lease seconds")
    parser.add_argument("--poll", type=float, default=1.0, help="polling fallback seconds")
    parser.add_argument("--reap-interval", type=float, default=5.0)
    parser.add_argument("--grace", type=float, default=30.0, help="shutdown grace seconds")
    parser.add_argument("--sweep-every", type=float, default=60.0, help="periodic sweep seconds")
    parser.add_argument("--backoff-base", type=float, default=2.0)
    parser.add_argument("--backoff-cap", type=float, default=600.0)
    parser.add_argument("--metrics-port", type=int, help="serve /metrics on this port")
    parser.add_argument("--metrics-host", default="127.0.0.1")
    parser.add_argument(
        "--no-plugins", action="store_true", help="skip renewflow.processors plugins"
    )
    parser.add_argument(
        "--processor", action="append", default=[], metavar="NAME=MODULE:CALLABLE",
        help="register an extra processor (development)",
    )  # fmt: skip
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )
    settings = load_settings(database_url=args.database_url)
    registry = ProcessorRegistry.default(plugins=not args.no_plugins)
    registry.update(load_extra_processors(args.processor))
    config = WorkerConfig(
        concurrency=args.concurrency,
        batch=args.batch,
        lease_seconds=args.lease,
        poll_interval=args.poll,
        reap_interval=args.reap_interval,
        shutdown_grace=args.grace,
    )
    if args.name:
        config.name = args.name
    database = database_from_settings(settings)
    with database:
        run_worker(
            database,
            config,
            registry=registry,
            metrics_host=args.metrics_host,
            metrics_port=args.metrics_port,
            sweep_every=timedelta(seconds=args.sweep_every),
            backoff_base=args.backoff_base,
            backoff_cap=args.backoff_cap,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
