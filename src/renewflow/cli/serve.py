"""`renewflow serve`: migrate, seed, run the worker and serve the API and the console."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from renewflow import db
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
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    bind_host = host or settings.host
    bind_port = port or settings.port
    sock = listening_socket(bind_host, bind_port)  # first: a taken port fails before any work
    with StopOnSigterm() as stop:  # from here on, SIGTERM leads to the cleanup below
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
                processes=processes or settings.http_processes,
                log_level=settings.log_level,
                stop=stop,
            )
        finally:
            if background is not None:
                background.stop()
                background.join(30)
            database.close()


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
