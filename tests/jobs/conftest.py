"""A database of its own for the queue tests: the worker claims across tenants, so tasks other
test modules leave queued in the shared database must not reach it (and vice versa)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from renewflow.db import Database, Migrator, connect
from tests.jobs.procs import EFFECTS_TABLE


@pytest.fixture(scope="module")
def queue_url(make_database: Callable[[], str]) -> str:
    url = make_database()
    Migrator(url).migrate()
    with connect(url) as conn:
        conn.execute(EFFECTS_TABLE)
    return url


@pytest.fixture(scope="module")
def qdb(queue_url: str) -> Iterator[Database]:
    with Database(queue_url, max_size=8) as db:
        yield db


@pytest.fixture
def queue_db(qdb: Database, queue_url: str) -> Database:
    """The queue database, emptied of tasks, effects and periodic slots."""
    with connect(queue_url) as conn:
        conn.execute("TRUNCATE workflow_tasks, test_effects, periodic_runs")
    return qdb
