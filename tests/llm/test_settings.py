"""Settings, the provider factory, prices and the retry policy."""

from __future__ import annotations

import sys
from decimal import Decimal

import pytest
from pydantic import ValidationError

from renewflow.llm import (
    LLMConfigError,
    LLMSettings,
    LLMUnavailable,
    MockProvider,
    RetryingProvider,
    RetryPolicy,
    cost_usd,
    price_of,
    provider_from_settings,
)


def test_default_is_the_mock_and_needs_nothing() -> None:
    provider = provider_from_settings(LLMSettings(), env={})
    assert isinstance(provider, MockProvider)
    assert provider.default_model == "mock"


@pytest.mark.parametrize(
    ("provider", "variable"), [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")]
)
def test_missing_key_names_the_variable(provider: str, variable: str) -> None:
    with pytest.raises(LLMConfigError, match=variable):
        provider_from_settings(LLMSettings(provider=provider), env={})  # type: ignore[arg-type]


def test_key_is_read_from_the_named_variable() -> None:
    settings = LLMSettings(provider="openai", api_key_env="TENANT_A_OPENAI")
    with pytest.raises(LLMConfigError, match="TENANT_A_OPENAI"):
        provider_from_settings(settings, env={"OPENAI_API_KEY": "sk-wrong-one"})
    provider = provider_from_settings(settings, env={"TENANT_A_OPENAI": "sk-right"})
    assert isinstance(provider, RetryingProvider)
    assert (provider.name, provider.default_model) == ("openai", "gpt-4o-mini")
    provider.close()


def test_settings_hold_no_secret_and_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        LLMSettings.model_validate({"provider": "openai", "api_key": "sk-live"})
    with pytest.raises(ValidationError):
        LLMSettings.model_validate({"provider": "openai", "api_key_env": "not a name"})
    with pytest.raises(ValidationError, match="base_url and model"):
        LLMSettings(provider="openai-compatible", base_url="http://localhost:11434/v1")
    with pytest.raises(ValidationError):
        LLMSettings.model_validate({"provider": "cohere"})


def test_missing_extra_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)  # what an absent package looks like
    with pytest.raises(LLMConfigError, match=r"pip install 'renewflow\[anthropic\]'"):
        provider_from_settings(LLMSettings(provider="anthropic"), env={"ANTHROPIC_API_KEY": "k"})


def test_prices_exact_snapshot_and_unknown() -> None:
    assert cost_usd("gpt-4o-mini", 1_000_000, 1_000_000) == Decimal("0.75")
    assert cost_usd("gpt-4o-mini-2024-07-18", 1000, 500) == Decimal("0.00045")
    assert cost_usd("claude-3-5-haiku-20241022", 2000, 100) == Decimal("0.00200")
    assert price_of("claude-3-5-haiku-latest") == price_of("claude-3-5-haiku")
    assert cost_usd("mock", 500, 500) == Decimal(0)
    # unknown means NULL, not free; and no loose prefix matching
    assert cost_usd("llama3.1:8b", 1000, 1000) is None
    assert price_of("gpt-5-pro") is None
    assert cost_usd("gpt-4o", None, 10) is None


class _Flaky:
    name = "flaky"
    default_model = "m"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def complete(self, request: object) -> object:
        self.calls += 1
        if self.calls <= self.failures:
            raise LLMUnavailable("down")
        return MockProvider().complete(request)  # type: ignore[arg-type]


def test_backoff_is_exponential_bounded_and_jittered() -> None:
    policy = RetryPolicy(max_retries=6, base_delay=0.5, max_delay=4.0)
    error = LLMUnavailable("x")
    assert [policy.delay(n, error, rand=lambda: 0.0) for n in range(5)] == [
        0.25,
        0.5,
        1.0,
        2.0,
        2.0,
    ]
    assert [policy.delay(n, error, rand=lambda: 1.0) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    error.retry_after = 7.0
    assert policy.delay(0, error) == 7.0


def test_retrying_provider_counts_and_sleeps_between_attempts() -> None:
    from renewflow.llm import LLMRequest

    sleeps: list[float] = []
    inner = _Flaky(failures=2)
    provider = RetryingProvider(inner, RetryPolicy(max_retries=2), sleep=sleeps.append)  # type: ignore[arg-type]
    response = provider.complete(LLMRequest(prompt="p"))
    assert (response.attempts, inner.calls, len(sleeps)) == (3, 3, 2)
    assert 0.25 <= sleeps[0] <= 0.5
    assert 0.5 <= sleeps[1] <= 1.0

    failing = RetryingProvider(_Flaky(failures=9), RetryPolicy(max_retries=2), sleep=sleeps.append)  # type: ignore[arg-type]
    with pytest.raises(LLMUnavailable) as caught:
        failing.complete(LLMRequest(prompt="p"))
    assert caught.value.attempts == 3
