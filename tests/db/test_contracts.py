"""Where Python and SQL both list the same values, they must agree."""

from __future__ import annotations

import re

import pytest

from renewflow.accounts import Role
from renewflow.db import Database


def _check_values(database: Database, table: str, column: str) -> set[str]:
    with database.owner_connection() as conn:
        rows = conn.execute(
            """SELECT pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
               WHERE c.conrelid = %s::regclass AND c.contype = 'c'""",
            (table,),
        ).fetchall()
    for row in rows:
        if re.search(rf"\b{column}\b", row["def"]):
            return set(re.findall(r"'([^']+)'", row["def"]))
    raise AssertionError(f"no CHECK on {table}.{column}")


@pytest.mark.parametrize("table", ["users", "api_keys"])
def test_role_enum_matches_the_check_constraint(database: Database, table: str) -> None:
    assert _check_values(database, table, "role") == {role.value for role in Role}
