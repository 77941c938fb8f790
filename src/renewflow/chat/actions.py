"""Saved actions: the core ones every tenant sees, a tenant's own, and running one on an
execution's current step."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from renewflow.chat.errors import ActionNotFound, UnresolvedHandler
from renewflow.chat.handlers import ActionInput, ActionResult, HandlerRegistry, default_registry
from renewflow.db import Connection, load_queries
from renewflow.errors import ConflictError, InvalidInputError

_Q = load_queries("renewflow.chat")

ACTION_TYPES = ("snooze", "skip", "escalation", "script")
ACTION_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")

# The handler an action of each type runs when it names none (a script must name its own).
DEFAULT_HANDLERS = {
    "snooze": "code:GlobalActions.snooze",
    "skip": "code:GlobalActions.skip",
    "escalation": "code:GlobalActions.escalate",
}


@dataclass(frozen=True)
class CoreAction:
    action_id: str
    action_name: str
    action_type: str
    handler: str
    config: Mapping[str, Any]


# What migration 0024 seeds (a contract test keeps them in step).
CORE_ACTIONS = (
    CoreAction("snooze-1-day", "Snooze 1 day", "snooze", "code:GlobalActions.snooze", {"days": 1}),
    CoreAction(
        "snooze-3-days", "Snooze 3 days", "snooze", "code:GlobalActions.snooze", {"days": 3}
    ),
    CoreAction(
        "snooze-7-days", "Snooze 7 days", "snooze", "code:GlobalActions.snooze", {"days": 7}
    ),
    CoreAction(
        "skip-step", "Skip this step", "skip", "code:GlobalActions.skip", {"reasonRequired": True}
    ),
    CoreAction(
        "escalate-manager",
        "Escalate to my manager",
        "escalation",
        "code:GlobalActions.escalate",
        {"to": "manager"},
    ),
    CoreAction(
        "escalate-vp-cs",
        "Escalate to the VP of Customer Success (war room)",
        "escalation",
        "code:GlobalActions.escalate",
        {"to": "vp-cs", "warRoom": True},
    ),
)
CORE_ACTION_IDS = frozenset(a.action_id for a in CORE_ACTIONS)


def list_actions(conn: Connection) -> list[dict[str, Any]]:
    """The actions the tenant sees: its own, and the core ones it has not shadowed."""
    return conn.execute(_Q["list_actions"]).fetchall()


def action_ids(conn: Connection) -> frozenset[str]:
    """Every action id a workflow of the tenant may name (`savedActionId`)."""
    return frozenset(r["action_id"] for r in conn.execute(_Q["action_ids"]).fetchall())


def get_action(conn: Connection, action_id: str) -> dict[str, Any]:
    row = conn.execute(_Q["get_action"], {"action_id": action_id}).fetchone()
    if row is None:
        raise ActionNotFound(f"saved action {action_id!r} not found")
    return row


def _check_handler(handler: str | None, action_type: str, registry: HandlerRegistry) -> None:
    chosen = handler or DEFAULT_HANDLERS.get(action_type)
    if chosen is None:
        raise InvalidInputError("body.handler", "a script action names its handler")
    try:
        registry.resolve(chosen, "action")
    except UnresolvedHandler as error:
        raise InvalidInputError("body.handler", error.reason) from None


def create_action(
    conn: Connection,
    *,
    action_id: str,
    action_name: str,
    action_type: str,
    handler: str | None = None,
    config: Mapping[str, Any] | None = None,
    available_globally: bool = True,
    registry: HandlerRegistry | None = None,
) -> dict[str, Any]:
    """A tenant's own action; an id a core action has shadows it for this tenant only."""
    if not ACTION_ID.match(action_id):
        raise InvalidInputError(
            "body.action_id", "lowercase letters, digits, '-', '_' and '.' (up to 100)"
        )
    if action_type not in ACTION_TYPES:
        raise InvalidInputError("body.action_type", f"one of {', '.join(ACTION_TYPES)}")
    _check_handler(handler, action_type, registry or default_registry())
    try:
        with conn.transaction():
            row = conn.execute(
                _Q["insert_action"],
                {
                    "action_id": action_id,
                    "action_name": action_name,
                    "action_type": action_type,
                    "handler": handler,
                    "config": Jsonb(dict(config or {})),
                    "available_globally": available_globally,
                },
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise ConflictError(f"this tenant already has a saved action {action_id!r}") from None
    assert row is not None
    return row


def update_action(
    conn: Connection,
    action_id: str,
    *,
    action_name: str | None = None,
    handler: str | None = None,
    set_handler: bool = False,
    config: Mapping[str, Any] | None = None,
    available_globally: bool | None = None,
    registry: HandlerRegistry | None = None,
) -> dict[str, Any]:
    """Changes one of the tenant's own actions; a core action is read-only (404 if the tenant
    has no action of that id, 409 if only the core one exists)."""
    current = get_action(conn, action_id)
    if current["is_core"]:
        raise ConflictError(
            f"{action_id!r} is a core action: create a tenant action of the same id to shadow it"
        )
    if set_handler:
        _check_handler(handler, current["action_type"], registry or default_registry())
    row = conn.execute(
        _Q["update_action"],
        {
            "action_id": action_id,
            "action_name": action_name,
            "handler": handler,
            "set_handler": set_handler,
            "config": Jsonb(dict(config)) if config is not None else None,
            "available_globally": available_globally,
        },
    ).fetchone()
    if row is None:
        raise ActionNotFound(f"saved action {action_id!r} not found")
    return row


def run_action(
    conn: Connection,
    action: Mapping[str, Any],
    *,
    execution: Any,
    step_id: str,
    reason: str | None,
    actor_user_id: UUID | None,
    actor_role: str | None,
    dedupe: str,
    registry: HandlerRegistry | None = None,
) -> ActionResult:
    """Runs `action` (a row of `get_action`) on the execution's current step, in `conn`."""
    handler_name = action["handler"] or DEFAULT_HANDLERS.get(action["action_type"])
    if handler_name is None:
        raise UnresolvedHandler("handler", f"saved action {action['action_id']!r} has no handler")
    handler = (registry or default_registry()).resolve(handler_name, "action")
    result: ActionResult = handler(
        ActionInput(
            conn=conn,
            execution=execution,
            step_id=step_id,
            action=action,
            config=action["config"] or {},
            reason=reason,
            actor_user_id=actor_user_id,
            actor_role=actor_role,
            dedupe=dedupe,
        )
    )
    return result
