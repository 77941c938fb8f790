"""`renewflow import`: customer data in bulk from CSV or JSON, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from renewflow import accounts
from renewflow.cli.app import app, open_database

import_app = typer.Typer(help="Bulk import customer data from CSV or JSON.", no_args_is_help=True)
app.add_typer(import_app, name="import")


def _import(kind: str, tenant: str, path: Path) -> None:
    from rich.progress import Progress

    from renewflow.context.imports import import_customers, import_usage, read_rows

    tenant_id = accounts.parse_uuid("--tenant", tenant)
    rows = read_rows(path)
    run = import_customers if kind == "customers" else import_usage
    with Progress(transient=True) as progress, open_database() as database:
        bar = progress.add_task(f"importing {kind}", total=len(rows))
        with database.tenant_transaction(tenant_id) as conn:
            result = run(conn, rows, source=str(path), progress=lambda n: progress.advance(bar, n))
    typer.echo(
        f"{path}: {result.rows} row(s) imported ({result.created} new, {result.updated} updated)"
    )


@import_app.command("customers")
def import_customers_command(
    path: Annotated[Path, typer.Argument(help="A .csv or .json file of customers.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
) -> None:
    """Customers with their contract (name, arr, renewalDate, csmEmail, externalId, ...). All or
    nothing: any bad row is reported with its field and nothing of the file is imported."""
    _import("customers", tenant, path)


@import_app.command("usage")
def import_usage_command(
    path: Annotated[Path, typer.Argument(help="A .csv or .json file of usage metrics.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
) -> None:
    """Usage metrics (customerId or customerExternalId, metricName, metricDate, value). All or
    nothing, like customers."""
    _import("usage", tenant, path)
