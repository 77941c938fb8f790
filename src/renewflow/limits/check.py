"""`renewflow db check`: the rows stored before the input limits that break them, and their repair.

Every check is a named query of check.sql returning one finding per row; every repair is one
statement that first copies the row, as it was, into `quarantined_rows`. A repair either
*quarantines* a row (moves it there: a usage value or a contract no reader can use) or *fixes* it in
place (cuts an over-long text, makes null a JSON number no double holds), keeping the original in
`quarantined_rows` too. Findings and repairs run as the service role, which sees every tenant, in
one transaction; the constraints migration 0016 could only add NOT VALID are validated afterwards,
as the owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import psycopg

from renewflow.db import Connection, Database, load_queries
from renewflow.limits import (
    DATE_MAX,
    DATE_MIN,
    JSON_NUMBER_MAX,
    TEXT,
    USAGE_VALUE_MAX,
    VARCHAR,
)

_Q = load_queries("renewflow.limits", "check.sql")

Remedy = Literal["quarantined", "fixed", "validated"]


@dataclass(frozen=True)
class _Check:
    find: str
    repairs: tuple[str, ...]
    remedy: Remedy


# In order; the repairs run after every finding was read, so each line reports the row as it was.
_CHECKS = (
    _Check("usage_out_of_range", ("quarantine_usage_out_of_range",), "quarantined"),
    _Check("usage_dates_out_of_range", ("quarantine_usage_dates_out_of_range",), "quarantined"),
    _Check("contracts_out_of_range", ("quarantine_contracts_out_of_range",), "quarantined"),
    _Check("texts_too_long", ("cut_ai_summaries", "cut_skip_reasons"), "fixed"),
    _Check(
        "json_numbers_out_of_range",
        (
            "null_json_numbers_of_customers",
            "null_json_numbers_of_insights",
            "null_json_numbers_of_tasks",
        ),
        "fixed",
    ),
)
# constraint -> the statement validating it (migration 0016 adds them NOT VALID on a dirty table)
_CONSTRAINTS: dict[str, str] = {
    "usage_metrics_value_in_range": "validate_usage_value_in_range",
    "contracts_arr_is_a_number": "validate_contracts_arr_is_a_number",
}


@dataclass(frozen=True)
class Finding:
    """One row (or one piece of the schema) breaking a limit, and what `--repair` does to it."""

    table: str
    row_id: UUID | None
    tenant_id: UUID | None
    problem: str
    remedy: Remedy | None  # None: the repair is for a person to make
    repaired: bool = False

    def __str__(self) -> str:
        where = self.table
        if self.row_id is not None:
            where += f" {self.row_id}"
        if self.tenant_id is not None:
            where += f" (tenant {self.tenant_id})"
        if self.repaired:
            outcome = f" -> {self.remedy}"
        elif self.remedy is None:
            outcome = " -> fix by hand"
        else:
            outcome = ""
        return f"{where}: {self.problem}{outcome}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def unrepaired(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.repaired]

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)


def _params() -> dict[str, Any]:
    return {
        "usage_max": USAGE_VALUE_MAX,
        "date_min": DATE_MIN,
        "date_max": DATE_MAX,
        "ai_summary_max": TEXT["customer_intelligence.ai_summary"],
        "skip_reason_max": TEXT["workflow_tasks.skip_reason"],
        "bound": JSON_NUMBER_MAX,
        "beyond": (
            'strict $.** ? (@.type() == "number" && '
            f"(@ > {JSON_NUMBER_MAX!r} || @ < -{JSON_NUMBER_MAX!r}))"
        ),
        "columns": sorted(VARCHAR),
        "names": sorted(_CONSTRAINTS),
    }


def find(conn: Connection) -> list[Finding]:
    """Every row breaking a limit, in the order of the checks (then tenant and id)."""
    params = _params()
    findings: list[Finding] = []
    for check in _CHECKS:
        for row in conn.execute(_Q[check.find], params).fetchall():
            findings.append(
                Finding(
                    row["source_table"], row["id"], row["tenant_id"], row["problem"], check.remedy
                )
            )
    findings.extend(_drift(conn, params))
    return findings


def _drift(conn: Connection, params: dict[str, Any]) -> Iterator[Finding]:
    """Columns whose length in the database is not the one the API checks."""
    declared = {row["column_name"]: row for row in conn.execute(_Q["column_lengths"], params)}
    for column, length in sorted(VARCHAR.items()):
        row = declared.get(column)
        if row is None:
            yield Finding(column, None, None, "column missing: is every migration applied?", None)
        elif row["character_maximum_length"] != length:
            actual = row["character_maximum_length"] or "unlimited"
            yield Finding(
                column,
                None,
                None,
                f"the database allows {actual} characters, the API {length}: apply the "
                "migrations, or change the column back",
                None,
            )


def repair(conn: Connection) -> None:
    """Applies every repair (each one statement); rows that break nothing are left alone."""
    params = _params()
    for check in _CHECKS:
        for name in check.repairs:
            conn.execute(_Q[name], params)


def unvalidated_constraints(conn: Connection) -> list[tuple[str, str]]:
    """(table, constraint) of each constraint of migration 0016 still NOT VALID."""
    rows = conn.execute(_Q["unvalidated_constraints"], _params()).fetchall()
    return [(row["table_name"], row["constraint_name"]) for row in rows]


def validate_constraints(
    owner: psycopg.Connection[Any], constraints: list[tuple[str, str]]
) -> set[str]:
    """Validates NOT VALID constraints (as the owner: it is an ALTER TABLE); returns those now
    valid. One still broken by some row stays NOT VALID."""
    valid = set()
    for _, name in constraints:
        try:
            with owner.transaction():
                owner.execute(_Q[_CONSTRAINTS[name]])
        except psycopg.errors.CheckViolation:
            continue
        valid.add(name)
    return valid


def _repaired(finding: Finding) -> Finding:
    return Finding(
        finding.table,
        finding.row_id,
        finding.tenant_id,
        finding.problem,
        finding.remedy,
        repaired=finding.remedy is not None,
    )


def run(database: Database, *, repair_rows: bool = False) -> Report:
    """Finds (and with `repair_rows`, repairs) every row breaking a limit; then the constraints
    left NOT VALID by migration 0016, validated once their rows are repaired."""
    with database.service_transaction() as conn:
        findings = find(conn)
        constraints = unvalidated_constraints(conn)
        if repair_rows:
            repair(conn)
            findings = [_repaired(finding) for finding in findings]
    valid: set[str] = set()
    if repair_rows and constraints:
        with database.owner_connection() as owner:
            valid = validate_constraints(owner, constraints)
    for table, name in constraints:
        findings.append(
            Finding(
                table,
                None,
                None,
                f"constraint {name} is NOT VALID: rows written before it are unchecked",
                "validated",
                repaired=name in valid,
            )
        )
    return Report(findings)
