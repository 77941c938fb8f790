"""A database restart (every pooled connection cut at once) costs one failed request per process,
and the readiness probe recovers at once, not after the stale connections have cycled."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
import pytest

from renewflow.db import Database, DatabaseUnavailable, Migrator


def _cut_every_connection(admin: str, database_name: str) -> int:
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND usename LIKE 'renewflow_%%'",
            (database_name,),
        ).fetchall()
    return len(rows)


def test_a_restart_costs_one_failed_request(
    pg_admin: str, make_database: Callable[[], str]
) -> None:
    url = make_database()
    Migrator(url).migrate()
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with Database(url, min_size=4, max_size=4) as database:
        # every pooled connection in use once, then idle in the pool
        barrier = threading.Barrier(4)

        def hold() -> None:
            with database.app_connection() as conn:
                conn.execute("SELECT 1")
                barrier.wait(5)

        threads = [threading.Thread(target=hold) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert _cut_every_connection(pg_admin, str(name)) >= 4

        failures = 0
        for _ in range(8):
            try:
                database.ping()
            except DatabaseUnavailable:
                failures += 1
        assert failures <= 1
        database.ping()  # ready again
        with database.app_connection() as conn:
            assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}


def test_a_request_on_a_cut_connection_fails_cleanly(
    pg_admin: str, make_database: Callable[[], str]
) -> None:
    url = make_database()
    Migrator(url).migrate()
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with Database(url, min_size=2, max_size=2) as database:
        database.ping()
        _cut_every_connection(pg_admin, str(name))
        with pytest.raises(psycopg.OperationalError):
            with database.app_connection() as conn:
                conn.execute("SELECT 1")
        with database.app_connection() as conn:  # the pool checked the other one meanwhile
            conn.execute("SELECT 1")
