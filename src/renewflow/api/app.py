"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from renewflow import __version__, console
from renewflow.api import problems
from renewflow.api.nul_guard import RejectNulCharacters
from renewflow.api.routes import (
    accounts,
    customers,
    executions,
    failures,
    health,
    notifications,
    tasks,
    workflows,
)
from renewflow.config import Settings, load_settings
from renewflow.db import Database
from renewflow.engine import RunLimits, StepRunner
from renewflow.llm import LLMClients
from renewflow.tasks.processors import ProcessorRegistry

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
)


def create_app(
    database: Database, *, manage_database: bool = True, settings: Settings | None = None
) -> FastAPI:
    """An app serving `database`. With `manage_database`, the app opens and closes its pools.
    Its LLM clients are its own (closed with it): a worker in the same process keeps its own."""
    settings = settings or load_settings()
    llm_clients = LLMClients()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A step request waits for its LLM call in a thread (holding no connection): enough
        # threads that a burst of steps never queues the other requests behind it.
        to_thread.current_default_thread_limiter().total_tokens = settings.http_threads
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
    )
    app.state.database = database
    app.state.llm_clients = llm_clients
    app.state.step_runner = StepRunner(
        database, llm_clients, limits=RunLimits.from_settings(settings)
    )
    app.state.processors = ProcessorRegistry.default()  # names a new task's processor may give
    problems.install(app)
    app.add_middleware(RejectNulCharacters)
    for router in ROUTERS:
        app.include_router(router)
    console.install(app)
    return app
