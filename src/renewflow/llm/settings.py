"""Which provider a tenant uses, and the factory that builds it.

The settings hold no secret and live in `tenants.settings` (under "llm"). The API key is either
a tenant secret, sealed in the database (`api_key_secret` names it; the caller opens it and
passes it to `provider_from_settings` as `api_key`), or read from the process environment
(`api_key_env` names the variable) when the provider is built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from renewflow.llm.errors import LLMConfigError
from renewflow.llm.mock import MockProvider
from renewflow.llm.models import LLMProvider
from renewflow.llm.retry import RetryingProvider, RetryPolicy

ProviderName = Literal["mock", "openai", "anthropic", "openai-compatible"]

DEFAULT_MODELS: dict[str, str] = {
    "mock": "mock",
    "openai": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5",
}
DEFAULT_KEY_ENV: dict[str, str] = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


class LLMSettings(BaseModel):
    """A tenant's LLM configuration (no secrets: `api_key_env` or `api_key_secret` names where
    the key is)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: ProviderName = "mock"
    model: str | None = Field(
        default=None,
        description="Default model; each provider has one, openai-compatible needs it set.",
    )
    base_url: str | None = Field(
        default=None,
        description="API root, e.g. http://localhost:11434/v1 for Ollama; required for openai-compatible.",
    )
    api_key_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the API key (default OPENAI_API_KEY / ANTHROPIC_API_KEY; optional for openai-compatible).",
    )
    api_key_secret: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
        description="The name of the tenant secret holding the API key (instead of api_key_env).",
    )
    timeout: float = Field(default=60.0, gt=0, le=600, description="Seconds per attempt.")
    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_base: float = Field(default=0.5, ge=0, le=30)
    backoff_max: float = Field(default=8.0, ge=0, le=120)
    max_retry_after: float = Field(default=60.0, ge=0, le=600)

    @model_validator(mode="after")
    def _complete(self) -> LLMSettings:
        if self.provider == "openai-compatible" and not (self.base_url and self.model):
            raise ValueError("openai-compatible needs base_url and model")
        if self.api_key_env and self.api_key_secret:
            raise ValueError("give at most one of api_key_env and api_key_secret")
        return self

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=self.max_retries,
            base_delay=self.backoff_base,
            max_delay=self.backoff_max,
            max_retry_after=self.max_retry_after,
        )


def provider_from_settings(
    settings: LLMSettings, env: Mapping[str, str] | None = None, *, api_key: str | None = None
) -> LLMProvider:
    """The provider `settings` describe, wrapped in retries. Raises LLMConfigError when the
    optional SDK is missing or the API key variable is unset (naming the variable, never a key).
    `api_key` is the opened secret `api_key_secret` names (the settings package opens it)."""
    env = os.environ if env is None else env
    name = settings.provider
    model = settings.model or DEFAULT_MODELS.get(name, "")
    if name == "mock":
        return MockProvider(model)
    if settings.api_key_secret:
        if not api_key:
            raise LLMConfigError(
                f"{name}: the tenant secret {settings.api_key_secret} holding the API key is "
                "not available",
                provider=name,
            )
        key_env = None
    else:
        key_env = settings.api_key_env or DEFAULT_KEY_ENV.get(name)
        api_key = env.get(key_env, "") if key_env else ""
    if not api_key:
        if name != "openai-compatible":
            raise LLMConfigError(
                f"{name}: set the API key in the environment variable {key_env}", provider=name
            )
        if key_env:
            raise LLMConfigError(
                f"{name}: the environment variable {key_env} is empty", provider=name
            )
        # local servers (Ollama, vLLM) ignore the key, but the SDK insists on one
        api_key = "unused"
    inner: LLMProvider
    if name == "anthropic":
        from renewflow.llm.anthropic_provider import AnthropicProvider

        inner = AnthropicProvider(
            api_key=api_key,
            default_model=model,
            base_url=settings.base_url,
            timeout=settings.timeout,
        )
    else:
        from renewflow.llm.openai_provider import OpenAIProvider

        inner = OpenAIProvider(
            api_key=api_key,
            default_model=model,
            base_url=settings.base_url,
            timeout=settings.timeout,
            name=name,
        )
    return RetryingProvider(inner, settings.retry_policy())
