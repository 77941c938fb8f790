"""`renewflow tenants|users|keys`: provisioning tenants (and their settings and secrets),
users and their API keys."""

from __future__ import annotations

import base64
import getpass
import json
import sys
from typing import Annotated
from uuid import UUID

import typer

from renewflow import accounts
from renewflow.cli.app import app, open_database
from renewflow.errors import InvalidInputError

tenants_app = typer.Typer(
    help="Tenants (each one a customer-success organisation).", no_args_is_help=True
)
users_app = typer.Typer(help="Users of a tenant, and their API keys.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
secrets_app = typer.Typer(
    help="Tenant secrets (sealed with the envelope key) and the key's rotation.",
    no_args_is_help=True,
)
tenants_app.add_typer(secrets_app, name="secrets")
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


def _tenant_id(tenant: str) -> UUID:
    return accounts.parse_uuid("--tenant", tenant)


def _operator() -> str:
    """Who a CLI change is recorded as: the operator's login on this machine."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name (a container without one)
        return "cli"


def _value(text: str) -> object:
    """A `set` value: JSON when it reads as JSON (25, true, null, {"a": 1}, "quoted"), else
    the text itself (vp@acme.example, Europe/Paris)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@tenants_app.command("show")
def tenants_show(
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="The settings as one JSON document.")
    ] = False,
) -> None:
    """Show a tenant's settings, one dotted key a line (secrets: only when each was set)."""
    from renewflow import settings
    from renewflow.settings.patch import leaves

    with open_database() as database, database.tenant_transaction(_tenant_id(tenant)) as conn:
        shown = settings.view(settings.current_settings(conn))
    if as_json:
        typer.echo(json.dumps(shown, indent=2, sort_keys=True))
        return
    for key, value in sorted(leaves(shown).items()):
        typer.echo(f"{key} = {json.dumps(value)}")


@tenants_app.command("set")
def tenants_set(
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    pairs: Annotated[
        list[str],
        typer.Argument(
            help="KEY=VALUE with dotted keys (company.ceo=ceo@acme.example); "
            "VALUE null removes the key."
        ),
    ],
) -> None:
    """Change settings: all the pairs or none of them, recorded in the audit trail."""
    from renewflow import settings
    from renewflow.settings.patch import nest

    values: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInputError(pair, "give KEY=VALUE")
        if key == "secrets" or key.startswith("secrets."):
            # on a command line a secret lands in the shell's history and in `ps`
            raise InvalidInputError(
                key, "set secrets with `renewflow tenants secrets set` (it reads standard input)"
            )
        values[key] = _value(text)
    try:
        patch = nest(values)
    except ValueError as error:
        raise InvalidInputError("KEY", str(error)) from None
    actor = settings.Actor(label=_operator())
    with open_database() as database, database.tenant_transaction(_tenant_id(tenant)) as conn:
        _, keys = settings.update_settings(conn, patch, actor)
    typer.echo(f"changed {', '.join(keys)}" if keys else "nothing changed")


@tenants_app.command("audit")
def tenants_audit(
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Who changed which settings, and when (newest first; keys only, never values)."""
    from renewflow import settings

    with open_database() as database, database.tenant_transaction(_tenant_id(tenant)) as conn:
        rows, _ = settings.list_changes(conn, limit=limit)
    for row in rows:
        typer.echo(
            f"{row['changed_at'].isoformat(timespec='seconds')}  {row['actor']}  "
            f"{row['action']}  {', '.join(row['keys'])}"
        )


@secrets_app.command("set")
def secrets_set(
    name: Annotated[str, typer.Argument(help="The secret's name (settings refer to it).")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
) -> None:
    """Set a tenant secret from standard input (or a hidden prompt): sealed at once with the
    envelope key, never shown again."""
    from renewflow import settings

    if sys.stdin.isatty():
        value = typer.prompt(f"Value of {name}", hide_input=True)
    else:
        value = sys.stdin.read().rstrip("\r\n")
    actor = settings.Actor(label=_operator())
    with open_database() as database, database.tenant_transaction(_tenant_id(tenant)) as conn:
        _, keys = settings.update_settings(conn, {"secrets": {name: value}}, actor)
    typer.echo(f"set the secret {name}" if keys else f"the secret {name} is unchanged")


@secrets_app.command("delete")
def secrets_delete(
    name: Annotated[str, typer.Argument(help="The secret's name.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
) -> None:
    """Remove a tenant secret (refused while a setting names it)."""
    from renewflow import settings

    actor = settings.Actor(label=_operator())
    with open_database() as database, database.tenant_transaction(_tenant_id(tenant)) as conn:
        _, keys = settings.update_settings(conn, {"secrets": {name: None}}, actor)
    typer.echo(f"removed the secret {name}" if keys else f"no secret named {name}")


@secrets_app.command("new-key")
def secrets_new_key() -> None:
    """Print a new envelope key for RENEWFLOW_SECRET_KEY (and its id). Keep a copy where your
    backups of the database are not: without it no secret can be opened."""
    from renewflow.settings.secrets import key_id, new_key

    key = new_key()
    typer.echo(f"key id {key_id(base64.urlsafe_b64decode(key))}; the key follows:", err=True)
    typer.echo(key)


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Seal every tenant's secrets again under the first key of RENEWFLOW_SECRET_KEY (the old
    keys listed after it open them). All tenants at once, or nothing."""
    from renewflow import settings

    with open_database() as database, database.service_transaction() as conn:
        done = settings.rotate_secrets(conn, actor=_operator())
    typer.echo(
        f"re-sealed {done.resealed} secret(s) of {done.tenants} tenant(s) under the key "
        f"{done.key_id}; the older keys may now be removed"
    )


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


# The accounts package names a field as the API's body does; the CLI names its option.
_OPTIONS = {
    "name": "--name",
    "role": "--role",
    "manager_id": "--manager",
    "time_zone": "--time-zone",
    "active": "--activate/--deactivate",
    "to": "--reassign-to",
}


def _as_option(error: accounts.InvalidInput) -> accounts.InvalidInput:
    return accounts.InvalidInput(_OPTIONS.get(error.field, error.field), error.reason)


@users_app.command("list")
def users_list(tenant: Annotated[str, typer.Option(help="Tenant id.")]) -> None:
    """The tenant's users, deactivated ones too: email, role, name, manager, time zone."""
    tenant_id = accounts.parse_uuid("--tenant", tenant)
    with open_database() as database, database.tenant_transaction(tenant_id) as conn:
        users = accounts.list_users(conn, limit=1_000_000)
    rows = [("EMAIL", "ROLE", "NAME", "MANAGER", "TIME ZONE", "STATUS")] + [
        (
            u["email"],
            u["role"],
            u["name"] or "-",
            u["manager_email"] or "-",
            u["time_zone"] or "(tenant's)",
            "active" if u["active"] else "deactivated",
        )
        for u in users
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + row[-1])


@users_app.command("set")
def users_set(
    email: Annotated[str, typer.Argument(help="The user's email address.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    role: Annotated[str | None, typer.Option(help="admin, manager, csm or service.")] = None,
    name: Annotated[str | None, typer.Option(help="Display name ('' clears it).")] = None,
    manager: Annotated[
        str | None,
        typer.Option(help="The manager's email: an active user of the tenant ('' for none)."),
    ] = None,
    time_zone: Annotated[
        str | None,
        typer.Option(help="An IANA time zone, e.g. Europe/Berlin ('' for the tenant's)."),
    ] = None,
    active: Annotated[
        bool | None,
        typer.Option(
            "--activate/--deactivate",
            help="Deactivating stops the user's API keys and console sessions at once.",
        ),
    ] = None,
    reassign_to: Annotated[
        str | None,
        typer.Option(
            help="Hand the user's open tasks and customers to this user (email), in the same "
            "transaction as the rest."
        ),
    ] = None,
) -> None:
    """Change a user's role, name, manager or time zone, deactivate or reactivate them, and
    hand their work over: all of it in one transaction, or nothing."""
    tenant_id = accounts.parse_uuid("--tenant", tenant)
    parsed_role = accounts.parse_role(role, "--role") if role is not None else None
    if all(value is None for value in (role, name, manager, time_zone, active, reassign_to)):
        raise accounts.InvalidInput(
            "EMAIL",
            "nothing to change: give --role, --name, --manager, --time-zone, "
            "--activate/--deactivate or --reassign-to",
        )
    with open_database() as database, database.tenant_transaction(tenant_id) as conn:
        user = accounts.find_user(conn, email, "EMAIL")
        manager_id: UUID | accounts.Unchanged | None = accounts.UNCHANGED
        if manager is not None:
            manager_id = accounts.find_user(conn, manager, "--manager")["id"] if manager else None
        change = accounts.UserChange(
            name=accounts.UNCHANGED if name is None else name,
            role=accounts.UNCHANGED if parsed_role is None else parsed_role,
            manager_id=manager_id,
            time_zone=accounts.UNCHANGED if time_zone is None else (time_zone or None),
            active=accounts.UNCHANGED if active is None else active,
        )
        try:
            updated = accounts.update_user(conn, user["id"], change)
            moved = None
            if reassign_to is not None:
                target = accounts.find_user(conn, reassign_to, "--reassign-to")
                moved = accounts.reassign_work(conn, user["id"], target["id"])
            work = accounts.work_of(conn, user["id"])
        except accounts.InvalidInput as error:
            raise _as_option(error) from None
    zone = updated["time_zone"] or "the tenant's"
    status = "active" if updated["active"] else "deactivated"
    typer.echo(
        f"{updated['email']}: {updated['role']}, manager {updated['manager_email'] or '-'}, "
        f"time zone {zone}, {status}"
    )
    if moved is not None:
        typer.echo(
            f"reassigned to {reassign_to}: {moved.tasks} open task(s), "
            f"{moved.customers} customer(s), {moved.escalations} escalation override(s)"
        )
    if not updated["active"] and not work.empty:
        typer.echo(
            f"{updated['email']} still has {work.open_tasks} open task(s), {work.customers} "
            f"customer(s) and {work.escalations} escalation override(s): hand them over with "
            "--reassign-to EMAIL"
        )


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
