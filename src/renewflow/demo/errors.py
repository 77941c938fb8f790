"""The demo book's errors."""

from __future__ import annotations

from renewflow.errors import ConflictError, NotFoundError


class DemoError(ConflictError):
    """The demo cannot be loaded or removed in the database's current state."""


class DemoExists(DemoError):
    """A tenant of the demo's name exists already (load with `replace=True` to replace it)."""


class NotADemoTenant(DemoError):
    """A tenant has the demo's name but was not made by `renewflow.demo`: it is never touched."""


class CoreWorkflowsMissing(DemoError):
    """The core workflow library is not seeded: nothing would start for the demo's customers."""


class DemoNotFound(NotFoundError):
    """No demo tenant of that name."""
