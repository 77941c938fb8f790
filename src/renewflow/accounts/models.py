"""Who is calling (roles, the principal an API key resolves to) and changes to people."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Final, Literal
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


class _Unchanged(Enum):
    UNCHANGED = "unchanged"


UNCHANGED: Final = _Unchanged.UNCHANGED
"""A field of a `UserChange` that is left as it is (None, where allowed, clears it)."""
Unchanged = Literal[_Unchanged.UNCHANGED]


@dataclass(frozen=True)
class UserChange:
    """What to change about a user: every field given lands together, or none does."""

    name: str | Unchanged | None = UNCHANGED
    role: Role | Unchanged = UNCHANGED
    # None: no manager
    manager_id: UUID | Unchanged | None = UNCHANGED
    # None: the tenant's time zone
    time_zone: str | Unchanged | None = UNCHANGED
    active: bool | Unchanged = UNCHANGED


@dataclass(frozen=True)
class Work:
    """What a user has to hand over: open tasks assigned to them, customers they are the CSM
    of, customers whose escalations go to them (manager override), and their direct reports."""

    open_tasks: int
    customers: int
    escalations: int
    reports: int

    @property
    def empty(self) -> bool:
        return not (self.open_tasks or self.customers or self.escalations)


@dataclass(frozen=True)
class Reassigned:
    """What a reassignment moved."""

    tasks: int
    customers: int
    escalations: int
