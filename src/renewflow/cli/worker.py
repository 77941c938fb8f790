"""`renewflow worker` and `renewflow sweep`: the background work, in a process or once."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from renewflow import accounts, observability
from renewflow.cli.app import LogLevelName, app, open_database, state


@app.command()
def worker(
    name: Annotated[
        str | None, typer.Option(help="Worker name in leases (default host:pid).")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Runner threads.")] = 2,
    step_workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Asynchronous step runs at once (default: RENEWFLOW_STEP_WORKERS, else 50).",
        ),
    ] = None,
    agent_workers: Annotated[
        int | None,
        typer.Option(
            min=0, help="Agent task steps at once (default: RENEWFLOW_AGENT_WORKERS, else 4)."
        ),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Tasks claimed per claim.")] = 8,
    lease: Annotated[float, typer.Option(min=1, help="Lease seconds.")] = 30.0,
    poll: Annotated[float, typer.Option(min=0.05, help="Polling fallback seconds.")] = 1.0,
    reap_interval: Annotated[float, typer.Option(min=0.1)] = 5.0,
    grace: Annotated[float, typer.Option(min=0, help="Shutdown grace seconds.")] = 30.0,
    sweep_every: Annotated[float, typer.Option(min=0.1, help="Task sweep seconds.")] = 60.0,
    backoff_base: Annotated[float, typer.Option(min=0)] = 2.0,
    backoff_cap: Annotated[float, typer.Option(min=0)] = 600.0,
    metrics_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Serve /metrics on this port.")
    ] = None,
    metrics_host: Annotated[str, typer.Option()] = "127.0.0.1",
    plugins: Annotated[bool, typer.Option(help="Load renewflow.processors plugins.")] = True,
    processor: Annotated[
        list[str] | None,
        typer.Option(help="Extra processor NAME=MODULE:CALLABLE (development); repeatable."),
    ] = None,
    log_level: Annotated[
        LogLevelName | None,
        typer.Option(case_sensitive=False, help="Default: RENEWFLOW_LOG_LEVEL, else info."),
    ] = None,
) -> None:
    """Run a worker: AI tasks, asynchronous step runs, agent task steps, knowledge-base
    indexing, and the periodic jobs (the renewal sweep, scheduled notifications and their
    delivery, the task sweep, health checks, retention, the continuous-intelligence agent).
    Stops gracefully on SIGTERM; run as many as you like."""
    from datetime import timedelta

    from renewflow.jobs import WorkerConfig
    from renewflow.tasks.processors import ProcessorRegistry
    from renewflow.tasks.worker import load_extra_processors
    from renewflow.worker import Intervals, run_worker

    level = log_level.value if log_level else state.settings().log_level
    # first: settings that cannot work (OTEL_*, RENEWFLOW_METRICS_TENANT_LABEL) are one line
    observability.setup_process(level, state.log_format)
    if observability.multiprocess():  # PROMETHEUS_MULTIPROC_DIR: this worker's, emptied now
        observability.prepare_multiprocess_dir(None)
    registry = ProcessorRegistry.default(plugins=plugins)
    registry.update(load_extra_processors(processor or []))
    config = WorkerConfig(
        concurrency=concurrency,
        batch=batch,
        lease_seconds=lease,
        poll_interval=poll,
        reap_interval=reap_interval,
        shutdown_grace=grace,
    )
    if name:
        config.name = name
    with open_database() as database:
        run_worker(
            database,
            config,
            registry=registry,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            intervals=Intervals(task_sweep=timedelta(seconds=sweep_every)),
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            step_workers=state.settings().step_workers if step_workers is None else step_workers,
            agent_workers=(
                state.settings().agent_workers if agent_workers is None else agent_workers
            ),
        )
    observability.tracing.shutdown()


@app.command()
def sweep(
    tenant: Annotated[
        str | None, typer.Option(help="Only this tenant (default: every tenant).")
    ] = None,
) -> None:
    """Start and supersede workflow executions so each customer runs the workflow of its stage.

    Each tenant, and each customer, fails alone: everything else is committed, what failed is
    printed (one line each, on stderr), recorded for the tenant's admins (GET /api/failures) and
    retried later; the exit status is then 1."""
    from renewflow.engine.sweep import run_sweep, sweep_tenant

    with open_database() as database:
        if tenant:
            result = sweep_tenant(database, accounts.parse_uuid("--tenant", tenant))
        else:
            result = run_sweep(database)
    typer.echo(
        f"{result.considered} customer(s) in a workflow's range: {result.started} started, "
        f"{result.superseded} superseded, {result.tasks_carried} open task(s) carried over"
    )
    if result.waiting:
        typer.echo(
            f"{result.waiting} failing tenant(s) or customer(s) left alone until their next "
            "attempt (GET /api/failures lists them)"
        )
    for failure in result.failures:
        typer.echo(f"renewflow: sweep failed: {failure.describe()}", err=True)
    if result.failures:
        sys.exit(1)
