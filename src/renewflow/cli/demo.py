"""`renewflow demo load|remove`: the demo book of business (renewflow.demo)."""

from __future__ import annotations

import time
from typing import Annotated, Literal

import typer

from renewflow import db
from renewflow.cli.app import app, state
from renewflow.demo.loader import DEFAULT_NAME, DEFAULT_SEED, DemoTenant, find, load, remove
from renewflow.demo.loader import sign_in_url as make_sign_in_url

demo_app = typer.Typer(help="The demo book of business.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")


@demo_app.command("load")
def demo_load(
    tenant: Annotated[str, typer.Option(help="The demo tenant's name.")] = DEFAULT_NAME,
    seed: Annotated[int, typer.Option(help="The generator's seed (same seed, same book).")] = (
        DEFAULT_SEED
    ),
    replace: Annotated[bool, typer.Option(help="Replace an existing demo tenant.")] = False,
    if_missing: Annotated[
        bool, typer.Option(help="Keep an existing demo tenant (no error).")
    ] = False,
    sign_in: Annotated[
        str | None,
        typer.Option(
            metavar="URL", help="Print a one-time console sign-in link on this base URL, last."
        ),
    ] = None,
    role: Annotated[
        Literal["admin", "manager", "csm"], typer.Option("--as", help="Whom the link signs in.")
    ] = "admin",
) -> None:
    """Create the demo tenant: ~200 customers over every stage, generated from a fixed seed (never
    the network), with its executions, steps, tasks and notifications. Migrates and seeds the
    core workflows first, as `serve` does, so it works on a fresh database."""
    from renewflow.workflows.files import core_library
    from renewflow.workflows.seed import seed_core

    settings = state.settings()
    conninfo = db.owner_conninfo(settings)
    db.Migrator(conninfo).migrate()
    with db.database_from_settings(settings, conninfo) as database:
        with database.service_transaction() as conn:
            seed_core(conn, core_library())
        demo = find(database, tenant) if if_missing else None
        if demo is not None:
            typer.echo(f"the demo tenant {demo.name!r} is loaded already (tenant {demo.tenant_id})")
        else:
            started = time.monotonic()
            demo = load(database, tenant_name=tenant, seed=seed, replace=replace)
            # fresh statistics for the bulk load, as autovacuum would soon make: without them the
            # planner takes each new table for empty and the first pages join row by row
            with database.owner_connection() as owner:
                owner.execute("ANALYZE")
            typer.echo(_loaded(demo, time.monotonic() - started))
        for kind, users in demo.users.items():
            typer.echo(f"  {kind}: {', '.join(user.email for user in users)}")
        if sign_in:
            url = make_sign_in_url(database, demo, sign_in, role)
            typer.echo(f"console sign-in link for the {role} (one use, 15 minutes):")
            typer.echo(url)


@demo_app.command("remove")
def demo_remove(
    tenant: Annotated[str, typer.Option(help="The demo tenant's name.")] = DEFAULT_NAME,
) -> None:
    """Delete the demo tenant and everything of it (never a tenant that is not a demo)."""
    with db.database_from_settings(state.settings()) as database:
        removed = remove(database, tenant)
    typer.echo(f"removed {removed} demo tenant(s) named {tenant!r}")


def _loaded(demo: DemoTenant, seconds: float) -> str:
    counts = demo.counts
    return (
        f"loaded the demo tenant {demo.name!r} (seed {demo.seed}) in {seconds:.1f} s: "
        f"{counts.get('customers', 0)} customers, {counts.get('contacts', 0)} contacts, "
        f"{counts.get('active_executions', 0)} active executions, "
        f"{counts.get('completed_steps', 0)} completed steps, {counts.get('tasks', 0)} tasks, "
        f"{counts.get('notifications', 0)} notifications (tenant {demo.tenant_id})"
    )
