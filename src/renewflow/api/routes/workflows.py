"""The Workflow API: core and tenant workflows, drafts, publishing, versions, diff, rollback.

Shapes follow workflow-database-schema.md ("Workflow API"): `{"success": true, "workflow": {...}}`
with camelCase keys. Writes need an admin or manager key; any key of the tenant may read.

Concurrency: every workflow response carries an `ETag` (the row's id and revision). A draft save
(PUT) must send it back in `If-Match` (428 without it); publish, rollback and delete check it when
sent. The second of two edits made from the same ETag gets 409, never a lost update.

Vocabulary: a config may use the spec's names for our keys (`conditional`, `conditionalLogic`);
they are stored under ours, and the response to the write lists each mapping in `warnings`.

Routing: `/api/workflows/<segment>` is shared with other routers (tasks, context, sweep,
from-template, executions). The `workflow_id` path convertor does not match those segments, so
these routes never shadow them whatever the order of the routers, and the validator rejects
them as workflow ids.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import (
    APIRouter,
    Body,
    Depends,
    Header,
    HTTPException,
    Path,
    Query,
    Response,
    status,
)
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from starlette.convertors import Convertor, register_url_convertor

from renewflow.accounts import Role
from renewflow.api.deps import SessionDep, require_role
from renewflow.workflows import service
from renewflow.workflows.errors import WorkflowNotFound
from renewflow.workflows.service import ETag
from renewflow.workflows.validator import RESERVED_IDS, ValidationIssue, errors_in


class _WorkflowIdConvertor(Convertor[str]):
    """One path segment that is not a reserved sibling route of /api/workflows/."""

    regex = "(?!(?:" + "|".join(re.escape(word) for word in sorted(RESERVED_IDS)) + ")(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("workflow_id", _WorkflowIdConvertor())

router = APIRouter(prefix="/api/workflows", tags=["workflows"])

_Writers = Depends(require_role(Role.ADMIN, Role.MANAGER))
_ONE = "/{workflow_id:workflow_id}"


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class _Input(_Camel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class FieldError(BaseModel):
    field: str
    message: str


class WarningOut(BaseModel):
    path: str = Field(description="Where, in the config sent with the request.")
    message: str


class DraftOut(_Camel):
    config: dict[str, Any]
    updated_at: datetime | None
    updated_by: UUID | None
    valid: bool
    errors: list[FieldError] = Field(description="What publishing this draft would reject.")


class WorkflowSummary(_Camel):
    id: UUID
    workflow_id: str
    name: str
    description: str | None
    version: str
    is_core: bool
    tenant_id: UUID | None
    overrides_core: bool
    current_version: int | None
    has_draft: bool
    etag: str
    created_at: datetime
    updated_at: datetime


class WorkflowOut(WorkflowSummary):
    config: dict[str, Any]
    draft: DraftOut | None


class WorkflowResponse(_Camel):
    success: Literal[True] = True
    workflow: WorkflowOut
    warnings: list[WarningOut] = Field(
        default_factory=list,
        description="What was accepted with a note: the spec's key names, stored under ours.",
    )


class WorkflowListResponse(_Camel):
    success: Literal[True] = True
    workflows: list[WorkflowSummary]


class VersionSummary(_Camel):
    version: int
    changed_by: UUID | None
    changed_at: datetime
    change_description: str | None


class VersionOut(VersionSummary):
    config: dict[str, Any]


class VersionListResponse(_Camel):
    success: Literal[True] = True
    workflow_id: str
    versions: list[VersionSummary]


class VersionResponse(_Camel):
    success: Literal[True] = True
    workflow_id: str
    version: VersionOut


class DiffResponse(_Camel):
    success: Literal[True] = True
    workflow_id: str
    from_version: int = Field(alias="from")
    to_version: int = Field(alias="to")
    patch: list[dict[str, Any]] = Field(description="RFC 6902 operations from `from` to `to`.")


class CreateIn(_Input):
    workflow_id: Annotated[str, Field(min_length=1, max_length=50)]
    name: str | None = None
    description: str | None = None
    config: dict[str, Any]
    change_description: str | None = None


class DraftIn(_Input):
    config: dict[str, Any]


class PublishIn(_Input):
    change_description: str | None = None


class RollbackIn(_Input):
    version: Annotated[int, Field(ge=1)]
    change_description: str | None = None


def _summary_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "workflow_id": row["workflow_id"],
        "name": row["name"],
        "description": row["description"],
        "version": row["version"],
        "is_core": row["is_core"],
        "tenant_id": row["tenant_id"],
        "overrides_core": row["overrides_core"],
        "current_version": row["current_version"],
        "etag": str(ETag.of(row)),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _workflow_out(row: dict[str, Any]) -> WorkflowOut:
    draft = None
    if row["draft_config"] is not None:
        issues = errors_in(service.check_config(row["draft_config"], row["workflow_id"]))
        draft = DraftOut(
            config=row["draft_config"],
            updated_at=row["draft_updated_at"],
            updated_by=row["draft_updated_by"],
            valid=not issues,
            errors=[FieldError(field=i.path, message=i.message) for i in issues],
        )
    return WorkflowOut(
        **_summary_fields(row),
        has_draft=draft is not None,
        config=row["config"],
        draft=draft,
    )


def _respond(row: dict[str, Any], response: Response) -> WorkflowResponse:
    response.headers["ETag"] = str(ETag.of(row))
    # The service's writes return the row with the `warnings` of the config they stored.
    warnings: list[ValidationIssue] = row.get("warnings", [])
    return WorkflowResponse(
        workflow=_workflow_out(row),
        warnings=[WarningOut(path=w.path, message=w.message) for w in warnings],
    )


def _expected(if_match: str | None) -> ETag | None:
    return ETag.parse(if_match) if if_match is not None else None


IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description="The ETag of the workflow as you last read it."),
]


@router.get("")
def list_workflows(session: SessionDep) -> WorkflowListResponse:
    """Core workflows and the tenant's own, one per workflowId (a tenant override wins)."""
    with session.transaction() as conn:
        rows = service.list_workflows(conn, session.principal.tenant_id)
    return WorkflowListResponse(
        workflows=[
            WorkflowSummary(**_summary_fields(row), has_draft=row["has_draft"]) for row in rows
        ]
    )


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[_Writers])
def create_workflow(body: CreateIn, session: SessionDep, response: Response) -> WorkflowResponse:
    """Create a tenant workflow, published as version 1. Reusing a core workflowId overrides that
    core workflow for this tenant. 422 lists every validation error; 409 if the tenant already has
    a workflow of that id."""
    p = session.principal
    with session.transaction() as conn:
        row = service.create_workflow(
            conn,
            p.tenant_id,
            p.user_id,
            workflow_id=body.workflow_id,
            config=body.config,
            name=body.name,
            description=body.description,
            change_description=body.change_description,
        )
    response.headers["Location"] = f"/api/workflows/{row['workflow_id']}"
    return _respond(row, response)


@router.get(_ONE)
def get_workflow(
    workflow_id: str,
    session: SessionDep,
    response: Response,
    tenant_id: Annotated[
        UUID | None, Query(alias="tenantId", description="Only the caller's own tenant.")
    ] = None,
) -> WorkflowResponse:
    """One workflow as the tenant sees it (its override, else the core one), with its draft."""
    p = session.principal
    if tenant_id is not None and tenant_id != p.tenant_id:
        raise WorkflowNotFound(f'no workflow "{workflow_id}"')
    with session.transaction() as conn:
        row = service.get_workflow(conn, p.tenant_id, workflow_id)
    return _respond(row, response)


@router.put(_ONE, dependencies=[_Writers])
def save_draft(
    workflow_id: str,
    body: DraftIn,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> WorkflowResponse:
    """Save a draft of the tenant's workflow (it may be invalid; publishing validates it).
    Needs If-Match: 428 without it, 409 if the workflow changed since that ETag."""
    if if_match is None:
        raise HTTPException(
            status.HTTP_428_PRECONDITION_REQUIRED,
            "send If-Match with the workflow's ETag (from GET /api/workflows/{id}), so that a "
            "concurrent edit is not overwritten",
        )
    expected = ETag.parse(if_match)
    p = session.principal
    with session.transaction() as conn:
        row = service.save_draft(
            conn,
            p.tenant_id,
            p.user_id,
            workflow_id=workflow_id,
            draft=body.config,
            expected=expected,
        )
    return _respond(row, response)


@router.post(_ONE + "/publish", dependencies=[_Writers])
def publish(
    workflow_id: str,
    session: SessionDep,
    response: Response,
    body: Annotated[PublishIn | None, Body()] = None,
    if_match: IfMatch = None,
) -> WorkflowResponse:
    """Validate the draft and publish it as the next version (422 listing every error if it is
    invalid; 409 if there is no draft or If-Match is stale)."""
    with session.transaction() as conn:
        row = service.publish(
            conn,
            session.principal.tenant_id,
            workflow_id=workflow_id,
            expected=_expected(if_match),
            change_description=body.change_description if body else None,
        )
    return _respond(row, response)


@router.delete(
    _ONE, status_code=status.HTTP_204_NO_CONTENT, dependencies=[_Writers], response_class=Response
)
def delete_workflow(workflow_id: str, session: SessionDep, if_match: IfMatch = None) -> Response:
    """Delete the tenant's own workflow (403 for a core one); a deleted override uncovers the
    core workflow again."""
    with session.transaction() as conn:
        service.delete_workflow(
            conn, session.principal.tenant_id, workflow_id=workflow_id, expected=_expected(if_match)
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(_ONE + "/versions")
def list_versions(workflow_id: str, session: SessionDep) -> VersionListResponse:
    """The published versions of the workflow the tenant sees, oldest first."""
    with session.transaction() as conn:
        rows = service.list_versions(conn, session.principal.tenant_id, workflow_id)
    return VersionListResponse(
        workflow_id=workflow_id, versions=[VersionSummary.model_validate(r) for r in rows]
    )


@router.get(_ONE + "/versions/{version}")
def get_version(
    workflow_id: str, version: Annotated[int, Path(ge=1)], session: SessionDep
) -> VersionResponse:
    """One version, with its config."""
    with session.transaction() as conn:
        row = service.get_version(conn, session.principal.tenant_id, workflow_id, version)
    return VersionResponse(workflow_id=workflow_id, version=VersionOut.model_validate(row))


@router.get(_ONE + "/diff")
def diff(
    workflow_id: str,
    session: SessionDep,
    from_version: Annotated[int, Query(alias="from", ge=1)],
    to_version: Annotated[int, Query(alias="to", ge=1)],
) -> DiffResponse:
    """The RFC 6902 JSON Patch turning version `from` into version `to`."""
    with session.transaction() as conn:
        patch = service.diff_versions(
            conn, session.principal.tenant_id, workflow_id, from_version, to_version
        )
    return DiffResponse.model_validate(
        {"workflowId": workflow_id, "from": from_version, "to": to_version, "patch": patch}
    )


@router.post(_ONE + "/rollback", dependencies=[_Writers])
def rollback(
    workflow_id: str,
    body: RollbackIn,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> WorkflowResponse:
    """Publish an earlier version's config again, as a new version."""
    with session.transaction() as conn:
        row = service.rollback(
            conn,
            session.principal.tenant_id,
            workflow_id=workflow_id,
            version=body.version,
            expected=_expected(if_match),
            change_description=body.change_description,
        )
    return _respond(row, response)
