"""The wrapper the engine calls: provider call, timing, price, the `llm_calls` row, and the
call's metrics and span."""

from __future__ import annotations

import time
from collections.abc import Mapping
from uuid import UUID

from renewflow.db import Connection, Database
from renewflow.llm.errors import LLMConfigError, LLMError
from renewflow.llm.models import LLMProvider, LLMRequest, LLMResponse
from renewflow.llm.prices import PRICES, ModelPrice, cost_usd
from renewflow.llm.recording import LLMCall, observe_call, record_call
from renewflow.observability import tracing


class LLMClient:
    """Calls a provider and records every call, successful or not, with tokens, cost, latency
    (all attempts and waits included) and the prompt's SHA-256.

    Where the row goes:
    - `complete(request, tenant_id=...)` with a `database`: in a short transaction of its own
      after the call, so no transaction is held open across the network call and a failed call's
      row survives whatever the caller then rolls back. The usual choice.
    - `complete(request, conn=...)`: in the caller's transaction (for callers that record
      atomically with their own writes, and commit on failure too).
    """

    def __init__(
        self,
        provider: LLMProvider,
        *,
        database: Database | None = None,
        prices: Mapping[str, ModelPrice] = PRICES,
        endpoint: str | None = None,
    ) -> None:
        self.provider = provider
        # which provider endpoint the calls go to (name and base URL): per-provider limits key on it
        self.endpoint = endpoint or provider.name
        self._database = database
        self._prices = prices

    @property
    def in_process(self) -> bool:
        """The provider answers in this process (the mock), with no network call: a caller may
        call it inside a transaction, as it would any other function."""
        return bool(getattr(self.provider, "in_process", False))

    def close(self) -> None:
        """Closes the provider (its pooled connections)."""
        self.provider.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def complete(
        self,
        request: LLMRequest,
        *,
        conn: Connection | None = None,
        tenant_id: UUID | str | None = None,
        workflow_execution_id: UUID | None = None,
        step_execution_id: UUID | None = None,
        deferred: list[LLMCall] | None = None,
    ) -> LLMResponse:
        """The provider's response; any `LLMError` is recorded, then re-raised.

        The call is recorded in `conn`'s transaction, or in one of its own (`tenant_id`), or, with
        `deferred`, appended there for the caller to record with `record_calls` alongside its own
        writes (one round trip for both).
        """
        if deferred is None and conn is None and (self._database is None or tenant_id is None):
            raise LLMConfigError("LLMClient needs conn=, or a database and tenant_id=, to record")
        model = request.model or self.provider.default_model
        failure: LLMError | None = None
        started = time.perf_counter()
        with tracing.llm_span(
            self.provider.name,
            model,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            structured=request.json_schema is not None,
            system=request.system,
            prompt=request.prompt,
        ) as span:
            try:
                response = self.provider.complete(request)
            except LLMError as error:
                failure = error
                call = LLMCall(
                    provider=self.provider.name,
                    model=model,
                    prompt_sha256=request.prompt_sha256(),
                    latency_ms=_elapsed_ms(started),
                    status="error",
                    attempts=error.attempts,
                    input_tokens=error.input_tokens,
                    output_tokens=error.output_tokens,
                    cost_usd=cost_usd(model, error.input_tokens, error.output_tokens, self._prices),
                    error_kind=error.kind,
                    workflow_execution_id=workflow_execution_id,
                    step_execution_id=step_execution_id,
                )
                tracing.failed(span, error.kind)
            else:
                call = LLMCall(
                    provider=self.provider.name,
                    model=response.model,
                    prompt_sha256=request.prompt_sha256(),
                    latency_ms=max(_elapsed_ms(started), response.latency_ms),
                    status="success",
                    attempts=response.attempts,
                    input_tokens=response.input_tokens,
                    output_tokens=response.output_tokens,
                    cost_usd=cost_usd(
                        response.model, response.input_tokens, response.output_tokens, self._prices
                    ),
                    workflow_execution_id=workflow_execution_id,
                    step_execution_id=step_execution_id,
                )
                tracing.llm_answered(
                    span,
                    model=response.model,
                    input_tokens=response.input_tokens,
                    output_tokens=response.output_tokens,
                    finish_reason=response.finish_reason,
                    attempts=response.attempts,
                    cost_usd=float(call.cost_usd) if call.cost_usd is not None else None,
                    text=response.text,
                )
        observe_call(call, tenant_id)
        self._record(conn, tenant_id, call, deferred)
        if failure is not None:
            raise failure
        return response

    def _record(
        self,
        conn: Connection | None,
        tenant_id: UUID | str | None,
        call: LLMCall,
        deferred: list[LLMCall] | None,
    ) -> None:
        if deferred is not None:
            deferred.append(call)
            return
        if conn is not None:
            record_call(conn, call)
            return
        assert self._database is not None
        assert tenant_id is not None
        with self._database.tenant_transaction(tenant_id) as own:
            record_call(own, call)


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
