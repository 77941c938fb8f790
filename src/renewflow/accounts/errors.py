"""Errors of tenants, users and API keys (kinds shared with the rest of renewflow)."""

from __future__ import annotations

from renewflow.errors import ConflictError, InvalidInputError, NotFoundError, RenewflowError


class AccountsError(RenewflowError):
    """Base of the accounts errors."""


class NotFound(AccountsError, NotFoundError):
    """The tenant, user or key does not exist (or is not visible to the caller)."""


class Conflict(AccountsError, ConflictError):
    """The change clashes with an existing row (for example a duplicate email)."""


class InvalidInput(AccountsError, InvalidInputError):
    """A value is not acceptable; `field` names it."""
