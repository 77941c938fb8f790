"""A tenant's settings: one typed object (`TenantSettings`), read through `read_settings`,
changed through `update_settings` (a JSON Merge Patch, audited), with its credentials sealed at
rest (`secrets`)."""

from renewflow.settings.errors import (
    SecretKeyMissing,
    SecretUnreadable,
    SettingsError,
    TenantNotFound,
)
from renewflow.settings.model import TenantSettings, read_settings
from renewflow.settings.service import (
    Actor,
    list_changes,
    rotate_secrets,
    stored_document,
    update_settings,
    view,
)
from renewflow.settings.service import load as current_settings

__all__ = [
    "Actor",
    "SecretKeyMissing",
    "SecretUnreadable",
    "SettingsError",
    "TenantNotFound",
    "TenantSettings",
    "current_settings",
    "list_changes",
    "read_settings",
    "rotate_secrets",
    "stored_document",
    "update_settings",
    "view",
]
