"""Seeding the core library into the database (`renewflow workflows seed`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg.types.json import Jsonb

from renewflow.db import Connection, load_queries
from renewflow.workflows.model import WorkflowConfig


@dataclass
class SeedResult:
    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def seed_core(conn: Connection, library: list[WorkflowConfig]) -> SeedResult:
    """Upserts `library` as core workflows (tenant_id NULL) on `conn`, a service transaction.

    The caller's transaction makes the whole library land at once or not at all.
    """
    queries = load_queries("renewflow.workflows")
    conn.execute(queries["set_change_description"], {"description": "seeded from the core library"})
    result = SeedResult()
    for config in library:
        row = conn.execute(
            queries["upsert_core_workflow"],
            {
                "workflow_id": config.id,
                "name": config.name,
                "description": config.description,
                "version": config.version,
                "config": Jsonb(config.model_dump(mode="json", by_alias=True, exclude_none=True)),
            },
        ).fetchone()
        if row is None:
            result.unchanged.append(config.id)
        elif row["inserted"]:
            result.inserted.append(config.id)
        else:
            result.updated.append(config.id)
    return result
