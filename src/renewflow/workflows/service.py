"""Tenant workflows: overrides, drafts, publishing, versions, rollback, import and export.

Every function takes the connection of a transaction the caller opened (an API request, a CLI
command) as the app role for one tenant, so row-level security decides what is visible: core
workflows (tenant_id NULL) are read-only to every tenant, and a tenant's own workflow of the same
workflow_id overrides the core one for that tenant only.

The version history is written by the database (trigger `record_workflow_version`, migration 0003)
whenever `config` changes; this module only decides *when* config changes (create, publish,
rollback, import) and sets the transaction's change description first. The author is the
transaction's `renewflow.user_id`.

Configs (and drafts) are stored in our vocabulary: the spec's names for our keys are mapped on the
way in (`vocabulary.py`), and the writes return what was mapped as `warnings`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from renewflow.db import Connection, load_queries
from renewflow.errors import InvalidInputError
from renewflow.workflows import jsonpatch
from renewflow.workflows.errors import (
    ValidationFailed,
    WorkflowConflict,
    WorkflowNotFound,
    WorkflowReadOnly,
)
from renewflow.workflows.model import WorkflowConfig
from renewflow.workflows.validator import (
    ValidationIssue,
    errors_in,
    validate_config,
    warnings_in,
)
from renewflow.workflows.vocabulary import translate

_Q = load_queries("renewflow.workflows")
_ETAG = re.compile(r'^"([0-9a-f-]{36}):([1-9][0-9]{0,9})"$')


@dataclass(frozen=True, slots=True)
class ETag:
    """Identifies one state of one workflow row: its id and its revision (bumped by every update,
    migration 0007). Sent as the ETag header and expected back in If-Match."""

    row_id: UUID
    revision: int

    def __str__(self) -> str:
        return f'"{self.row_id}:{self.revision}"'

    @classmethod
    def of(cls, row: dict[str, Any]) -> ETag:
        return cls(row["id"], row["revision"])

    @classmethod
    def parse(cls, value: str, field_name: str = "header.If-Match") -> ETag:
        match = _ETAG.match(value.strip())
        if match is None:
            raise InvalidInputError(
                field_name, f'expected the workflow\'s ETag, e.g. "<id>:<revision>" (got {value!r})'
            )
        try:
            return cls(UUID(match.group(1)), int(match.group(2)))
        except ValueError:
            raise InvalidInputError(field_name, f"not a workflow ETag: {value!r}") from None


def check_config(
    data: object, workflow_id: str, conn: Connection | None = None
) -> list[ValidationIssue]:
    """Every problem with `data` as the config of workflow `workflow_id`: errors, and warnings
    where a spec key is read as ours (see `validate_config`). With `conn`, a chat branch may name
    the tenant's own saved actions besides the core ones."""
    saved_actions = None
    if conn is not None:
        from renewflow.chat import action_ids  # the chat package builds on this one

        saved_actions = action_ids(conn)
    issues = validate_config(data, saved_actions=saved_actions)
    if isinstance(data, dict):
        config_id = data.get("id")
        if isinstance(config_id, str) and config_id != workflow_id:
            issues.append(
                ValidationIssue(
                    "id", f'must be "{workflow_id}", the workflow\'s id (got "{config_id}")'
                )
            )
    return issues


def normalized(data: object) -> dict[str, Any]:
    """A valid config as stored: in our vocabulary, defaults filled in, no nulls, camelCase (as
    seeding stores it), so that versions of one workflow compare and diff cleanly."""
    config = WorkflowConfig.model_validate(translate(data).data)
    dumped: dict[str, Any] = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def _failed(prefix: str, issues: list[ValidationIssue]) -> ValidationFailed:
    return ValidationFailed(
        [(f"{prefix}.{i.path}" if i.path else prefix, i.message) for i in issues]
    )


def _with_warnings(row: dict[str, Any], issues: list[ValidationIssue]) -> dict[str, Any]:
    """The workflow row, plus `warnings`: the spec keys of the config just written that were read
    as ours (paths inside that config)."""
    return {**row, "warnings": warnings_in(issues)}


def _describe(conn: Connection, description: str | None) -> None:
    conn.execute(_Q["set_change_description"], {"description": description or ""})


# --- reading -----------------------------------------------------------------------------------


def list_workflows(conn: Connection, tenant_id: UUID) -> list[dict[str, Any]]:
    """Core workflows and the tenant's own, each workflow_id once (the override wins)."""
    return conn.execute(_Q["list_workflows"], {"tenant_id": tenant_id}).fetchall()


def get_workflow(conn: Connection, tenant_id: UUID, workflow_id: str) -> dict[str, Any]:
    """The workflow the tenant sees under `workflow_id` (its override, else the core one)."""
    row = conn.execute(
        _Q["get_workflow"], {"tenant_id": tenant_id, "workflow_id": workflow_id}
    ).fetchone()
    if row is None:
        raise WorkflowNotFound(f'no workflow "{workflow_id}"')
    return row


def list_versions(conn: Connection, tenant_id: UUID, workflow_id: str) -> list[dict[str, Any]]:
    row = get_workflow(conn, tenant_id, workflow_id)
    return conn.execute(_Q["list_versions"], {"id": row["id"]}).fetchall()


def get_version(
    conn: Connection, tenant_id: UUID, workflow_id: str, version: int
) -> dict[str, Any]:
    row = get_workflow(conn, tenant_id, workflow_id)
    return _version(conn, row["id"], workflow_id, version)


def _version(conn: Connection, row_id: UUID, workflow_id: str, version: int) -> dict[str, Any]:
    found = conn.execute(_Q["get_version"], {"id": row_id, "version": version}).fetchone()
    if found is None:
        raise WorkflowNotFound(f'workflow "{workflow_id}" has no version {version}')
    return found


def diff_versions(
    conn: Connection, tenant_id: UUID, workflow_id: str, from_version: int, to_version: int
) -> list[jsonpatch.Operation]:
    """RFC 6902 operations turning version `from_version`'s config into `to_version`'s."""
    row = get_workflow(conn, tenant_id, workflow_id)
    source = _version(conn, row["id"], workflow_id, from_version)
    target = _version(conn, row["id"], workflow_id, to_version)
    return jsonpatch.diff(source["config"], target["config"])


# --- writing -----------------------------------------------------------------------------------


def create_workflow(
    conn: Connection,
    tenant_id: UUID,
    user_id: UUID | None,
    *,
    workflow_id: str,
    config: object,
    name: str | None = None,
    description: str | None = None,
    change_description: str | None = None,
) -> dict[str, Any]:
    """A new workflow of the tenant, published at once as version 1. Using a core workflow's id
    creates the tenant's override of it. Raises ValidationFailed listing every error; returns the
    row with its `warnings`."""
    found = check_config(config, workflow_id, conn)
    errors = [
        ValidationIssue(f"config.{i.path}" if i.path else "config", i.message)
        for i in errors_in(found)
    ]
    if isinstance(config, dict):
        for key, given in (("name", name), ("description", description)):
            if given is not None and given != config.get(key):
                errors.append(ValidationIssue(key, f"must equal config.{key} (or be left out)"))
    if errors:
        raise _failed("body", errors)
    stored = normalized(config)
    _describe(conn, change_description or "created")
    row = conn.execute(
        _Q["insert_workflow"],
        {
            "workflow_id": workflow_id,
            "name": stored["name"],
            "description": stored["description"],
            "version": stored["version"],
            "config": Jsonb(stored),
            "tenant_id": tenant_id,
            "user_id": user_id,
        },
    ).fetchone()
    if row is None:
        raise WorkflowConflict(
            f'your tenant already has a workflow "{workflow_id}": change it through a draft '
            "and publish it"
        )
    return _with_warnings(get_workflow(conn, tenant_id, workflow_id), found)


def _own_locked(conn: Connection, tenant_id: UUID, workflow_id: str) -> dict[str, Any]:
    """The tenant's own row of `workflow_id`, locked for the rest of the transaction."""
    row = conn.execute(
        _Q["lock_own_workflow"], {"tenant_id": tenant_id, "workflow_id": workflow_id}
    ).fetchone()
    if row is not None:
        return row
    get_workflow(conn, tenant_id, workflow_id)  # 404 if nothing of that id is visible at all
    raise WorkflowReadOnly(
        f'"{workflow_id}" is a core workflow and read-only; to change it for your tenant, '
        f'create your own workflow with workflowId "{workflow_id}" (an override)'
    )


def _check_etag(row: dict[str, Any], expected: ETag | None, workflow_id: str) -> None:
    current = ETag.of(row)
    if expected is not None and expected != current:
        raise WorkflowConflict(
            f'workflow "{workflow_id}" changed since you read it (If-Match {expected}, now '
            f"{current}): fetch it again and reapply your change"
        )


def save_draft(
    conn: Connection,
    tenant_id: UUID,
    user_id: UUID | None,
    *,
    workflow_id: str,
    draft: dict[str, Any],
    expected: ETag,
) -> dict[str, Any]:
    """Stores `draft` as the workflow's draft, if the row is still at `expected`; returns the row
    with its `warnings` (the spec keys of the draft, stored under our names).

    A draft may be incomplete or invalid (it is work in progress); publishing validates it.
    """
    row = _own_locked(conn, tenant_id, workflow_id)
    _check_etag(row, expected, workflow_id)
    translation = translate(draft)
    conn.execute(
        _Q["save_draft"],
        {
            "draft": Jsonb(translation.data),
            "user_id": user_id,
            "id": row["id"],
            "tenant_id": tenant_id,
            "revision": expected.revision,
        },
    )
    return _with_warnings(get_workflow(conn, tenant_id, workflow_id), translation.issues)


def publish(
    conn: Connection,
    tenant_id: UUID,
    *,
    workflow_id: str,
    expected: ETag | None = None,
    change_description: str | None = None,
) -> dict[str, Any]:
    """Validates the draft and makes it the workflow's config: the next version (none if the draft
    equals the published config). A draft that fails validation stays a draft."""
    row = _own_locked(conn, tenant_id, workflow_id)
    _check_etag(row, expected, workflow_id)
    draft = row["draft_config"]
    if draft is None:
        raise WorkflowConflict(f'workflow "{workflow_id}" has no draft to publish')
    issues = check_config(draft, workflow_id, conn)
    if errors_in(issues):
        raise _failed("draft.config", errors_in(issues))
    stored = normalized(draft)
    _describe(conn, change_description or "published")
    conn.execute(_Q["publish_config"], {"id": row["id"], **_columns(stored)})
    return _with_warnings(get_workflow(conn, tenant_id, workflow_id), issues)


def rollback(
    conn: Connection,
    tenant_id: UUID,
    *,
    workflow_id: str,
    version: int,
    expected: ETag | None = None,
    change_description: str | None = None,
) -> dict[str, Any]:
    """Publishes the config of an earlier version again, as a new version. A pending draft is
    kept: it is the editor's work in progress, not part of the history."""
    row = _own_locked(conn, tenant_id, workflow_id)
    _check_etag(row, expected, workflow_id)
    old = _version(conn, row["id"], workflow_id, version)
    if jsonpatch.same(old["config"], row["config"]):
        raise WorkflowConflict(
            f'version {version} is already the published config of "{workflow_id}"'
        )
    issues = errors_in(check_config(old["config"], workflow_id, conn))
    if issues:
        raise _failed(f"versions[{version}].config", issues)
    stored = normalized(old["config"])
    _describe(conn, change_description or f"rolled back to version {version}")
    conn.execute(_Q["set_config"], {"id": row["id"], **_columns(stored)})
    return get_workflow(conn, tenant_id, workflow_id)


def delete_workflow(
    conn: Connection, tenant_id: UUID, *, workflow_id: str, expected: ETag | None = None
) -> None:
    """Deletes the tenant's own workflow and its history; a deleted override uncovers the core
    workflow again."""
    row = _own_locked(conn, tenant_id, workflow_id)
    _check_etag(row, expected, workflow_id)
    # checked now, not at commit (the constraint is deferred for a tenant's deletion)
    conn.execute("SET CONSTRAINTS workflow_executions_workflow_id_workflow_version_fkey IMMEDIATE")
    try:
        conn.execute(_Q["delete_workflow"], {"id": row["id"]})
    except psycopg.errors.ForeignKeyViolation:
        raise WorkflowConflict(
            f'workflow "{workflow_id}" cannot be deleted: executions were started on its versions'
        ) from None


def _columns(stored: dict[str, Any]) -> dict[str, Any]:
    return {
        "config": Jsonb(stored),
        "name": stored["name"],
        "description": stored["description"],
        "version": stored["version"],
    }


# --- export and import -------------------------------------------------------------------------


def export_configs(
    conn: Connection, tenant_id: UUID, workflow_ids: list[str] | None = None
) -> list[dict[str, Any]]:
    """The published configs the tenant uses (overrides resolved): all, or the named ones."""
    if not workflow_ids:
        rows = conn.execute(_Q["export_workflows"], {"tenant_id": tenant_id}).fetchall()
        configs = [row["config"] for row in rows]
    else:
        configs = [get_workflow(conn, tenant_id, wid)["config"] for wid in workflow_ids]
    return [_in_authoring_order(config) for config in configs]


def _parsed(
    given: WorkflowConfig | Mapping[str, Any],
    where: str,
    warnings: list[ValidationIssue],
    saved_actions: frozenset[str] | None = None,
) -> WorkflowConfig:
    if isinstance(given, WorkflowConfig):
        return given
    data = dict(given)
    config_id = data.get("id")
    prefix = config_id if isinstance(config_id, str) and config_id else where
    issues = validate_config(data, saved_actions=saved_actions)
    if errors_in(issues):
        raise _failed(prefix, errors_in(issues))
    warnings.extend(
        ValidationIssue(f"{prefix}.{i.path}", i.message, i.severity) for i in warnings_in(issues)
    )
    return WorkflowConfig.model_validate(translate(data).data)


def _in_authoring_order(config: dict[str, Any]) -> dict[str, Any]:
    """jsonb keeps keys shortest first; files read better in the model's order (id, name, ...)."""
    try:
        return normalized(config)
    except ValidationError:
        return config  # stored before a validator change: exported as it is, for fixing by hand


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Spec keys read as ours, with paths under the workflow's id (`critical.steps[1].conditional`).
    warnings: list[ValidationIssue] = field(default_factory=list)


def import_configs(
    conn: Connection,
    tenant_id: UUID,
    configs: Sequence[WorkflowConfig | Mapping[str, Any]],
    *,
    change_description: str | None = None,
) -> ImportResult:
    """Publishes each config as the tenant's workflow of its id: creates it (an override when a
    core workflow has that id) or writes a new version; an unchanged config writes nothing.
    A config given as data (a parsed file) is validated first, spec keys mapped.
    All or nothing: the caller's transaction holds every write."""
    from renewflow.chat import action_ids  # the chat package builds on this one

    result = ImportResult()
    seen: set[str] = set()
    saved_actions = action_ids(conn)
    for n, given in enumerate(configs):
        config = _parsed(given, f"configs[{n}]", result.warnings, saved_actions)
        if config.id in seen:
            raise ValidationFailed([("id", f'workflow "{config.id}" is imported twice')])
        seen.add(config.id)
        stored = config.model_dump(mode="json", by_alias=True, exclude_none=True)
        issues = check_config(stored, config.id, conn)
        if issues:
            raise _failed(config.id, issues)
        _describe(conn, change_description or "imported")
        row = conn.execute(
            _Q["lock_own_workflow"], {"tenant_id": tenant_id, "workflow_id": config.id}
        ).fetchone()
        if row is None:
            conn.execute(
                _Q["insert_workflow"],
                {"workflow_id": config.id, "tenant_id": tenant_id, "user_id": None}
                | _columns(stored),
            )
            result.created.append(config.id)
        elif jsonpatch.same(row["config"], stored):
            result.unchanged.append(config.id)
        else:
            conn.execute(_Q["set_config"], {"id": row["id"], **_columns(stored)})
            result.updated.append(config.id)
    return result
