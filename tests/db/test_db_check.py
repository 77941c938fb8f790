"""`renewflow db check`: the rows written before the input limits, found one line each, repaired
with --repair; and migration 0016 applying on a database that holds them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest

from renewflow.db import Migrator, connect
from tests.db.dirty import Dirty, dirty_database

CONSTRAINTS = ("usage_metrics_value_in_range", "contracts_arr_is_a_number")


def db_check(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "renewflow", "db", "check", *args],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def validated(url: str) -> dict[str, bool]:
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT conname, convalidated FROM pg_constraint WHERE conname = ANY(%s)",
            (list(CONSTRAINTS),),
        ).fetchall()
    return {row["conname"]: row["convalidated"] for row in rows}


@pytest.fixture
def dirty(make_database: Callable[[], str]) -> Dirty:
    return dirty_database(make_database)


def test_a_fresh_database_is_clean_and_its_constraints_valid(
    make_database: Callable[[], str],
) -> None:
    url = make_database()
    Migrator(url).migrate()
    assert validated(url) == dict.fromkeys(CONSTRAINTS, True)
    result = db_check(url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "0 problem(s) found, 0 repaired"


def test_the_migration_applies_over_bad_rows_and_checks_new_writes(dirty: Dirty) -> None:
    assert validated(dirty.url) == dict.fromkeys(CONSTRAINTS, False)
    with connect(dirty.url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            """INSERT INTO usage_metrics (tenant_id, customer_id, metric_date, metric_name, value)
               VALUES (%s, %s, '2026-12-01', 'new', 1e400)""",
            (dirty.tenant_id, dirty.customer_id),
        )


def test_check_reports_each_row_on_one_line_and_exits_1(dirty: Dirty) -> None:
    result = db_check(dirty.url)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    for usage_id in dirty.bad_usage_ids:
        assert sum(str(usage_id) in line for line in lines) == 1
    assert str(dirty.fine_usage_id) not in result.stdout
    expected = [
        "is not a number within ±1e+15",
        "metric_date 12026-01-01 is outside 1900-01-01 to 2999-12-31",
        "arr is NaN",
        "renewal_date 12026-03-31 is outside 1900-01-01 to 2999-12-31",
        "ai_summary has 100001 characters, more than 100000",
        "skip_reason has 2001 characters, more than 2000",
        f"customers {dirty.customer_id} (tenant {dirty.tenant_id}): metadata and account_team "
        "holds a number no double holds",
        "insights holds a number no double holds",
        "metadata holds a number no double holds",
        "constraint usage_metrics_value_in_range is NOT VALID",
        "constraint contracts_arr_is_a_number is NOT VALID",
    ]
    for text in expected:
        assert text in result.stdout, text
    assert lines[-1] == "14 problem(s) found, 0 repaired; run with --repair to repair them"


def test_repair_quarantines_or_fixes_every_row_then_validates(dirty: Dirty) -> None:
    result = db_check(dirty.url, "--repair")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("-> quarantined") == 7  # 5 usage values, 2 contracts
    assert result.stdout.count("-> fixed") == 5  # 2 texts cut, 3 JSON documents
    assert result.stdout.count("-> validated") == 2
    assert validated(dirty.url) == dict.fromkeys(CONSTRAINTS, True)
    with connect(dirty.url) as conn:
        usage = conn.execute("SELECT id FROM usage_metrics").fetchall()
        contracts = conn.execute("SELECT count(*) AS n FROM contracts").fetchone()
        kept = conn.execute(
            "SELECT source_table, count(*) AS n FROM quarantined_rows GROUP BY 1 ORDER BY 1"
        ).fetchall()
        restored = conn.execute(
            """SELECT (row_data::usage_metrics).value FROM quarantined_rows
               WHERE source_table = 'usage_metrics' ORDER BY 1"""
        ).fetchall()
        summary = conn.execute("SELECT ai_summary, insights FROM customer_intelligence").fetchone()
        customer = conn.execute(
            "SELECT metadata, account_team FROM customers WHERE id = %s", (dirty.customer_id,)
        ).fetchone()
        task = conn.execute("SELECT skip_reason, metadata FROM workflow_tasks").fetchone()
    assert [row["id"] for row in usage] == [dirty.fine_usage_id]
    assert contracts == {"n": 0}
    # each repair keeps the row as it found it: a row cut, then stripped of a number, twice
    assert {row["source_table"]: row["n"] for row in kept} == {
        "contracts": 2,
        "customer_intelligence": 2,
        "customers": 1,
        "usage_metrics": 5,
        "workflow_tasks": 2,
    }
    assert Decimal("1e400") in [row["value"] for row in restored]  # nothing is lost
    assert summary is not None
    assert len(summary["ai_summary"]) == 100_000
    assert summary["insights"] == [None, "churn risk"]
    assert customer == {
        "metadata": {"engagement": {"logins": None, "tickets": 3}, "crm": {}},
        "account_team": {"ae": None},
    }
    assert task is not None
    assert len(task["skip_reason"]) == 2_000
    assert task["metadata"] == {"n": None}

    again = db_check(dirty.url)
    assert again.returncode == 0, again.stdout
    assert again.stdout.strip() == "0 problem(s) found, 0 repaired"


def test_a_column_widened_by_hand_is_reported_and_not_repaired(
    make_database: Callable[[], str],
) -> None:
    url = make_database()
    Migrator(url).migrate()
    with connect(url) as conn:
        conn.execute("ALTER TABLE contacts ALTER COLUMN title TYPE varchar(300)")
    result = db_check(url, "--repair")
    assert result.returncode == 1
    assert (
        "contacts.title: the database allows 300 characters, the API 255: apply the migrations, "
        "or change the column back -> fix by hand"
    ) in result.stdout
