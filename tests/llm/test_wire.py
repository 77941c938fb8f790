"""The real OpenAI and Anthropic SDK code paths, against a loopback server speaking their wire
formats: success, retries on 429 (honouring Retry-After) and 5xx, timeouts, bad answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from renewflow.llm import (
    LLMBadResponse,
    LLMConfigError,
    LLMRateLimited,
    LLMRequest,
    LLMTimeout,
    LLMUnavailable,
)
from tests.llm.conftest import MakeProvider
from tests.llm.dialects import DIALECTS, Dialect
from tests.llm.wire import Reply, WireServer

SCHEMA = {
    "type": "object",
    "required": ["overall_health", "risk_score"],
    "properties": {
        "overall_health": {"enum": ["Good", "Fair", "Poor"]},
        "risk_score": {"type": "integer", "minimum": 0, "maximum": 100},
    },
}
ANSWER = {"overall_health": "Good", "risk_score": 35}
REQUEST = LLMRequest(
    prompt="Analyze risk for Acme with ARR $120,000.",
    system="You are a renewal analyst.",
    json_schema=SCHEMA,
    max_tokens=300,
)


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer() as running:
        yield running


@pytest.fixture(params=DIALECTS, ids=lambda d: d.provider)
def dialect(request: pytest.FixtureRequest) -> Dialect:
    chosen: Dialect = request.param
    return chosen


def test_structured_success_with_usage(
    server: WireServer, dialect: Dialect, providers: MakeProvider
) -> None:
    server.script(dialect.ok(ANSWER, input_tokens=321, output_tokens=45))
    provider = providers(dialect.settings(server.url), dialect.env())
    response = provider.complete(REQUEST)

    assert response.parsed == ANSWER
    assert (response.input_tokens, response.output_tokens) == (321, 45)
    assert (response.model, response.provider, response.attempts) == (
        dialect.model,
        dialect.provider,
        1,
    )
    assert response.latency_ms >= 0
    [sent] = server.received
    assert sent.path == dialect.path
    assert sent.body["model"] == dialect.model
    assert (
        sent.body["max_tokens" if dialect.provider != "openai" else "max_completion_tokens"] == 300
    )
    if dialect.provider == "anthropic":
        assert sent.body["system"] == "You are a renewal analyst."
        assert sent.body["messages"] == [{"role": "user", "content": REQUEST.prompt}]
        assert sent.body["tools"][0]["input_schema"] == SCHEMA
        assert sent.body["tool_choice"] == {"type": "tool", "name": "output"}
        # SDK 1.x sent x-api-key; 2.x sends the key as a bearer token
        key = sent.headers.get("x-api-key") or sent.headers["authorization"].removeprefix("Bearer ")
        assert key == "sk-test-SECRET-key-123"
        assert "anthropic-version" in sent.headers
    else:
        assert sent.body["messages"][0] == {
            "role": "system",
            "content": "You are a renewal analyst.",
        }
        assert sent.body["response_format"]["type"] == "json_schema"
        assert sent.body["response_format"]["json_schema"]["schema"] == SCHEMA
        expected_key = "sk-test-SECRET-key-123" if dialect.key_env else "unused"
        assert sent.headers["authorization"] == f"Bearer {expected_key}"


def test_plain_text_success(server: WireServer, dialect: Dialect, providers: MakeProvider) -> None:
    server.script(dialect.ok("Renew early.", 10, 3))
    provider = providers(dialect.settings(server.url), dialect.env())
    response = provider.complete(LLMRequest(prompt="Advise", model="other-model"))
    assert (response.text, response.parsed) == ("Renew early.", None)
    assert server.received[0].body["model"] == "other-model"
    assert "tools" not in server.received[0].body
    assert "response_format" not in server.received[0].body


def test_rate_limited_then_success_honours_retry_after(
    server: WireServer, dialect: Dialect, providers: MakeProvider
) -> None:
    server.script(dialect.error(429, "slow down", {"Retry-After": "1"}), dialect.ok(ANSWER))
    provider = providers(dialect.settings(server.url), dialect.env())
    started = time.monotonic()
    response = provider.complete(REQUEST)
    waited = time.monotonic() - started
    assert response.parsed == ANSWER
    assert response.attempts == 2
    assert len(server.received) == 2
    # backoff alone would have waited at most 0.05 s: the one second is the server's Retry-After
    assert waited >= 0.95
    assert response.latency_ms >= 950


def test_retry_after_too_long_is_not_waited_for(
    server: WireServer, dialect: Dialect, providers: MakeProvider
) -> None:
    server.script(dialect.error(429, headers={"Retry-After": "120"}), dialect.ok(ANSWER))
    provider = providers(dialect.settings(server.url), dialect.env())
    with pytest.raises(LLMRateLimited) as caught:
        provider.complete(REQUEST)
    assert (caught.value.retry_after, caught.value.attempts, caught.value.status) == (120.0, 1, 429)
    assert len(server.received) == 1


def test_server_error_then_success(
    server: WireServer, dialect: Dialect, providers: MakeProvider
) -> None:
    server.script(dialect.error(500), dialect.ok(ANSWER))
    provider = providers(dialect.settings(server.url), dialect.env())
    response = provider.complete(REQUEST)
    assert (response.parsed, response.attempts, len(server.received)) == (ANSWER, 2, 2)


def test_persistent_server_error_is_unavailable_after_max_retries(
    server: WireServer, dialect: Dialect, providers: MakeProvider
) -> None:
    server.script(*[dialect.error(503) for _ in range(5)])
    provider = providers(dialect.settings(server.url, max_retries=3), dialect.env())
    with pytest.raises(LLMUnavailable, match=r"HTTP 503") as caught:
        provider.complete(REQUEST)
    assert caught.value.attempts == 4
    assert len(server.received) == 4


def test_client_errors_are_not_retried(
    server: WireServer, dialect: Dialect, providers: MakeProvider
) -> None:
    server.script(dialect.error(400, "max_tokens is too large"), dialect.ok(ANSWER))
    provider = providers(dialect.settings(server.url), dialect.env())
    with pytest.raises(LLMBadResponse, match="max_tokens is too large"):
        provider.complete(REQUEST)
    assert len(server.received) == 1


def test_refused_key_is_a_config_error_that_does_not_echo_the_key(
    server: WireServer, dialect: Dialect, providers: MakeProvider
) -> None:
    server.script(dialect.error(401, "Incorrect API key provided: sk-test-SECRET-key-123"))
    provider = providers(dialect.settings(server.url), dialect.env())
    with pytest.raises(LLMConfigError) as caught:
        provider.complete(REQUEST)
    assert "SECRET" not in str(caught.value)
    assert len(server.received) == 1


def test_slow_answer_is_a_timeout(
    server: WireServer, dialect: Dialect, providers: MakeProvider
) -> None:
    slow = dialect.ok(ANSWER)
    slow.delay = 3.0
    server.script(slow)
    provider = providers(dialect.settings(server.url), dialect.env())
    started = time.monotonic()
    with pytest.raises(LLMTimeout):
        provider.complete(LLMRequest(prompt="p", json_schema=SCHEMA, timeout=0.3))
    assert time.monotonic() - started < 2.0
    assert len(server.received) == 1


def test_non_json_answer_to_a_schema_is_a_bad_response(
    server: WireServer, dialect: Dialect, providers: MakeProvider
) -> None:
    server.script(dialect.ok("Sure! The customer looks healthy.", 50, 9), dialect.ok(ANSWER))
    provider = providers(dialect.settings(server.url), dialect.env())
    with pytest.raises(LLMBadResponse, match="not JSON") as caught:
        provider.complete(REQUEST)
    error = caught.value
    assert error.raw_text == "Sure! The customer looks healthy."
    assert (error.input_tokens, error.output_tokens) == (50, 9)
    assert len(server.received) == 1


def test_unreachable_server_is_unavailable_after_retries(
    dialect: Dialect, providers: MakeProvider
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = providers(dialect.settings(f"http://127.0.0.1:{port}", max_retries=1), dialect.env())
    with pytest.raises(LLMUnavailable, match="cannot connect") as caught:
        provider.complete(REQUEST)
    assert caught.value.attempts == 2


def test_anthropic_wraps_a_non_object_schema(server: WireServer, providers: MakeProvider) -> None:
    dialect = DIALECTS[1]
    server.script(dialect.ok({"value": ["call the CFO", "send the deck"]}))
    provider = providers(dialect.settings(server.url), dialect.env())
    schema = {"type": "array", "items": {"type": "string"}}
    response = provider.complete(LLMRequest(prompt="Next steps?", json_schema=schema))
    assert response.parsed == ["call the CFO", "send the deck"]
    sent_schema = server.received[0].body["tools"][0]["input_schema"]
    assert sent_schema == {"type": "object", "properties": {"value": schema}, "required": ["value"]}


def test_openai_truncated_answer_is_a_bad_response(
    server: WireServer, providers: MakeProvider
) -> None:
    dialect = DIALECTS[0]
    reply = dialect.ok('{"overall_health": "Go')
    reply.body["choices"][0]["finish_reason"] = "length"
    server.script(reply)
    provider = providers(dialect.settings(server.url), dialect.env())
    with pytest.raises(LLMBadResponse, match="cut off"):
        provider.complete(REQUEST)


def test_unscripted_reply_shape() -> None:
    # the loopback server itself: an unscripted request is an obvious failure, not a hang
    with WireServer() as server:
        assert server.replies == type(server.replies)()
        assert Reply().status == 200
