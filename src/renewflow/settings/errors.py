"""Errors of the tenant settings and their secrets. None of them ever carries a secret's value."""

from __future__ import annotations

from renewflow.errors import ConflictError, NotFoundError, RenewflowError


class SettingsError(RenewflowError):
    """Base of the settings package's errors."""


class SecretKeyMissing(SettingsError, ConflictError):
    """A secret must be sealed or opened, and this process has no envelope key
    (`RENEWFLOW_SECRET_KEY` / `RENEWFLOW_SECRET_KEY_FILE`)."""


class SecretUnreadable(SettingsError):
    """A stored secret cannot be opened: it was sealed under a key this process does not hold,
    or it was altered. The message names the secret and the key id, never the value."""


class TenantNotFound(SettingsError, NotFoundError):
    """The transaction's tenant does not exist (an operator's mistyped --tenant)."""

    def __init__(self) -> None:
        super().__init__("tenant not found")
