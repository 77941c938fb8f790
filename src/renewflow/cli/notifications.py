"""`renewflow notifications`: fire the schedule and deliver, once."""

from __future__ import annotations

import typer

from renewflow.cli.app import app, open_database

notifications_app = typer.Typer(help="Notifications: schedules and delivery.", no_args_is_help=True)
app.add_typer(notifications_app, name="notifications")


@notifications_app.command("run")
def notifications_run() -> None:
    """Fire the scheduled notifications due now and deliver queued ones (a worker does this on
    its own; this is for cron-style deployments and for trying things out)."""
    from renewflow.engine import run_schedule
    from renewflow.notify.delivery import deliver_now

    with open_database() as database:
        fired = run_schedule(database)
        sent, failed = deliver_now(database)
    typer.echo(f"{fired} notification(s) fired; {sent} delivered, {failed} failed")
