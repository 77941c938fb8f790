"""Tenants, users, roles and API keys."""

from renewflow.accounts.errors import AccountsError, Conflict, InvalidInput, NotFound
from renewflow.accounts.models import IssuedKey, Principal, Role
from renewflow.accounts.service import (
    authenticate,
    create_tenant,
    create_user,
    get_tenant,
    get_user,
    issue_key,
    list_users,
    parse_role,
    parse_uuid,
    revoke_key,
    tenant_settings,
)

__all__ = [
    "AccountsError",
    "Conflict",
    "InvalidInput",
    "IssuedKey",
    "NotFound",
    "Principal",
    "Role",
    "authenticate",
    "create_tenant",
    "create_user",
    "get_tenant",
    "get_user",
    "issue_key",
    "list_users",
    "parse_role",
    "parse_uuid",
    "revoke_key",
    "tenant_settings",
]
