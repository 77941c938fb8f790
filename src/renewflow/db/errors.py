"""Errors of the database layer."""

from __future__ import annotations

from renewflow.errors import RenewflowError


class DatabaseError(RenewflowError):
    """Base of the database layer's errors."""


class DatabaseConfigError(DatabaseError):
    """The database settings are unusable (for example a malformed DATABASE_URL)."""


class DatabaseUnavailable(DatabaseError):
    """The server cannot be reached or started."""


class MigrationError(DatabaseError):
    """A migration failed or the recorded migrations do not match the shipped files."""
