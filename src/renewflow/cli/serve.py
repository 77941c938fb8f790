"""`renewflow serve`: migrate, seed, run the worker and serve the API and the console."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import Annotated

import typer

from renewflow import db, observability
from renewflow.cli.app import app, state
from renewflow.cli.workflows import seed_core_library


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port to listen on.")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations first.")] = True,
    seed: Annotated[
        bool, typer.Option(help="Upsert the core workflow library (after migrating).")
    ] = True,
    worker: Annotated[
        bool,
        typer.Option(help="Also run a worker (AI tasks, sweeps, notifications) in this process."),
    ] = True,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="HTTP processes sharing the port (default: RENEWFLOW_HTTP_PROCESSES, else 1).",
        ),
    ] = None,
) -> None:
    """Run the HTTP API (migrating the database and seeding the core workflows first)."""
    from renewflow.engine import RunLimits, StepRunner
    from renewflow.llm import shared_clients
    from renewflow.serving import StopOnSigterm, listening_socket, run_http
    from renewflow.worker import build_worker

    settings = state.settings()
    # first: settings that cannot work (OTEL_*, RENEWFLOW_METRICS_TENANT_LABEL) are one line
    observability.setup_process(settings.log_level, state.log_format)
    observability.export_for_children(settings.log_level, state.log_format)
    http_processes = processes or settings.http_processes
    bind_host = host or settings.host
    bind_port = port or settings.port
    sock = listening_socket(bind_host, bind_port)  # then: a taken port fails before any work
    with StopOnSigterm() as stop, _metrics_dir(http_processes):
        conninfo = db.owner_conninfo(settings)
        if migrate:
            applied = db.Migrator(conninfo).migrate()
            if applied:
                labels = ", ".join(m.label for m in applied)
                typer.echo(f"applied {len(applied)} migration(s): {labels}")
        database = db.database_from_settings(settings, conninfo)
        database.open()
        background = None
        try:
            if seed:
                typer.echo(seed_core_library(database))
            typer.echo(_how_to_authenticate(f"http://{bind_host}:{bind_port}"))
            background = (
                build_worker(
                    database,
                    step_runner=StepRunner(
                        database, shared_clients, limits=RunLimits.from_settings(settings)
                    ),
                    step_workers=settings.step_workers,
                    agent_workers=settings.agent_workers,
                )
                if worker
                else None
            )
            if background is not None:
                background.start()
            run_http(
                sock,
                database,
                conninfo,
                processes=http_processes,
                log_level=settings.log_level,
                stop=stop,
            )
        finally:
            if background is not None:
                background.stop()
                background.join(30)
            database.close()
            observability.tracing.shutdown()


@contextlib.contextmanager
def _metrics_dir(http_processes: int) -> Iterator[None]:
    """Several processes serve one set of metrics through prometheus-client's multiprocess
    directory: `PROMETHEUS_MULTIPROC_DIR`, or one of this server's own, removed at the end.
    Either is emptied first (the counters start from zero with the server)."""
    own = None
    if http_processes > 1 or observability.multiprocess():
        if not observability.multiprocess():
            own = tempfile.mkdtemp(prefix="renewflow-metrics-")
        observability.prepare_multiprocess_dir(own)
    try:
        yield
    finally:
        if own is not None:
            shutil.rmtree(own, ignore_errors=True)


def _how_to_authenticate(base_url: str) -> str:
    return "\n".join(
        [
            f"renewflow is starting on {base_url} (API docs: {base_url}/docs)",
            "Every /api route needs 'Authorization: Bearer <api key>'. To get a key:",
            "  renewflow tenants create 'Acme CS'            # prints the tenant id last",
            "  renewflow users create --tenant <tenant id> --email you@acme.com --role admin",
            "                                                # prints the key last; it is shown once",
            f"  curl -H 'Authorization: Bearer <api key>' {base_url}/api/me",
            "(from a source checkout, the command is .venv/bin/renewflow)",
        ]
    )
