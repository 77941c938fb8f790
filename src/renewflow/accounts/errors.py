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


class NoSuchUser(NotFound):
    """A user a field names (a manager, a reassignment's target) is not in the tenant. Another
    tenant's user is answered exactly like a missing one: no message tells the two apart."""

    def __init__(self, field: str, message: str = "no such user") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message
