"""One LLM client per distinct tenant LLM configuration, shared by the process (the API's step
executions and the workers' processors alike).

Providers hold HTTP connection pools, so they are built once per configuration, not per step.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import TYPE_CHECKING, Any

from renewflow.llm.client import LLMClient
from renewflow.llm.errors import LLMConfigError
from renewflow.llm.settings import LLMSettings, provider_from_settings

if TYPE_CHECKING:
    from renewflow.settings import TenantSettings


class LLMClients:
    def __init__(self) -> None:
        self._clients: dict[str, LLMClient] = {}
        self._by_raw: dict[str, LLMClient] = {}
        self._lock = threading.Lock()

    def for_tenant(self, tenant_settings: dict[str, Any] | TenantSettings | None) -> LLMClient:
        """The client for a tenant's `settings.llm` (the offline mock when there is none), its
        API key opened from the tenant's secrets when `api_key_secret` names one. Takes the
        stored settings (`tenants.settings`) or their typed form."""
        # imported here: the settings package is above this one (it reads LLMSettings)
        from renewflow.settings import TenantSettings, read_settings

        if isinstance(tenant_settings, TenantSettings):
            return self._for_typed(tenant_settings)
        raw = tenant_settings or {}
        # by the raw settings first: a step asks for its client more than once, and looking the
        # raw settings up is cheaper than validating them again each time
        key = json.dumps([raw.get("llm"), raw.get("secrets")], sort_keys=True, default=str)
        client = self._by_raw.get(key)
        if client is None:
            client = self._for_typed(read_settings(raw))
            with self._lock:
                if len(self._by_raw) >= 1024:
                    self._by_raw.clear()
                self._by_raw[key] = client
        return client

    def _for_typed(self, settings: TenantSettings) -> LLMClient:
        problem = settings.problem("llm")
        if problem is not None:
            raise LLMConfigError(f"the tenant's LLM settings are invalid: {problem}")
        return self.for_settings(settings.llm, api_key=settings.llm_api_key())

    def for_settings(self, settings: LLMSettings, *, api_key: str | None = None) -> LLMClient:
        # the key's digest tells two keys apart without keeping either in the cache's keys
        digest = hashlib.sha256(api_key.encode()).hexdigest() if api_key else None
        key = json.dumps([settings.model_dump(mode="json"), digest], sort_keys=True)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = LLMClient(
                    provider_from_settings(settings, api_key=api_key),
                    endpoint=f"{settings.provider}:{settings.base_url or ''}",
                )
                self._clients[key] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            self._by_raw.clear()


# The process-wide instance, for code that has no app state to hang one on (task processors).
shared_clients = LLMClients()
