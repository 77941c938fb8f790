"""Recording LLM calls in `llm_calls` (tenant-scoped: the row's tenant is the transaction's), and
in the metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Literal
from uuid import UUID

from renewflow.db import Connection, load_queries
from renewflow.observability import context
from renewflow.observability import default as default_metrics


@dataclass(frozen=True, slots=True)
class LLMCall:
    """One row of `llm_calls`. `error_kind` is an `LLMError.kind`, set exactly when status is
    "error"; `cost_usd` None means unknown (an unpriced model, or unknown token counts)."""

    provider: str
    model: str
    prompt_sha256: str
    latency_ms: int
    status: Literal["success", "error"]
    attempts: int = 1
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: Decimal | None = None
    error_kind: str | None = None
    workflow_execution_id: UUID | None = None
    step_execution_id: UUID | None = None


def record_call(conn: Connection, call: LLMCall) -> UUID:
    """Inserts `call` for the tenant of `conn`'s transaction; returns the row's id."""
    row = conn.execute(load_queries("renewflow.llm")["insert_llm_call"], asdict(call)).fetchone()
    assert row is not None
    call_id: UUID = row["id"]
    return call_id


def record_calls(conn: Connection, calls: list[LLMCall]) -> None:
    """Inserts several calls at once (in pipeline mode, without waiting for the server)."""
    if calls:
        with conn.cursor() as cursor:
            cursor.executemany(
                load_queries("renewflow.llm")["insert_llm_call"], [asdict(c) for c in calls]
            )


def observe_call(call: LLMCall, tenant_id: UUID | str | None = None) -> None:
    """Counts `call` in the metrics: calls by outcome, latency, tokens, cost (the tenant, for the
    opt-in label, is `tenant_id` or the one the caller's context names)."""
    default_metrics().llm_call(
        provider=call.provider,
        model=call.model,
        outcome=(call.error_kind or "error") if call.status == "error" else "success",
        seconds=call.latency_ms / 1000,
        attempts=call.attempts,
        input_tokens=call.input_tokens,
        output_tokens=call.output_tokens,
        cost_usd=float(call.cost_usd) if call.cost_usd is not None else None,
        tenant=str(tenant_id) if tenant_id is not None else context.tenant_id.get(),
    )
