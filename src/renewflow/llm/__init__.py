"""The LLM layer: one provider protocol; mock (default), OpenAI, Anthropic and OpenAI-compatible
providers; retries; prices; and the record of every call in `llm_calls`.

The engine builds a client once per tenant configuration::

    provider = provider_from_settings(LLMSettings.model_validate(tenant_settings.get("llm", {})))
    client = LLMClient(provider, database=database)
    response = client.complete(
        LLMRequest(prompt=rendered, system=system, json_schema=step.outputs),
        tenant_id=tenant_id,
        workflow_execution_id=execution_id,
        step_execution_id=step_execution_id,
    )
    errors = validate(response.parsed, step.outputs)  # then one repair retry if not empty
"""

from renewflow.llm.client import LLMClient
from renewflow.llm.clients import LLMClients, shared_clients
from renewflow.llm.errors import (
    ERROR_KINDS,
    LLMBadResponse,
    LLMConfigError,
    LLMError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
)
from renewflow.llm.mock import MockProvider, generate
from renewflow.llm.models import LLMProvider, LLMRequest, LLMResponse
from renewflow.llm.prices import PRICES, ModelPrice, cost_usd, price_of
from renewflow.llm.recording import LLMCall, record_call, record_calls
from renewflow.llm.retry import RetryingProvider, RetryPolicy
from renewflow.llm.schema import validate
from renewflow.llm.settings import LLMSettings, provider_from_settings

__all__ = [
    "ERROR_KINDS",
    "PRICES",
    "LLMBadResponse",
    "LLMCall",
    "LLMClient",
    "LLMClients",
    "LLMConfigError",
    "LLMError",
    "LLMProvider",
    "LLMRateLimited",
    "LLMRequest",
    "LLMResponse",
    "LLMSettings",
    "LLMTimeout",
    "LLMUnavailable",
    "MockProvider",
    "ModelPrice",
    "RetryPolicy",
    "RetryingProvider",
    "cost_usd",
    "generate",
    "price_of",
    "provider_from_settings",
    "record_call",
    "record_calls",
    "shared_clients",
    "validate",
]
