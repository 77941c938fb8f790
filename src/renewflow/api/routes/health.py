"""Liveness and readiness probes (no authentication: they reveal nothing)."""

from __future__ import annotations

from fastapi import APIRouter

from renewflow.api.deps import DatabaseDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(database: DatabaseDep) -> dict[str, str]:
    """The process can serve: the database answers as the app role (503 otherwise)."""
    database.ping()
    return {"status": "ready", "database": "ok"}
