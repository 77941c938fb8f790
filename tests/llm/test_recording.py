"""Every call recorded in llm_calls, on the real database, with tokens, cost, latency and hash."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from renewflow.db import Database
from renewflow.llm import (
    LLMCall,
    LLMClient,
    LLMConfigError,
    LLMRequest,
    LLMUnavailable,
    MockProvider,
    record_call,
)
from tests.db.rows import populate
from tests.llm.conftest import MakeProvider
from tests.llm.dialects import DIALECTS
from tests.llm.wire import WireServer

SCHEMA = {"type": "object", "required": ["risk"], "properties": {"risk": {"type": "integer"}}}


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer() as running:
        yield running


def _calls(database: Database, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    with database.tenant_transaction(tenant_id) as conn:
        return conn.execute("SELECT * FROM llm_calls ORDER BY created_at, id").fetchall()


def test_mock_call_is_recorded_with_hash_tokens_and_zero_cost(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory()
    client = LLMClient(MockProvider(), database=database)
    request = LLMRequest(
        prompt="Analyze Acme", system="You are a renewal analyst.", json_schema=SCHEMA
    )
    response = client.complete(request, tenant_id=tenant)

    [row] = _calls(database, tenant)
    expected_hash = hashlib.sha256(
        json.dumps(["You are a renewal analyst.", "Analyze Acme"]).encode()
    ).hexdigest()
    assert row["prompt_sha256"] == expected_hash
    assert row["tenant_id"] == tenant
    assert (row["provider"], row["model"], row["status"], row["error_kind"]) == (
        "mock",
        "mock",
        "success",
        None,
    )
    assert (row["input_tokens"], row["output_tokens"]) == (
        response.input_tokens,
        response.output_tokens,
    )
    assert row["cost_usd"] == Decimal(0)
    assert row["latency_ms"] >= 0
    assert row["attempts"] == 1


def test_provider_call_is_priced_and_retries_counted(
    database: Database,
    tenant_factory: Callable[..., uuid.UUID],
    server: WireServer,
    providers: MakeProvider,
) -> None:
    dialect = DIALECTS[0]  # openai, model gpt-4o-mini-2024-07-18
    server.script(
        dialect.error(500), dialect.ok({"risk": 40}, input_tokens=1000, output_tokens=500)
    )
    tenant = tenant_factory()
    provider = providers(dialect.settings(server.url), dialect.env())
    client = LLMClient(provider, database=database)
    client.complete(LLMRequest(prompt="p", json_schema=SCHEMA), tenant_id=tenant)

    [row] = _calls(database, tenant)
    assert (row["provider"], row["model"]) == ("openai", "gpt-4o-mini-2024-07-18")
    assert (row["input_tokens"], row["output_tokens"], row["attempts"]) == (1000, 500, 2)
    assert row["cost_usd"] == Decimal("0.00045")  # 1000 x $0.15/M + 500 x $0.60/M


def test_failed_call_is_recorded_then_raised(
    database: Database,
    tenant_factory: Callable[..., uuid.UUID],
    server: WireServer,
    providers: MakeProvider,
) -> None:
    dialect = DIALECTS[2]  # openai-compatible: an unpriced model
    server.script(*[dialect.error(502) for _ in range(3)])
    tenant = tenant_factory()
    provider = providers(dialect.settings(server.url), dialect.env())
    with pytest.raises(LLMUnavailable):
        LLMClient(provider, database=database).complete(LLMRequest(prompt="q"), tenant_id=tenant)

    [row] = _calls(database, tenant)
    assert (row["status"], row["error_kind"], row["attempts"]) == ("error", "unavailable", 3)
    assert (row["model"], row["cost_usd"], row["input_tokens"]) == ("llama3.1:8b", None, None)


def test_bad_answer_keeps_its_billed_tokens(
    database: Database,
    tenant_factory: Callable[..., uuid.UUID],
    server: WireServer,
    providers: MakeProvider,
) -> None:
    dialect = DIALECTS[1]  # anthropic
    server.script(dialect.ok("not json at all", input_tokens=200, output_tokens=20))
    tenant = tenant_factory()
    provider = providers(dialect.settings(server.url), dialect.env())
    with pytest.raises(Exception, match="not JSON"):
        LLMClient(provider, database=database).complete(
            LLMRequest(prompt="q", json_schema=SCHEMA), tenant_id=tenant
        )
    [row] = _calls(database, tenant)
    assert (row["error_kind"], row["input_tokens"], row["output_tokens"]) == (
        "bad_response",
        200,
        20,
    )
    assert row["cost_usd"] == Decimal("0.00030")  # 200 x $1/M + 20 x $5/M


def test_recording_in_the_callers_transaction_links_the_step(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory()
    client = LLMClient(MockProvider())
    with database.tenant_transaction(tenant) as conn:
        ids = populate(conn)
        client.complete(
            LLMRequest(prompt="step prompt"),
            conn=conn,
            workflow_execution_id=ids["workflow_executions"],
            step_execution_id=ids["workflow_step_executions"],
        )
    rows = [
        r
        for r in _calls(database, tenant)
        if r["step_execution_id"] is not None and r["id"] != ids["llm_calls"]
    ]
    assert [(r["workflow_execution_id"], r["step_execution_id"]) for r in rows] == [
        (ids["workflow_executions"], ids["workflow_step_executions"])
    ]


def test_client_refuses_to_run_without_a_place_to_record() -> None:
    with pytest.raises(LLMConfigError, match="record"):
        LLMClient(MockProvider()).complete(LLMRequest(prompt="p"))


def _call(**overrides: Any) -> LLMCall:
    values: dict[str, Any] = {
        "provider": "mock",
        "model": "mock",
        "prompt_sha256": "a" * 64,
        "latency_ms": 1,
        "status": "success",
    }
    return LLMCall(**(values | overrides))


@pytest.mark.parametrize(
    "overrides",
    [
        {"input_tokens": -1},
        {"output_tokens": -5},
        {"latency_ms": -1},
        {"cost_usd": Decimal("-0.01")},
        {"attempts": 0},
        {"prompt_sha256": "A" * 64},
        {"status": "error"},  # an error needs its kind
        {"error_kind": "timeout"},  # and a success has none
        {"status": "error", "error_kind": "meltdown"},
    ],
)
def test_constraints_refuse_impossible_rows(
    database: Database, tenant_factory: Callable[..., uuid.UUID], overrides: dict[str, Any]
) -> None:
    tenant = tenant_factory()
    with pytest.raises(psycopg.errors.CheckViolation):
        with database.tenant_transaction(tenant) as conn:
            record_call(conn, _call(**overrides))


def test_step_of_another_tenant_cannot_be_referenced(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    other = tenant_factory()
    with database.tenant_transaction(other) as conn:
        their_ids = populate(conn)
    mine = tenant_factory()
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        with database.tenant_transaction(mine) as conn:
            record_call(conn, _call(step_execution_id=their_ids["workflow_step_executions"]))
