"""The database a benchmark runs in: fresh, migrated, dropped afterwards.

On DATABASE_URL's server when it is set (a superuser URL able to create databases), otherwise on an
embedded PostgreSQL started in a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from renewflow.db import Migrator, start_embedded
from renewflow.db.urls import with_database


@contextmanager
def scratch_database() -> Iterator[str]:
    """Yields the owner connection string of a new, migrated database."""
    temp = Path(tempfile.mkdtemp(prefix="renewflow-bench-"))
    try:
        admin = os.environ.get("DATABASE_URL")
        if not admin:
            temp.chmod(0o755)  # the embedded server's system user must enter it
            admin = start_embedded(temp, database="postgres")
        name = f"rf_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            url = with_database(admin, name)
            Migrator(url).migrate()
            yield url
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def vacuum_analyze(url: str) -> None:
    """What autovacuum would soon do after a bulk load: fresh statistics, so plans fit the data."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
