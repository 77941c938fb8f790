"""The caller's tenant's settings (admins only): read, change by JSON Merge Patch, the audit
trail, and tests of the delivery channels and the LLM provider.

Secrets are written in a PATCH body (`{"secrets": {"smtp-password": "..."}}`) and never read
back: a read shows only that each is set, when and by whom. These routes take no query string
but the audit's paging: a credential in a URL ends up in access logs and browser histories, so
one sent that way is refused before anything else happens.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from renewflow import settings as tenant_settings
from renewflow.accounts import Role
from renewflow.api.deps import SessionDep, require_role
from renewflow.limits import LIMIT_MAX, OFFSET_MAX
from renewflow.settings.model import Email
from renewflow.settings.probe import probe_channel, probe_llm

# The query parameters each route takes; anything else is refused (see the module's docstring).
_QUERY = {"/api/tenant/audit": frozenset({"limit", "offset"})}


async def _no_query_string(request: Request) -> None:
    allowed = _QUERY.get(request.url.path, frozenset())
    if any(name not in allowed for name in request.query_params):
        # neither the name nor the value is repeated: either may be the secret
        raise HTTPException(
            400,
            "this route takes no query parameters: settings and secrets go in the request "
            "body, never in a URL (URLs are logged)",
        )


router = APIRouter(
    prefix="/api/tenant",
    tags=["tenant"],
    dependencies=[Depends(_no_query_string), Depends(require_role(Role.ADMIN))],
)

MERGE_PATCH = "application/merge-patch+json"


class SettingsChange(BaseModel):
    id: UUID
    changed_at: datetime
    actor_user_id: UUID | None
    actor: str = Field(description="Who: the user's email, or the CLI's operator.")
    action: Literal["update", "rotate-key"]
    keys: list[str] = Field(description="The dotted keys that changed (never their values).")


class SettingsChanges(BaseModel):
    changes: list[SettingsChange]
    total: int


class ChannelTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["email", "webhook"]
    to: Email | None = Field(
        default=None, description="Email only: who gets the test message (default: you)."
    )


class ChannelTestOut(BaseModel):
    channel: str
    ok: bool
    target: str | None = Field(description="The server or URL tried (a URL's host only).")
    answer: str | None = Field(description="What the receiving end answered, if it answered.")
    error: str | None
    latency_ms: int


class LLMTestOut(BaseModel):
    ok: bool
    provider: str
    model: str | None
    latency_ms: int
    cost_usd: Decimal | None
    input_tokens: int | None
    output_tokens: int | None
    answer: str | None
    error: str | None


@router.get("")
def get_tenant_settings(session: SessionDep) -> dict[str, Any]:
    """Every setting with its value (or default); each secret as `{set, set_at, set_by}` only.
    The reference is docs/administration.md."""
    with session.transaction() as conn:
        return tenant_settings.view(tenant_settings.current_settings(conn))


@router.patch("", openapi_extra={"requestBody": {"content": {MERGE_PATCH: {}}}})
def patch_tenant_settings(
    session: SessionDep,
    patch: Annotated[
        dict[str, Any],
        Body(
            description="A JSON Merge Patch (RFC 7396) of the settings: null removes a key "
            "(back to its default); a string under secrets.<name> sets that secret."
        ),
    ],
) -> dict[str, Any]:
    """Changes the settings: the whole patch or nothing (422 naming each dotted key at fault;
    unknown keys are refused). Every change is recorded (GET /api/tenant/audit)."""
    p = session.principal
    actor = tenant_settings.Actor(label=p.email, user_id=p.user_id)
    with session.transaction() as conn:
        updated, _ = tenant_settings.update_settings(conn, patch, actor)
        return tenant_settings.view(updated)


@router.get("/audit")
def tenant_settings_audit(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> SettingsChanges:
    """Who changed which settings and when, newest first (keys only, never values)."""
    with session.transaction() as conn:
        rows, total = tenant_settings.list_changes(conn, limit=limit, offset=offset)
    return SettingsChanges(changes=[SettingsChange.model_validate(r) for r in rows], total=total)


@router.post("/notifications/test")
def run_channel_test(session: SessionDep, body: ChannelTestIn | None = None) -> ChannelTestOut:
    """Sends one real test message through the configured SMTP server or webhook and reports
    what it answered. A channel that fails is still 200, with its error."""
    body = body or ChannelTestIn(channel="email")
    with session.transaction() as conn:  # closed before the server is called
        current = tenant_settings.current_settings(conn)
    result = probe_channel(current, body.channel, body.to or session.principal.email)
    return ChannelTestOut.model_validate(result.as_dict())


@router.post("/llm/test")
def run_llm_test(session: SessionDep) -> LLMTestOut:
    """One tiny call to the configured LLM provider (recorded in llm_calls like any other):
    the model that answered, the latency and the cost. A failure is 200, with its error."""
    with session.transaction() as conn:
        current = tenant_settings.current_settings(conn)
    result = probe_llm(session.database, session.principal.tenant_id, current)
    return LLMTestOut.model_validate(result.as_dict())
