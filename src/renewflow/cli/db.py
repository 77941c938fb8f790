"""`renewflow db`: the connection in use, migrations, checks of stored rows."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from renewflow import db
from renewflow.cli.app import app, open_database, state
from renewflow.errors import InvalidInputError

db_app = typer.Typer(help="The database: its URL, migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("url")
def db_url() -> None:
    """Print the connection URL in use (the owner connection; starts the embedded server if needed)."""
    typer.echo(db.owner_conninfo(state.settings()))


@db_app.command("migrate")
def db_migrate(
    to: Annotated[int | None, typer.Option(help="Stop after this version.")] = None,
) -> None:
    """Apply pending migrations, each in its own transaction."""
    applied = db.Migrator(db.owner_conninfo(state.settings())).migrate(target=to)
    for migration in applied:
        typer.echo(f"applied {migration.label}")
    if not applied:
        typer.echo("nothing to apply: the database is up to date")


@db_app.command("rollback")
def db_rollback(
    to: Annotated[
        int | None, typer.Option(help="Revert down to this version (0: everything). Default: one.")
    ] = None,
) -> None:
    """Revert applied migrations, newest first."""
    if to is not None and to < 0:
        raise InvalidInputError("--to", "must be 0 or a migration version")
    undone = db.Migrator(db.owner_conninfo(state.settings())).rollback(to=to)
    for migration in undone:
        typer.echo(f"reverted {migration.label}")
    if not undone:
        typer.echo("nothing to revert")


@db_app.command("status")
def db_status() -> None:
    """List migrations and whether each is applied."""
    for migration in db.Migrator(db.owner_conninfo(state.settings())).status():
        mark = "applied" if migration.applied else "pending"
        if migration.changed:
            mark = "applied, CHANGED since"
        typer.echo(f"{migration.migration.label:40} {mark}")


@db_app.command("check")
def db_check(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Quarantine the unusable rows and fix the others (the originals are kept in "
            "quarantined_rows).",
        ),
    ] = False,
) -> None:
    """Find rows breaking today's input limits (written before them), one line each; exit 1 if
    any is found and not repaired."""
    from renewflow.limits.check import run as check_rows

    with open_database() as database:
        report = check_rows(database, repair_rows=repair)
    for finding in report:
        typer.echo(str(finding))
    left = report.unrepaired
    typer.echo(
        f"{len(report.findings)} problem(s) found, {len(report.findings) - len(left)} repaired"
        + ("" if repair or not left else "; run with --repair to repair them")
    )
    if left:
        sys.exit(1)
