"""Input limits: what the API models and the imports accept, in one place.

The API refuses a value outside these limits with 422 naming the field (docs/api.md, "Input
limits"); the imports use the same models. Three things keep the limits honest:

- the string types below take their lengths from `VARCHAR`, which mirrors the migrations; a
  contract test (tests/db/test_input_limits.py) reads the real column lengths from
  `information_schema` and checks every model field marked with its `Column`;
- numbers are bounded by what the columns and the context builder can hold (a float: templates and
  JSON read numbers as IEEE doubles), and free-form JSON by the same rule;
- `renewflow db check` (renewflow.limits.check) finds the rows stored before a limit existed.

Nothing here imports the rest of renewflow: the models of every package can use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Final

from pydantic import AfterValidator, EmailStr, Field, StringConstraints
from pydantic_core import PydanticCustomError


@dataclass(frozen=True, slots=True)
class Column:
    """Marks a model field with the column it is stored in (`table.column`): the contract test
    checks the field's length limit against that column's."""

    name: str


# -- strings ---------------------------------------------------------------------------------

VARCHAR: Final[Mapping[str, int]] = {
    "tenants.name": 255,
    "users.name": 255,
    "customers.external_id": 255,
    "customers.name": 255,
    "customers.domain": 255,
    "customers.industry": 255,
    "customers.tier": 50,
    "customers.segment": 50,
    "contracts.currency": 3,
    "users.email": 320,
    "contacts.external_id": 255,
    "contacts.name": 255,
    "contacts.email": 320,
    "contacts.title": 255,
    "contacts.role": 100,
    "usage_metrics.metric_name": 100,
    "customer_intelligence.sentiment": 20,
    "workflow_tasks.action": 255,
    "workflow_tasks.processor": 255,
    "workflow_tasks.estimated_completion_time": 50,
    "workflow_tasks.task_type": 50,
    "workflow_tasks.owner": 50,
    "workflow_tasks.status": 50,
    "workflow_tasks.execution_status": 50,
    "workflow_tasks.complexity": 50,
}
"""The length of every varchar column an input model writes, as the migrations declare it."""

TEXT: Final[Mapping[str, int]] = {
    "customer_intelligence.ai_summary": 100_000,
    "workflow_tasks.skip_reason": 2_000,
}
"""Limits the API sets on text columns (the database takes any length). A longer value stored
before the limit is what `renewflow db check` reports."""


def _varchar(column: str) -> int:
    return VARCHAR[column]


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=_varchar("customers.name")),
    Column("customers.name"),
]
CustomerExternalId = Annotated[
    str,
    StringConstraints(max_length=_varchar("customers.external_id")),
    Column("customers.external_id"),
]
Domain = Annotated[
    str, StringConstraints(max_length=_varchar("customers.domain")), Column("customers.domain")
]
Industry = Annotated[
    str, StringConstraints(max_length=_varchar("customers.industry")), Column("customers.industry")
]
Tier = Annotated[
    str, StringConstraints(max_length=_varchar("customers.tier")), Column("customers.tier")
]
Segment = Annotated[
    str, StringConstraints(max_length=_varchar("customers.segment")), Column("customers.segment")
]
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$", max_length=_varchar("contracts.currency")),
    Column("contracts.currency"),
]
UserEmail = Annotated[
    EmailStr, StringConstraints(max_length=_varchar("users.email")), Column("users.email")
]
ContactName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=_varchar("contacts.name")),
    Column("contacts.name"),
]
ContactEmail = Annotated[
    EmailStr, StringConstraints(max_length=_varchar("contacts.email")), Column("contacts.email")
]
ContactTitle = Annotated[
    str, StringConstraints(max_length=_varchar("contacts.title")), Column("contacts.title")
]
ContactRole = Annotated[
    str, StringConstraints(max_length=_varchar("contacts.role")), Column("contacts.role")
]
ContactExternalId = Annotated[
    str,
    StringConstraints(max_length=_varchar("contacts.external_id")),
    Column("contacts.external_id"),
]
MetricName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=_varchar("usage_metrics.metric_name")),
    Column("usage_metrics.metric_name"),
]
AiSummary = Annotated[
    str,
    StringConstraints(max_length=TEXT["customer_intelligence.ai_summary"]),
    Column("customer_intelligence.ai_summary"),
]
TaskAction = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=_varchar("workflow_tasks.action")
    ),
    Column("workflow_tasks.action"),
]
# a processor name: letters, digits and . _ - (the spec's sample 'salesforce-contact-updater.js')
ProcessorName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=_varchar("workflow_tasks.processor"),
    ),
    Column("workflow_tasks.processor"),
]
EstimatedCompletionTime = Annotated[
    str,
    StringConstraints(max_length=_varchar("workflow_tasks.estimated_completion_time")),
    Column("workflow_tasks.estimated_completion_time"),
]
SkipReason = Annotated[
    str,
    StringConstraints(max_length=TEXT["workflow_tasks.skip_reason"]),
    Column("workflow_tasks.skip_reason"),
]

# -- numbers ---------------------------------------------------------------------------------

MONEY_MAX: Final = Decimal("999999999999.99")
"""ARR and other amounts: numeric(14, 2), never negative."""

USAGE_VALUE_MAX: Final = Decimal("1e15")
"""A usage value is within ±10^15 (exact as a double), rounded to USAGE_DECIMAL_PLACES."""

USAGE_DECIMAL_PLACES: Final = 10

SCORE_MIN: Final = 0
SCORE_MAX: Final = 100
"""Health and risk scores."""

PRIORITY_MIN: Final = 1
PRIORITY_MAX: Final = 5
MAX_ATTEMPTS_MAX: Final = 100

JSON_NUMBER_MAX: Final = 1.7976931348623157e308
"""A number in free-form JSON (engagement, crm, metadata, insights) must be a finite double."""

JSON_MAX_DEPTH: Final = 64
"""Nesting of a JSON request body, and of free-form JSON in the imports (the `json` template
helper renders up to the same depth)."""

DATE_MIN: Final = date(1900, 1, 1)
DATE_MAX: Final = date(2999, 12, 31)
"""Renewal, contract, usage and due dates: anything else is a typing mistake, and arithmetic
on dates in this range never leaves what PostgreSQL and Python both hold."""

LIMIT_MAX: Final = 500
OFFSET_MAX: Final = 1_000_000
"""Pagination of every list route: `limit` 1..LIMIT_MAX, `offset` 0..OFFSET_MAX."""

MAX_BODY_BYTES: Final = 8 * 1024 * 1024
"""The largest request body the API reads, whatever its content type."""


def _round_usage(value: Decimal) -> Decimal:
    """Usage values come from spreadsheets and floats (0.30000000000000004): more decimal places
    than USAGE_DECIMAL_PLACES are rounded, not refused."""
    if value.as_tuple().exponent >= -USAGE_DECIMAL_PLACES:  # type: ignore[operator]
        return value
    return value.quantize(Decimal(1).scaleb(-USAGE_DECIMAL_PLACES), rounding=ROUND_HALF_EVEN)


Money = Annotated[Decimal, Field(ge=0, le=MONEY_MAX, max_digits=14, decimal_places=2)]
UsageValue = Annotated[
    Decimal,
    Field(ge=-USAGE_VALUE_MAX, le=USAGE_VALUE_MAX, allow_inf_nan=False),
    AfterValidator(_round_usage),
]
Score = Annotated[int, Field(ge=SCORE_MIN, le=SCORE_MAX)]
Day = Annotated[date, Field(ge=DATE_MIN, le=DATE_MAX)]


def json_problem(value: Any, depth: int = 0) -> str | None:
    """What makes `value` (parsed JSON) unfit to store and read back, naming where: a number
    that is not a finite double, or more than JSON_MAX_DEPTH levels of objects and arrays (`{}`
    is one level, counted from `depth`); None if it is fit."""
    found = _json_problem(value, depth, ())
    if found is None:
        return None
    where, message = found
    return f"{field_path(where)}: {message}" if where else message


def field_path(loc: tuple[str | int, ...]) -> str:
    """('steps', 2, 'id') -> 'steps[2].id'."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else ("." if path else "") + str(part)
    return path


def _json_problem(
    value: Any, depth: int, where: tuple[str | int, ...]
) -> tuple[tuple[str | int, ...], str] | None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int | float | Decimal):
        return None if finite_number(value) is not None else (where, _NUMBER_PROBLEM)
    if not isinstance(value, dict | list):
        return None
    if depth >= JSON_MAX_DEPTH:  # `value` is level depth + 1
        return where, f"nested deeper than {JSON_MAX_DEPTH} levels"
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        found = _json_problem(item, depth + 1, (*where, key))
        if found is not None:
            return found
    return None


_NUMBER_PROBLEM = "a number must be finite and at most 1.8e308 in magnitude (a double)"


def finite_number(value: Any) -> float | None:
    """`value` as a finite float, or None if it is not a number or no float holds it (NaN,
    infinities, and integers or decimals beyond the double range)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        as_float = float(value)
    except OverflowError:
        return None
    return as_float if math.isfinite(as_float) else None


def _json_fit(value: Any) -> Any:
    problem = json_problem(value)
    if problem is not None:
        raise PydanticCustomError("json_unfit", "{problem}", {"problem": problem})
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_json_fit)]
"""Free-form JSON that lands in a jsonb column and in templates' context."""
JsonArray = Annotated[list[Any], AfterValidator(_json_fit)]
