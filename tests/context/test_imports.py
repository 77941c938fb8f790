"""Bulk imports: every bad row reported with its field, and nothing of a bad file written."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from renewflow import context
from renewflow.context.imports import import_customers, import_usage, read_rows
from renewflow.db import Database

GOOD_CSV = """name,arr,renewal_date,csm_email,external_id,accountTeam.ae,tier
Acme Corp,100000,2027-03-31,sarah@vendor.example,crm-1,ae@vendor.example,enterprise
Beta Inc,25000.50,2027-01-15,,crm-2,,
"""


def count(database: Database, tenant: uuid.UUID, table: str) -> int:
    from psycopg import sql

    with database.tenant_transaction(tenant) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(table))
        ).fetchone()
    assert row is not None
    n: int = row["n"]
    return n


def test_csv_import_creates_then_updates(
    database: Database, tenant_factory, tmp_path: Path
) -> None:
    tenant = tenant_factory()
    path = tmp_path / "customers.csv"
    path.write_text(GOOD_CSV)
    progress: list[int] = []
    with database.tenant_transaction(tenant) as conn:
        result = import_customers(conn, read_rows(path), source=str(path), progress=progress.append)
    assert (result.rows, result.created, result.updated, sum(progress)) == (2, 2, 0, 2)
    with database.tenant_transaction(tenant) as conn:
        again = import_customers(conn, read_rows(path), source=str(path))
        acme = context.list_customers(conn, search="acme")[0]
    assert (again.created, again.updated) == (0, 2)
    assert acme["account_team"] == {"ae": "ae@vendor.example"}
    assert acme["csm_email"] == "sarah@vendor.example"
    assert count(database, tenant, "customers") == 2


def test_bad_rows_are_all_reported_and_nothing_is_written(
    database: Database, tenant_factory, tmp_path: Path
) -> None:
    tenant = tenant_factory()
    path = tmp_path / "customers.csv"
    path.write_text(
        "name,arr,renewal_date,csm_email,external_id\n"
        "Good Co,1000,2027-01-01,,g-1\n"
        "Bad Arr,-5,2027-01-01,,b-1\n"
        "Bad Date,10,31/01/2027,,b-2\n"
        ",10,2027-01-01,not-an-email,b-3\n"
        "Dup,10,2027-01-01,,g-1\n"
        "Nul\x00Co,10,2027-01-01,,n-1\n"  # PostgreSQL text cannot hold it: refused, not a crash
    )
    with pytest.raises(context.ImportFailed) as caught, database.tenant_transaction(tenant) as conn:
        import_customers(conn, read_rows(path), source=str(path))
    problems = {(p.row, p.field) for p in caught.value.problems}
    assert problems == {
        (2, "arr"),
        (3, "renewalDate"),
        (4, "name"),
        (4, "csmEmail"),
        (5, "externalId"),
        (6, "name"),
    }
    assert "row 3: renewalDate:" in str(caught.value)
    assert "row 6: name: must not contain NUL characters" in str(caught.value)
    assert count(database, tenant, "customers") == 0


def test_json_import_and_usage_by_external_id(
    database: Database, tenant_factory, tmp_path: Path
) -> None:
    tenant = tenant_factory()
    customers = tmp_path / "customers.json"
    customers.write_text(
        json.dumps([{"name": "Acme", "arr": 5, "renewalDate": "2027-05-01", "externalId": "a"}])
    )
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "customer_external_id,metric_name,metric_date,value\n"
        "a,active_users,2026-11-01,10\n"
        "a,active_users,2026-11-02,12\n"
        "a,active_users,2026-11-02,13\n"  # the same day again: the later value wins
    )
    with database.tenant_transaction(tenant) as conn:
        import_customers(conn, read_rows(customers), source="customers.json")
        result = import_usage(conn, read_rows(usage), source="usage.csv")
    assert result.rows == 3
    with database.tenant_transaction(tenant) as conn:
        values = conn.execute("SELECT value FROM usage_metrics ORDER BY metric_date").fetchall()
    assert [int(v["value"]) for v in values] == [10, 13]


def test_usage_rows_naming_unknown_customers_fail_whole(
    database: Database, tenant_factory, tmp_path: Path
) -> None:
    tenant, other = tenant_factory(), tenant_factory()
    with database.tenant_transaction(other) as conn:
        foreign, _ = context.upsert_customer(
            conn,
            context.CustomerIn.model_validate(
                {"name": "Theirs", "arr": 1, "renewalDate": "2027-01-01"}
            ),
        )
    with database.tenant_transaction(tenant) as conn:
        mine, _ = context.upsert_customer(
            conn,
            context.CustomerIn.model_validate(
                {"name": "Mine", "arr": 1, "renewalDate": "2027-01-01"}
            ),
        )
    path = tmp_path / "usage.json"
    path.write_text(
        json.dumps(
            [
                {
                    "customerId": str(mine),
                    "metricName": "logins",
                    "metricDate": "2026-11-01",
                    "value": 1,
                },
                {
                    "customerId": str(foreign),
                    "metricName": "logins",
                    "metricDate": "2026-11-01",
                    "value": 1,
                },
                {
                    "customerExternalId": "nobody",
                    "metricName": "logins",
                    "metricDate": "2026-11-01",
                    "value": 1,
                },
                {
                    "customerId": "exec_123",
                    "metricName": "logins",
                    "metricDate": "2026-11-01",
                    "value": 1,
                },
                {"metricName": "logins", "metricDate": "2026-11-01", "value": "lots"},
            ]
        )
    )
    with pytest.raises(context.ImportFailed) as caught, database.tenant_transaction(tenant) as conn:
        import_usage(conn, read_rows(path), source=str(path))
    assert {(p.row, p.field) for p in caught.value.problems} == {
        (2, "customerId"),
        (3, "customerExternalId"),
        (4, "customerId"),
        (5, "value"),
    }
    assert count(database, tenant, "usage_metrics") == 0
    assert count(database, other, "usage_metrics") == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.json", "{not json", "invalid JSON at line 1"),
        ("x.json", '{"name": "not a list"}', "expected a JSON array of objects"),
        ("x.xlsx", "", "expected a .csv or .json file"),
    ],
)
def test_unreadable_files_are_one_clear_problem(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(context.ImportFailed, match=message):
        read_rows(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(context.ImportFailed, match="No such file"):
        read_rows(tmp_path / "nope.csv")
