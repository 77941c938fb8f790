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
        self._lock = threading.Lock()

    def for_tenant(self, tenant_settings: dict[str, Any] | None) -> LLMClient:
        """The client for a tenant's `settings.llm` (the offline mock when there is none)."""
        return self.for_settings(
            LLMSettings.model_validate((tenant_settings or {}).get("llm") or {})
        )

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


# The process-wide instance, for code that has no app state to hang one on (task processors).
shared_clients = LLMClients()
