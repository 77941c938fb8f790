"""Session-wide real PostgreSQL for the suite.

RENEWFLOW_TEST_DATABASE_URL names a server to use (as a superuser); without it the suite starts the
embedded PostgreSQL in a temporary directory. Each session creates its own databases and drops them
at the end, so runs never see each other's data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from renewflow.db import Database, Migrator
from renewflow.db.urls import with_database

DB_FIXTURES = {"pg_admin"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[str]:
    """A superuser connection string to a maintenance database of the server under test."""
    url = os.environ.get("RENEWFLOW_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from renewflow.db.embedded import start_embedded

    # The embedded server runs as an unprivileged system user when we are root: it must be able
    # to enter the directory.
    base = Path(tempfile.mkdtemp(prefix="renewflow-test-pg-"))
    base.chmod(0o755)
    yield start_embedded(base, database="postgres")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def make_database(pg_admin: str) -> Iterator[Callable[[], str]]:
    """Creates empty databases on demand; returns each one's owner connection string."""
    created: list[str] = []

    def create() -> str:
        name = f"rf_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return with_database(pg_admin, name)

    yield create
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        for name in created:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def migrated_url(make_database: Callable[[], str]) -> str:
    url = make_database()
    Migrator(url).migrate()
    return url


@pytest.fixture(scope="session")
def database(migrated_url: str) -> Iterator[Database]:
    with Database(migrated_url, max_size=8) as db:
        yield db


@pytest.fixture
def tenant_factory(database: Database) -> Callable[..., uuid.UUID]:
    from renewflow import accounts

    def create(name: str = "Tenant") -> uuid.UUID:
        with database.service_transaction() as conn:
            tenant = accounts.create_tenant(conn, f"{name} {uuid.uuid4().hex[:6]}")
        tenant_id: uuid.UUID = tenant["id"]
        return tenant_id

    return create


@pytest.fixture(scope="session")
def core_library_seeded(database: Database) -> None:
    """The core workflow library in the session's database (idempotent: seeding upserts)."""
    from renewflow.workflows.files import core_library
    from renewflow.workflows.seed import seed_core

    with database.service_transaction() as conn:
        seed_core(conn, core_library())


@pytest.fixture
def worker(database: Database) -> Iterator[None]:
    """A worker running queued step runs (two at a time, polling every 50 ms) for the test."""
    from renewflow.engine import StepRunner
    from renewflow.jobs import WorkerConfig
    from renewflow.llm import LLMClients

    clients = LLMClients()
    running = StepRunner(database, clients).worker(
        WorkerConfig(concurrency=2, poll_interval=0.05, lease_seconds=5)
    )
    running.start()
    yield
    running.stop()
    running.join(10)
    clients.close()
