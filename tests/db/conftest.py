"""A tenant with one row in every tenant table, shared by the tests of a module."""

from __future__ import annotations

import uuid

import pytest

from renewflow import accounts
from renewflow.db import Database
from tests.db.rows import populate


@pytest.fixture(scope="module")
def tenant_rows(database: Database) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    with database.service_transaction() as conn:
        tenant_id: uuid.UUID = accounts.create_tenant(conn, f"Rows {uuid.uuid4().hex[:6]}")["id"]
    with database.tenant_transaction(tenant_id) as conn:
        return tenant_id, populate(conn)
