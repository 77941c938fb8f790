"""Connection strings: validation, the role-specific variants, and redaction for messages."""

from __future__ import annotations

import re

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from renewflow.db.errors import DatabaseConfigError

# The login roles created by the first migration. Names are fixed so that every process of a
# deployment agrees on them without configuration.
APP_ROLE = "renewflow_app"
SERVICE_ROLE = "renewflow_service"

_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def validate_conninfo(url: str, *, source: str = "DATABASE_URL") -> str:
    """Returns `url` unchanged if psycopg can parse it as a PostgreSQL connection string."""
    scheme = _URL_SCHEME.match(url)
    if scheme and scheme.group(0) not in ("postgres://", "postgresql://"):
        raise DatabaseConfigError(
            f"{source} must start with postgresql:// (got {scheme.group(0)!r})"
        )
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        reason = str(error).strip().splitlines()[0]
        raise DatabaseConfigError(
            f"{source} is not a valid PostgreSQL connection string: {reason}"
        ) from None
    return url


def role_conninfo(owner_conninfo: str, role: str, password: str | None) -> str:
    """The owner's connection string with another login role (and its own password, if any)."""
    params = conninfo_to_dict(owner_conninfo)
    params.pop("password", None)
    params["user"] = role
    if password:
        params["password"] = password
    return make_conninfo("", **params)


def with_database(conninfo: str, dbname: str) -> str:
    params = conninfo_to_dict(conninfo)
    params["dbname"] = dbname
    return make_conninfo("", **params)


def redact(conninfo: str) -> str:
    """A connection string safe to print: the password replaced by `***`."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<unparsable connection string>"
    if params.get("password"):
        params["password"] = "***"  # noqa: S105 - a placeholder, not a secret
    return make_conninfo("", **params)


def describe(conninfo: str) -> str:
    """A short human description (`user@host:port/db`) for error messages."""
    params = conninfo_to_dict(conninfo)
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"{params.get('user', '')}@{host}:{port}/{params.get('dbname', '')}"
