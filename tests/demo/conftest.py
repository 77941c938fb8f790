"""A database of the demo tests' own (the demo's tenants must not reach the tests that work across
tenants in the shared one), with the core workflows, and one demo book loaded for the session
(loading takes a few seconds); tests that change a demo load their own."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from renewflow import demo
from renewflow.db import Database, Migrator
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core


@dataclass(frozen=True)
class Loaded:
    tenant: demo.DemoTenant
    seconds: float


@pytest.fixture(scope="session")
def demo_url(make_database: Callable[[], str]) -> str:
    url = make_database()
    Migrator(url).migrate()
    return url


@pytest.fixture(scope="session")
def demo_db(demo_url: str) -> Iterator[Database]:
    with Database(demo_url, max_size=8) as database:
        with database.service_transaction() as conn:
            seed_core(conn, core_library())
        yield database


@pytest.fixture(scope="session")
def loaded(demo_db: Database) -> Loaded:
    started = time.monotonic()
    tenant = demo.load(demo_db, tenant_name=f"Demo {uuid.uuid4().hex[:8]}")
    return Loaded(tenant, time.monotonic() - started)
