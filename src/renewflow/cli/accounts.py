"""`renewflow tenants|users|keys`: provisioning tenants, users and their API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from renewflow import accounts
from renewflow.cli.app import app, open_database

tenants_app = typer.Typer(
    help="Tenants (each one a customer-success organisation).", no_args_is_help=True
)
users_app = typer.Typer(help="Users of a tenant, and their API keys.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")


@tenants_app.command("create")
def tenants_create(
    name: Annotated[str, typer.Argument(help="The tenant's display name.")],
    time_zone: Annotated[str, typer.Option(help="IANA time zone for renewal dates.")] = "UTC",
) -> None:
    """Create a tenant; its id is printed on the last line."""
    with open_database() as database, database.service_transaction() as conn:
        tenant = accounts.create_tenant(conn, name, time_zone)
    typer.echo(f"created tenant {tenant['name']!r}")
    typer.echo(str(tenant["id"]))


@users_app.command("create")
def users_create(
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    email: Annotated[str, typer.Option(help="The user's email address.")],
    role: Annotated[str, typer.Option(help="admin, manager, csm or service.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create a user with an API key; the key is printed on the last line, once."""
    tenant_id = accounts.parse_uuid("--tenant", tenant)
    parsed_role = accounts.parse_role(role, "--role")
    with open_database() as database, database.tenant_transaction(tenant_id) as conn:
        user = accounts.create_user(conn, email=email, role=parsed_role, name=name)
        key = accounts.issue_key(conn, user_id=user["id"], tenant_id=tenant_id, role=parsed_role)
    typer.echo(f"created user {user['email']} ({parsed_role.value}), id {user['id']}")
    typer.echo(f"API key id {key.key_id}; the key follows and will not be shown again:")
    typer.echo(key.secret)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    user: Annotated[str, typer.Option(help="User id.")],
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
) -> None:
    """Issue another key for an existing user (same role); printed on the last line, once."""
    tenant_id = accounts.parse_uuid("--tenant", tenant)
    user_id = accounts.parse_uuid("--user", user)
    with open_database() as database, database.tenant_transaction(tenant_id) as conn:
        found = accounts.get_user(conn, user_id)
        key = accounts.issue_key(
            conn, user_id=user_id, tenant_id=tenant_id, role=accounts.Role(found["role"]), name=name
        )
    typer.echo(f"API key id {key.key_id}; the key follows and will not be shown again:")
    typer.echo(key.secret)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (not the key).")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
) -> None:
    """Revoke an API key: requests with it get 401 from now on."""
    tenant_id = accounts.parse_uuid("--tenant", tenant)
    with open_database() as database, database.tenant_transaction(tenant_id) as conn:
        accounts.revoke_key(conn, accounts.parse_uuid("KEY_ID", key_id))
    typer.echo(f"revoked {key_id}")
