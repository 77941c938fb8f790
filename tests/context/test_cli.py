"""`renewflow import` and `renewflow sweep` as a person runs them."""

from __future__ import annotations

import uuid
from pathlib import Path

from renewflow import accounts
from renewflow.db import Database
from tests.test_cli import run


def _tenant(database: Database) -> uuid.UUID:
    with database.service_transaction() as conn:
        tenant_id: uuid.UUID = accounts.create_tenant(conn, f"Cli {uuid.uuid4().hex[:6]}")["id"]
    return tenant_id


def test_import_customers_and_usage(migrated_url: str, database: Database, tmp_path: Path) -> None:
    tenant = _tenant(database)
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "name,arr,renewal_date,external_id\nAcme,1000,2027-03-01,a\nBeta,2000,2027-04-01,b\n"
    )
    usage = tmp_path / "usage.json"
    usage.write_text(
        '[{"customerExternalId": "a", "metricName": "logins", "metricDate": "2026-11-01", "value": 5}]'
    )
    first = run(migrated_url, "import", "customers", str(customers), "--tenant", str(tenant))
    assert first.returncode == 0, first.stderr
    assert (
        first.stdout.strip().splitlines()[-1]
        == f"{customers}: 2 row(s) imported (2 new, 0 updated)"
    )
    second = run(migrated_url, "import", "usage", str(usage), "--tenant", str(tenant))
    assert second.returncode == 0, second.stderr
    with database.tenant_transaction(tenant) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM customers) AS c, (SELECT count(*) FROM usage_metrics) AS u"
        ).fetchone()
    assert counts == {"c": 2, "u": 1}


def test_a_bad_file_imports_nothing_and_names_rows(
    migrated_url: str, database: Database, tmp_path: Path
) -> None:
    tenant = _tenant(database)
    path = tmp_path / "customers.csv"
    path.write_text("name,arr,renewal_date\nGood,1,2027-01-01\nBad,lots,2027-01-01\n")
    result = run(migrated_url, "import", "customers", str(path), "--tenant", str(tenant))
    assert result.returncode == 1
    assert "nothing imported, 1 problem(s)" in result.stderr
    assert "row 2: arr:" in result.stderr
    assert "Traceback" not in result.stderr
    with database.tenant_transaction(tenant) as conn:
        assert conn.execute("SELECT count(*) AS n FROM customers").fetchone() == {"n": 0}


def test_sweep_for_one_tenant(migrated_url: str, database: Database) -> None:
    tenant = _tenant(database)
    result = run(migrated_url, "sweep", "--tenant", str(tenant))
    assert result.returncode == 0, result.stderr
    assert "0 started" in result.stdout
    assert run(migrated_url, "sweep", "--tenant", "acme").returncode == 2
