"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from renewflow import __version__, console, observability
from renewflow.api import problems
from renewflow.api.nul_guard import RejectNulCharacters
from renewflow.api.routes import (
    accounts,
    agents,
    chat,
    customers,
    executions,
    failures,
    health,
    intelligence,
    knowledge,
    ledger,
    notifications,
    tasks,
    tenant,
    workflows,
)
from renewflow.config import Settings, load_settings
from renewflow.db import Database
from renewflow.engine import RunLimits, StepRunner
from renewflow.llm import LLMClients
from renewflow.tasks.processors import ProcessorRegistry
from renewflow.tasks.queue import TaskQueue

# Literal paths under /api/workflows (context, tasks, ...) come before the /{workflowId} routes.
ROUTERS = (
    health.router,
    accounts.router,
    customers.router,
    executions.router,
    tasks.router,
    workflows.router,
    notifications.router,
    failures.router,
    tenant.router,
    chat.router,
    knowledge.router,
    agents.router,
    ledger.router,
    intelligence.router,
)


def create_app(
    database: Database, *, manage_database: bool = True, settings: Settings | None = None
) -> FastAPI:
    """An app serving `database`. With `manage_database`, the app opens and closes its pools.
    Its LLM clients are its own (closed with it): a worker in the same process keeps its own."""
    settings = settings or load_settings()
    observability.inherit()  # an HTTP process `renewflow serve --processes N` started
    llm_clients = LLMClients()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A step request waits for its LLM call in a thread (holding no connection): enough
        # threads that a burst of steps never queues the other requests behind it.
        to_thread.current_default_thread_limiter().total_tokens = settings.http_threads
        observability.adopt_uvicorn_loggers()  # uvicorn set its own up once its server was built
        if manage_database:
            database.open()
        try:
            yield
        finally:
            app.state.step_runner.close()
            app.state.llm_clients.close()
            if manage_database:
                database.close()

    app = FastAPI(
        title="renewflow",
        version=__version__,
        summary="Customer-success renewal playbooks as versioned data.",
        lifespan=lifespan,
        telemetry=observability.tracing.fastapi_telemetry(),
    )
    app.state.database = database
    app.state.settings = settings
    app.state.llm_clients = llm_clients
    app.state.step_runner = StepRunner(
        database, llm_clients, limits=RunLimits.from_settings(settings)
    )
    app.state.processors = ProcessorRegistry.default()  # names a new task's processor may give
    problems.install(app)
    app.add_middleware(RejectNulCharacters)
    # outermost: request ids and metrics for every answer, the guard's refusals included
    queues = (TaskQueue(database, app.state.processors), app.state.step_runner.queue)
    observability.install(app, database, queues)
    for router in ROUTERS:
        app.include_router(router)
    console.install(app)
    return app
