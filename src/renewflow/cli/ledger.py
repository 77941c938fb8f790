"""`renewflow ledger`: a tenant's autonomous-run ledger, as `GET /api/ledger/...` gives it: runs,
the summary, recent failures, costs by day and type, the health of scheduled work, the budget.
Each command prints a table, or with `--json` the API's JSON body."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, cast
from uuid import UUID

import typer

from renewflow.cli.app import app, open_database
from renewflow.db import Connection
from renewflow.errors import InvalidInputError
from renewflow.ledger import reports
from renewflow.limits import LIMIT_MAX

ledger_app = typer.Typer(
    help="The autonomous-run ledger: runs, summary, failures, costs, health, budget.",
    no_args_is_help=True,
)
app.add_typer(ledger_app, name="ledger")

_Tenant = Annotated[str, typer.Option(help="Tenant id.")]
_Json = Annotated[bool, typer.Option("--json", help="The API's JSON body instead of a table.")]
_Type = Annotated[str | None, typer.Option("--type", help="Only this task type.")]
_Limit = Annotated[int, typer.Option(min=1, max=LIMIT_MAX, help="At most this many rows.")]


def _hours(what: str) -> Any:
    return typer.Option(min=1, max=reports.HOURS_MAX, help=f"{what} (1..{reports.HOURS_MAX}).")


@contextmanager
def _tenant(tenant: str) -> Iterator[tuple[UUID, Connection]]:
    """The tenant's transaction, once the tenant is known to exist (row-level security would
    otherwise answer an unknown tenant with an empty ledger)."""
    from renewflow import accounts

    tenant_id = accounts.parse_uuid("--tenant", tenant)
    with open_database() as database, database.tenant_transaction(tenant_id) as conn:
        accounts.get_tenant(conn, tenant_id)
        yield tenant_id, conn


@contextmanager
def _as_options() -> Iterator[None]:
    """The ledger names a bad value by the API's field (`type`, `status`); here it is an option."""
    try:
        yield
    except InvalidInputError as error:
        raise InvalidInputError(f"--{error.field}", error.reason) from None


def _since(since: str | None, hours: int | None) -> datetime | None:
    if since is not None and hours is not None:
        raise InvalidInputError("--since", "give --since or --hours, not both")
    if hours is not None:
        return datetime.now(UTC) - timedelta(hours=hours)
    if since is None:
        return None
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        raise InvalidInputError(
            "--since", f"not an ISO 8601 time (2025-06-01 or 2025-06-01T08:00Z): {since!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _items(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as the API encodes them (`renewflow.api.routes.ledger`)."""
    from fastapi.encoders import jsonable_encoder

    return [{k: v for k, v in jsonable_encoder(r).items() if k != "total_count"} for r in rows]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _print(
    body: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    as_json: bool,
    empty: str,
    footer: str | None = None,
) -> None:
    """`body` as JSON, or `rows` as a table of `columns` (key, heading); numbers right-aligned."""
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    if not rows:
        typer.echo(empty)
    else:
        from rich import box
        from rich.console import Console
        from rich.table import Table

        table = Table(box=box.SIMPLE_HEAD)
        for key, heading in columns:
            numeric = isinstance(rows[0].get(key), int | float | Decimal)
            table.add_column(heading, justify="right" if numeric else "left", overflow="fold")
        for row in rows:
            table.add_row(*(_cell(row.get(key)) for key, _ in columns))
        Console(soft_wrap=False).print(table)
    if footer:
        typer.echo(footer)


@ledger_app.command("runs")
def runs_command(
    tenant: _Tenant,
    task_type: _Type = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="Only this status: pending, running, completed, failed, "
            "partial_failure, cancelled."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Runs executed at or after this ISO 8601 time (UTC).")
    ] = None,
    hours: Annotated[int | None, _hours("Runs of the last this many hours")] = None,
    limit: _Limit = 50,
    as_json: _Json = False,
) -> None:
    """The tenant's runs, newest first: when, type, status, duration, cost, error."""
    start = _since(since, hours)
    with _tenant(tenant) as (_, conn), _as_options():
        rows, total = reports.list_runs(
            conn, task_type=task_type, status=status, since=start, limit=limit
        )
    _print(
        {"items": _items(rows), "total": total},
        rows,
        [
            ("executed_at", "executed (UTC)"),
            ("task_type", "type"),
            ("status", "status"),
            ("duration_ms", "ms"),
            ("cost_estimate_usd", "cost $"),
            ("triggered_by", "by"),
            ("agent_name", "agent"),
            ("error_message", "error"),
        ],
        as_json=as_json,
        empty="no runs",
        footer=f"{len(rows)} of {total} run(s)",
    )


@ledger_app.command("summary")
def summary_command(
    tenant: _Tenant,
    task_type: _Type = None,
    hours: Annotated[int, _hours("The last this many hours")] = 24,
    as_json: _Json = False,
) -> None:
    """Per task type over the last `--hours`: runs, failures, p50/p95 duration, cost."""
    with _tenant(tenant) as (_, conn), _as_options():
        rows = reports.summary(conn, task_type=task_type, hours=hours)
    _print(
        {"hours": hours, "items": _items(rows)},
        rows,
        [
            ("task_type", "type"),
            ("total_executions", "runs"),
            ("completed_count", "completed"),
            ("failed_count", "failed"),
            ("avg_duration_ms", "avg ms"),
            ("p50_duration_ms", "p50 ms"),
            ("p95_duration_ms", "p95 ms"),
            ("total_cost_usd", "cost $"),
            ("last_executed_at", "last (UTC)"),
        ],
        as_json=as_json,
        empty=f"no runs in the last {hours} hour(s)",
    )


@ledger_app.command("failures")
def failures_command(
    tenant: _Tenant,
    hours: Annotated[int, _hours("The last this many hours")] = 24,
    limit: _Limit = 50,
    as_json: _Json = False,
) -> None:
    """Failed and partially failed runs of the last `--hours`, newest first, with their error."""
    with _tenant(tenant) as (_, conn), _as_options():
        rows = reports.failures(conn, hours=hours, limit=limit)
    _print(
        {"items": _items(rows)},
        rows,
        [
            ("executed_at", "executed (UTC)"),
            ("task_type", "type"),
            ("status", "status"),
            ("agent_name", "agent"),
            ("error_message", "error"),
        ],
        as_json=as_json,
        empty=f"no failures in the last {hours} hour(s)",
    )


@ledger_app.command("costs")
def costs_command(
    tenant: _Tenant,
    hours: Annotated[int, _hours("The last this many hours")] = 720,
    as_json: _Json = False,
) -> None:
    """Spend by UTC day and task type over the last `--hours` (30 days unless given)."""
    with _tenant(tenant) as (_, conn), _as_options():
        rows = reports.costs(conn, hours=hours)
    total = sum((Decimal(r["total_cost_usd"]) for r in rows), Decimal(0))
    _print(
        {"hours": hours, "items": _items(rows)},
        rows,
        [
            ("day", "day"),
            ("task_type", "type"),
            ("executions", "runs"),
            ("total_cost_usd", "cost $"),
        ],
        as_json=as_json,
        empty=f"no runs in the last {hours} hour(s)",
        footer=f"total ${total}" if rows else None,
    )


@ledger_app.command("health")
def health_command(tenant: _Tenant, as_json: _Json = False) -> None:
    """Each scheduled job's state for the tenant (ok, late, down) and its last success."""
    from renewflow.ledger import health

    with _tenant(tenant) as (tenant_id, conn):
        jobs = [j.to_dict() for j in health.tenant_health(conn, tenant_id)]
    _print(
        {"jobs": jobs},
        jobs,
        [
            ("job", "job"),
            ("task_type", "type"),
            ("state", "state"),
            ("last_success_at", "last success"),
            ("every_seconds", "every s"),
            ("grace_seconds", "grace s"),
        ],
        as_json=as_json,
        empty="no scheduled jobs",
    )


@ledger_app.command("budget")
def budget_command(tenant: _Tenant, as_json: _Json = False) -> None:
    """The tenant's LLM budgets, what was spent, and whether autonomous LLM work may run."""
    from renewflow.ledger import budget

    with _tenant(tenant) as (tenant_id, conn):
        state = budget.state(conn, tenant_id).to_dict()
    budgets = cast(list[dict[str, Any]], state["budgets"])
    allowed = "autonomous LLM work may run" if state["allowed"] else f"paused: {state['reason']}"
    _print(
        state,
        budgets,
        [
            ("period", "period"),
            ("limit_usd", "budget $"),
            ("spent_usd", "spent $"),
            ("percent", "%"),
            ("starts_at", "from"),
            ("ends_at", "until"),
        ],
        as_json=as_json,
        empty="no LLM budget set (tenants set budget.llm_daily_usd, budget.llm_monthly_usd)",
        footer=f"{allowed} (alert at {state['alert_percent']}%)",
    )
