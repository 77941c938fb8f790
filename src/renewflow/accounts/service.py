"""Provisioning tenants and keys; resolving a key to its principal (users: `people`).

Functions take the connection of a transaction opened by the caller (request, CLI command): the
transaction boundary stays at the edge.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg

from renewflow.accounts import keys
from renewflow.accounts.errors import InvalidInput, NotFound
from renewflow.accounts.models import IssuedKey, Principal, Role
from renewflow.db import Connection, load_queries
from renewflow.limits import VARCHAR

_Q = load_queries("renewflow.accounts")


def parse_role(value: str, field: str = "role") -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        choices = ", ".join(role.value for role in Role)
        raise InvalidInput(field, f"must be one of {choices} (got {value!r})") from None


def parse_uuid(field: str, value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput(field, f"not a UUID: {value!r}") from None


def create_tenant(conn: Connection, name: str, time_zone: str = "UTC") -> dict[str, Any]:
    """Creates a tenant. Needs a service transaction: a tenant does not exist before this."""
    if not name.strip():
        raise InvalidInput("name", "must not be empty")
    _check_length("name", name.strip(), "tenants.name")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("time_zone", f"unknown time zone {time_zone!r}") from None
    row = conn.execute(
        _Q["insert_tenant"], {"name": name.strip(), "time_zone": time_zone}
    ).fetchone()
    assert row is not None
    return row


def get_tenant(conn: Connection, tenant_id: UUID) -> dict[str, Any]:
    row = conn.execute(_Q["get_tenant"], {"tenant_id": tenant_id}).fetchone()
    if row is None:
        raise NotFound(f"tenant {tenant_id} not found")
    return row


def tenant_settings(conn: Connection) -> dict[str, Any]:
    """The settings of the transaction's tenant (empty when none is set)."""
    row = conn.execute(_Q["current_tenant_settings"]).fetchone()
    return dict(row["settings"]) if row and row["settings"] else {}


def _check_length(field: str, value: str, column: str) -> None:
    """The column's length, checked before the database refuses it (renewflow.limits)."""
    if len(value) > VARCHAR[column]:
        raise InvalidInput(field, f"must be at most {VARCHAR[column]} characters")


def issue_key(
    conn: Connection, *, user_id: UUID, tenant_id: UUID, role: Role, name: str | None = None
) -> IssuedKey:
    """Creates an API key for a user of the transaction's tenant; the secret is returned once."""
    secret = keys.new_secret()
    try:
        with conn.transaction():
            row = conn.execute(
                _Q["insert_api_key"],
                {
                    "user_id": user_id,
                    "role": role.value,
                    "name": name,
                    "key_hash": keys.digest(secret),
                    "key_prefix": keys.display_prefix(secret),
                },
            ).fetchone()
    except psycopg.errors.ForeignKeyViolation:
        raise NotFound(f"user {user_id} not found") from None
    assert row is not None
    return IssuedKey(
        key_id=row["id"], user_id=user_id, tenant_id=tenant_id, role=role, secret=secret
    )


def revoke_key(conn: Connection, key_id: UUID) -> None:
    if conn.execute(_Q["revoke_api_key"], {"key_id": key_id}).fetchone() is None:
        raise NotFound(f"active API key {key_id} not found")


def authenticate(conn: Connection, secret: str) -> Principal | None:
    """The principal of an active key of an active user, or None.

    On success the connection's current transaction is scoped to the key's tenant and user.
    """
    if not secret.startswith(keys.KEY_PREFIX) or len(secret) > 200:
        return None
    row = conn.execute(_Q["authenticate"], {"key_hash": keys.digest(secret)}).fetchone()
    if row is None:
        return None
    return Principal(
        key_id=row["key_id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        role=Role(row["role"]),
        email=row["email"],
    )
