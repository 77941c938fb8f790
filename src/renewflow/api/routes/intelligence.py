"""The continuous-intelligence cron endpoint (spec: autonomous-tasks-log.md):
`POST /api/agents/continuous-intelligence` with `Authorization: Bearer $CRON_SECRET`.

Not a tenant's request: the caller is the deployment's scheduler, known by the cron secret, and
the run spans tenants (the worker's own periodic job runs the same slot). So the route uses no
API key; the pass lists tenants as the service role and works in each tenant's own transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from renewflow.config import Settings, load_settings
from renewflow.intelligence import ContinuousIntelligence, CronSecrets, PassLimits

router = APIRouter(prefix="/api/agents", tags=["agents"])

# Every refusal for a wrong, missing or misplaced secret is this one answer.
_REFUSED = "a valid cron secret is required: send 'Authorization: Bearer <CRON_SECRET>'"


class ContinuousIntelligenceIn(BaseModel):
    """What one call's pass does at most (the first call of a slot decides for its run)."""

    model_config = ConfigDict(extra="forbid")

    batchSizePerWorkspace: StrictInt = Field(
        default=25, ge=1, le=1000, description="customers per tenant (recomputed and summarised)"
    )
    maxWorkspaces: StrictInt = Field(default=50, ge=1, le=1000, description="tenants")


def _settings(request: Request) -> Settings:
    settings = getattr(request.app.state, "settings", None)
    return settings if isinstance(settings, Settings) else load_settings()


def _agent(request: Request) -> ContinuousIntelligence:
    """The app's agent (`app.state.intelligence`), made on first use."""
    agent = getattr(request.app.state, "intelligence", None)
    if not isinstance(agent, ContinuousIntelligence):
        agent = ContinuousIntelligence(request.app.state.database, request.app.state.llm_clients)
        request.app.state.intelligence = agent
    return agent


async def require_cron_secret(request: Request) -> Settings:
    settings = _settings(request)
    secrets = CronSecrets.from_settings(settings)
    if not secrets.configured:
        raise HTTPException(
            503,
            "the continuous-intelligence endpoint is disabled: no cron secret is configured "
            "(set RENEWFLOW_CRON_SECRET)",
        )
    if not secrets.admits(request.headers.get("authorization"), request.query_params):
        raise HTTPException(401, _REFUSED, headers={"WWW-Authenticate": 'Bearer realm="cron"'})
    return settings


@router.post(
    "/continuous-intelligence",
    responses={
        202: {"description": "another call's run of this slot is still running"},
        401: {"description": "wrong, missing or query-string secret"},
        503: {"description": "no cron secret configured"},
    },
)
def continuous_intelligence(
    request: Request,
    settings: Annotated[Settings, Depends(require_cron_secret)],
    body: Annotated[ContinuousIntelligenceIn | None, Body()] = None,
) -> JSONResponse:
    """Runs the current 30-minute slot's pass, or, when another call (or the worker) already
    runs it, answers with that run's result: one run per slot, however many calls."""
    limits = body or ContinuousIntelligenceIn()
    outcome = _agent(request).run(
        PassLimits(limits.batchSizePerWorkspace, limits.maxWorkspaces),
        triggered_by="cron",
        wait_seconds=settings.cron_wait_seconds,
    )
    answer: dict[str, Any] = outcome.body()
    return JSONResponse(answer, status_code=202 if outcome.status == "running" else 200)
