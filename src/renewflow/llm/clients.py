"""One LLM client per distinct tenant LLM configuration, shared by the process (the API's step
executions and the workers' processors alike).

Providers hold HTTP connection pools, so they are built once per configuration, not per step.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from renewflow.llm.client import LLMClient
from renewflow.llm.settings import LLMSettings, provider_from_settings


class LLMClients:
    def __init__(self) -> None:
        self._clients: dict[str, LLMClient] = {}
        self._by_raw: dict[str, LLMClient] = {}
        self._lock = threading.Lock()

    def for_tenant(self, tenant_settings: dict[str, Any] | None) -> LLMClient:
        """The client for a tenant's `settings.llm` (the offline mock when there is none)."""
        raw = (tenant_settings or {}).get("llm") or {}
        # by the raw settings first: a step asks for its client more than once, and looking the
        # raw settings up is cheaper than validating them again each time
        key = json.dumps(raw, sort_keys=True, default=str)
        client = self._by_raw.get(key)
        if client is None:
            client = self.for_settings(LLMSettings.model_validate(raw))
            with self._lock:
                if len(self._by_raw) >= 1024:
                    self._by_raw.clear()
                self._by_raw[key] = client
        return client

    def for_settings(self, settings: LLMSettings) -> LLMClient:
        key = json.dumps(settings.model_dump(mode="json"), sort_keys=True)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = LLMClient(
                    provider_from_settings(settings),
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
