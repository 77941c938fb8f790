"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from renewflow import __version__
from renewflow.api import problems
from renewflow.api.nul_guard import RejectNulCharacters
from renewflow.api.routes import (
    accounts,
    customers,
    executions,
    health,
    notifications,
    tasks,
    workflows,
)
from renewflow.db import Database
from renewflow.llm import shared_clients

# Literal paths under /api/workflows (context, tasks, ...) come before the /{workflowId} routes.
ROUTERS = (
    health.router,
    accounts.router,
    customers.router,
    executions.router,
    tasks.router,
    workflows.router,
    notifications.router,
)


def create_app(database: Database, *, manage_database: bool = True) -> FastAPI:
    """An app serving `database`. With `manage_database`, the app opens and closes its pools."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_database:
            database.open()
        try:
            yield
        finally:
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
    app.state.llm_clients = shared_clients
    problems.install(app)
    app.add_middleware(RejectNulCharacters)
    for router in ROUTERS:
        app.include_router(router)
    return app
