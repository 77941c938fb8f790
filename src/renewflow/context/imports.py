"""Bulk import of customers and usage from CSV or JSON: all or nothing per file.

Every row is validated before anything is written; a file with any bad row imports nothing and the
report names each row and field. The writes then run in the caller's one transaction, so a row the
database refuses also leaves nothing behind.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from pydantic import BaseModel, ValidationError

from renewflow.context.customers import (
    customer_ids_by_external_id,
    existing_customer_ids,
    record_usage,
    team_manager,
    upsert_customer,
)
from renewflow.context.errors import ImportFailed, InvalidCustomerData, RowProblem
from renewflow.context.models import CustomerIn, UsageIn, UsageRowIn
from renewflow.db import Connection
from renewflow.errors import InvalidInputError
from renewflow.limits import JSON_MAX_DEPTH
from renewflow.nul import MESSAGE, find_nul

Progress = Callable[[int], None]
"""Called with the number of rows just written."""

_Model = TypeVar("_Model", bound=BaseModel)

# CSV headers people actually write, mapped to the API's field names.
_ALIASES = {
    "renewal_date": "renewalDate",
    "csm_email": "csmEmail",
    "external_id": "externalId",
    "has_account_plan": "hasAccountPlan",
    "health_score": "healthScore",
    "contract_start_date": "contractStartDate",
    "customer_id": "customerId",
    "customer_external_id": "customerExternalId",
    "metric_name": "metricName",
    "metric_date": "metricDate",
}
_NESTED_CSV_COLUMNS = {
    "accountTeam.ae": ("accountTeam", "ae"),
    "accountTeam.sa": ("accountTeam", "sa"),
    "accountTeam.executiveSponsor": ("accountTeam", "executiveSponsor"),
    # the manager override: an active user of the tenant, by email
    "accountTeam.manager": ("accountTeam", "manager"),
}


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    problems: list[RowProblem] = field(default_factory=list)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a .csv or .json file (a JSON array of objects) as dicts."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ImportFailed(
            str(path), [RowProblem(0, "file", error.strerror or str(error))]
        ) from None
    except UnicodeDecodeError:
        raise ImportFailed(str(path), [RowProblem(0, "file", "not UTF-8 text")]) from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            problem = RowProblem(0, "file", f"invalid JSON at line {error.lineno}: {error.msg}")
            raise ImportFailed(str(path), [problem]) from None
        except RecursionError:
            problem = RowProblem(0, "file", f"JSON nested deeper than {JSON_MAX_DEPTH} levels")
            raise ImportFailed(str(path), [problem]) from None
        except ValueError as error:  # an integer of more digits than Python converts, say
            raise ImportFailed(str(path), [RowProblem(0, "file", str(error))]) from None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise ImportFailed(
                str(path), [RowProblem(0, "file", "expected a JSON array of objects")]
            )
        return data
    if path.suffix.lower() == ".csv":
        return [_csv_row(row) for row in csv.DictReader(io.StringIO(text))]
    raise ImportFailed(str(path), [RowProblem(0, "file", "expected a .csv or .json file")])


def _csv_row(row: dict[str, str | None]) -> dict[str, Any]:
    """Empty cells are absent values; dotted headers build nested objects."""
    out: dict[str, Any] = {}
    for raw_key, value in row.items():
        if raw_key is None or value is None or value.strip() == "":
            continue
        key = raw_key.strip()
        if key in _NESTED_CSV_COLUMNS:
            outer, inner = _NESTED_CSV_COLUMNS[key]
            out.setdefault(outer, {})[inner] = value.strip()
        else:
            out[_ALIASES.get(key, key)] = value.strip()
    return out


def _validate(
    rows: list[dict[str, Any]], model: type[_Model]
) -> tuple[list[tuple[int, _Model]], list[RowProblem]]:
    """The valid rows with their row numbers, and a problem per bad field of the others."""
    valid: list[tuple[int, _Model]] = []
    problems: list[RowProblem] = []
    for number, raw in enumerate(rows, start=1):
        normalised = {_ALIASES.get(k, k): v for k, v in raw.items()}
        nul = find_nul(normalised)
        if nul is not None:
            problems.append(RowProblem(number, ".".join(map(str, nul)) or "row", MESSAGE))
            continue
        try:
            valid.append((number, model.model_validate(normalised)))
        except ValidationError as error:
            for err in error.errors():
                where = ".".join(str(p) for p in err["loc"]) or "row"
                problems.append(RowProblem(number, where, err["msg"]))
    return valid, problems


def import_customers(
    conn: Connection, rows: list[dict[str, Any]], *, source: str, progress: Progress | None = None
) -> ImportResult:
    customers, problems = _validate(rows, CustomerIn)
    _duplicates(customers, problems)
    _unknown_managers(conn, customers, problems)
    if problems:
        raise ImportFailed(source, problems)
    result = ImportResult(rows=len(customers))
    for number, customer in customers:
        try:
            with conn.transaction():
                _, created = upsert_customer(conn, customer)
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as error:
            raise ImportFailed(source, [RowProblem(number, "row", _db_message(error))]) from None
        except InvalidInputError as error:
            raise ImportFailed(source, [RowProblem(number, error.field, error.reason)]) from None
        if created:
            result.created += 1
        else:
            result.updated += 1
        if progress:
            progress(1)
    return result


def _duplicates(customers: Iterable[tuple[int, CustomerIn]], problems: list[RowProblem]) -> None:
    seen: dict[str, int] = {}
    for number, customer in customers:
        if customer.externalId is None:
            continue
        if customer.externalId in seen:
            problems.append(
                RowProblem(number, "externalId", f"repeats row {seen[customer.externalId]}")
            )
        seen.setdefault(customer.externalId, number)


def _unknown_managers(
    conn: Connection, customers: Iterable[tuple[int, CustomerIn]], problems: list[RowProblem]
) -> None:
    """Every row whose account team's manager is not an active user of the tenant, before any
    row is written (each email looked up once)."""
    refused: dict[str, str | None] = {}
    for number, customer in customers:
        email = customer.accountTeam.manager
        if email is None:
            continue
        key = str(email).lower()
        if key not in refused:
            try:
                team_manager(conn, str(email))
                refused[key] = None
            except InvalidCustomerData as error:
                refused[key] = error.reason
        reason = refused[key]
        if reason is not None:
            problems.append(RowProblem(number, "accountTeam.manager", reason))


def import_usage(
    conn: Connection, rows: list[dict[str, Any]], *, source: str, progress: Progress | None = None
) -> ImportResult:
    usage_rows, problems = _validate(rows, UsageRowIn)
    by_external = customer_ids_by_external_id(
        conn, sorted({r.customerExternalId for _, r in usage_rows if r.customerExternalId})
    )
    known = existing_customer_ids(conn, [r.customerId for _, r in usage_rows if r.customerId])
    resolved: list[tuple[UUID, UsageIn]] = []
    for number, row in usage_rows:
        customer_id = _resolve_customer(row, by_external, known, number, problems)
        if customer_id is not None:
            resolved.append(
                (
                    customer_id,
                    UsageIn(metricName=row.metricName, metricDate=row.metricDate, value=row.value),
                )
            )
    if problems:
        raise ImportFailed(source, problems)
    grouped: dict[UUID, list[UsageIn]] = {}
    for customer_id, usage in resolved:
        grouped.setdefault(customer_id, []).append(usage)
    try:
        with conn.transaction():
            for customer_id, metrics in grouped.items():
                record_usage(conn, customer_id, metrics)
                if progress:
                    progress(len(metrics))
    except psycopg.Error as error:
        raise ImportFailed(source, [RowProblem(0, "row", _db_message(error))]) from None
    return ImportResult(rows=len(resolved), created=len(resolved))


def _resolve_customer(
    row: UsageRowIn,
    by_external: dict[str, UUID],
    known: set[UUID],
    number: int,
    problems: list[RowProblem],
) -> UUID | None:
    if row.customerId:
        try:
            customer_id = UUID(row.customerId)
        except ValueError:
            problems.append(RowProblem(number, "customerId", f"not a UUID: {row.customerId!r}"))
            return None
        if customer_id not in known:
            problems.append(RowProblem(number, "customerId", f"no customer {row.customerId}"))
            return None
        return customer_id
    if row.customerExternalId:
        found = by_external.get(row.customerExternalId)
        if found is None:
            problems.append(
                RowProblem(number, "customerExternalId", f"no customer {row.customerExternalId!r}")
            )
        return found
    problems.append(RowProblem(number, "customerId", "give customerId or customerExternalId"))
    return None


def _db_message(error: psycopg.Error) -> str:
    diag = error.diag
    return diag.message_primary or type(error).__name__
