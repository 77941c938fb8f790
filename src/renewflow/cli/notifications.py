"""`renewflow notifications`: fire the schedule and deliver, once."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import typer

from renewflow.cli.app import app, fail, open_database

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


@notifications_app.command("test")
def notifications_test(
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    channel: Annotated[str, typer.Option(help="email or webhook.")] = "email",
    to: Annotated[str | None, typer.Option(help="Email: who gets the test message.")] = None,
) -> None:
    """Send one real test message through a tenant's SMTP server or webhook and print what it
    answered; exits 1 when it did not accept the message."""
    from renewflow import accounts
    from renewflow.errors import InvalidInputError
    from renewflow.settings import current_settings
    from renewflow.settings.model import EMAIL_PATTERN
    from renewflow.settings.probe import probe_channel

    if channel not in ("email", "webhook"):
        raise InvalidInputError("--channel", "email or webhook")
    if channel == "email" and not to:
        raise InvalidInputError("--to", "give the address the test email goes to")
    if to is not None and re.fullmatch(EMAIL_PATTERN, to.strip()) is None:
        raise InvalidInputError("--to", "not an email address")
    tenant_id = accounts.parse_uuid("--tenant", tenant)
    with open_database() as database, database.tenant_transaction(tenant_id) as conn:
        settings = current_settings(conn)
    kind: Literal["email", "webhook"] = "email" if channel == "email" else "webhook"
    result = probe_channel(settings, kind, (to or "test").strip())
    where = f" ({result.target})" if result.target else ""
    if result.ok:
        typer.echo(
            f"{channel}{where}: accepted in {result.latency_ms} ms: {_one_line(result.answer)}"
        )
        return
    answered = f"; it answered: {_one_line(result.answer)}" if result.answer else ""
    # fail(), not typer.Exit: the entry point runs the app outside click's standalone mode
    fail(f"{channel}{where}: failed: {_one_line(result.error)}{answered}", 1)


def _one_line(text: str | None) -> str:
    """A server's answer on one line (an SMTP reply or an HTTP body may span several)."""
    return " ".join((text or "").split())
