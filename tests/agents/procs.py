"""A worker process that runs agent steps and stops dead after one LLM answer, before the finish.

`python -m tests.agents.procs DATABASE_URL MARKER TEXT` runs agent steps with the mock provider;
when a step's prompt holds TEXT, it gets its answer, writes MARKER and then waits to be killed,
its lease still held by heartbeats until then.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from renewflow.agents import AgentStepQueue
from renewflow.db import Database
from renewflow.jobs import Worker, WorkerConfig
from renewflow.llm import LLMClient, LLMClients, LLMRequest, LLMResponse, MockProvider

LEASE_SECONDS = 2.0


class _Stalling(LLMClient):
    def __init__(self, marker: Path, text: str) -> None:
        super().__init__(MockProvider())
        self.marker = marker
        self.text = text

    def complete(self, request: LLMRequest, **kwargs: Any) -> LLMResponse:
        response = super().complete(request, **kwargs)
        if self.text in request.prompt:
            self.marker.write_text("answered")
            time.sleep(600)
        return response


class _Clients(LLMClients):
    def __init__(self, client: LLMClient) -> None:
        super().__init__()
        self.client = client

    def for_tenant(self, tenant_settings: object) -> LLMClient:
        return self.client


def main() -> None:
    url, marker, text = sys.argv[1:4]
    with Database(url, max_size=4) as database:
        queue = AgentStepQueue(database, _Clients(_Stalling(Path(marker), text)))
        worker = Worker(
            database,
            [queue],
            config=WorkerConfig(
                name="doomed", concurrency=1, poll_interval=0.05, lease_seconds=LEASE_SECONDS
            ),
        )
        worker.run_until_stopped()


if __name__ == "__main__":
    main()
