"""`renewflow console`: one-time sign-in links for the web console."""

from __future__ import annotations

from typing import Annotated

import typer

from renewflow.cli.app import app, open_database, state

console_app = typer.Typer(help="The web console.", no_args_is_help=True)
app.add_typer(console_app, name="console")


@console_app.command("login-link")
def console_login_link(
    email: Annotated[str, typer.Option(help="The user's email.")],
    tenant: Annotated[
        str | None, typer.Option(help="Tenant id (needed when the email is in several).")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="Where the console is served (default: RENEWFLOW_HOST and _PORT)."),
    ] = None,
) -> None:
    """Print a one-time sign-in link for the console (valid 15 minutes; the page it opens asks
    before signing in). The URL is the last line."""
    from renewflow.accounts import parse_uuid
    from renewflow.accounts.sessions import issue_login_link

    settings = state.settings()
    tenant_id = parse_uuid("--tenant", tenant) if tenant else None
    with open_database() as database, database.service_transaction() as conn:
        token = issue_login_link(conn, email, tenant_id)
    root = (base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    typer.echo(f"sign in as {email} within 15 minutes, once:")
    typer.echo(f"{root}/sign-in/link/{token}")
