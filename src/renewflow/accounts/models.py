"""Who is calling: roles and the principal an API key resolves to."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class Role(StrEnum):
    """A user's or key's role; the values match the CHECK constraint on users.role."""

    ADMIN = "admin"
    MANAGER = "manager"
    CSM = "csm"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    key_id: UUID
    tenant_id: UUID
    user_id: UUID
    role: Role
    email: str


@dataclass(frozen=True)
class IssuedKey:
    """A new API key. `secret` exists only here: the database keeps its digest."""

    key_id: UUID
    user_id: UUID
    tenant_id: UUID
    role: Role
    secret: str
