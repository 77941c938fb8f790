"""Who may start a workflow by hand (its `manualTriggers`)."""

from __future__ import annotations

from typing import Any

from renewflow.errors import PermissionDeniedError

# Integrations (service keys) act for the organisation, as admins do.
_ALWAYS = frozenset({"admin", "service"})


def check_manual_start(workflow: dict[str, Any], role: str) -> None:
    """A workflow starts by hand for the roles its `manualTriggers` list (admins always); one
    without manual triggers is meant to start on its own, so only admins may force it."""
    if role in _ALWAYS:
        return
    trigger = (workflow.get("config") or {}).get("trigger") or {}
    allowed = {r for manual in trigger.get("manualTriggers") or [] for r in manual.get("roles", [])}
    if role not in allowed:
        names = ", ".join(sorted(allowed | {"admin"}))
        raise PermissionDeniedError(
            f"workflow {workflow['workflow_id']} can be started by hand by: {names}"
        )
