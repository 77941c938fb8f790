"""Agent tasks: users with keys, a served API, and a worker running agent steps."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from renewflow import accounts, agents
from renewflow.agents import AgentStepQueue
from renewflow.db import Database
from renewflow.jobs import Worker, WorkerConfig
from renewflow.llm import (
    LLMClient,
    LLMClients,
    LLMRequest,
    LLMResponse,
    LLMUnavailable,
    MockProvider,
)
from tests.api.conftest import api_url, client, make_key

__all__ = ["api_url", "client", "make_key"]


@pytest.fixture
def tenant(tenant_factory: Callable[..., uuid.UUID]) -> uuid.UUID:
    return tenant_factory("Agents")


@pytest.fixture
def make_user(database: Database) -> Callable[..., uuid.UUID]:
    def create(tenant_id: uuid.UUID, role: str = "csm") -> uuid.UUID:
        with database.tenant_transaction(tenant_id) as conn:
            user = accounts.create_user(
                conn,
                email=f"{role}-{uuid.uuid4().hex[:8]}@example.com",
                role=accounts.parse_role(role),
            )
        user_id: uuid.UUID = user["id"]
        return user_id

    return create


def start_agent_worker(
    database: Database, clients: LLMClients, *, backoff: float = 0.05, lease_seconds: float = 5
) -> Worker:
    queue = AgentStepQueue(database, clients, backoff=lambda attempt: backoff)
    worker = Worker(
        database,
        [queue],
        config=WorkerConfig(
            concurrency=2, poll_interval=0.05, lease_seconds=lease_seconds, reap_interval=0.2
        ),
    )
    worker.start()
    return worker


@pytest.fixture
def agent_worker(database: Database) -> Iterator[None]:
    """A worker running agent steps with the mock provider, retries 50 ms apart."""
    clients = LLMClients()
    worker = start_agent_worker(database, clients)
    yield
    worker.stop()
    worker.join(10)
    clients.close()


def wait_for(
    database: Database,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    task_id: uuid.UUID,
    done: Callable[[agents.AgentTask], bool],
    timeout: float = 20.0,
) -> agents.AgentTask:
    deadline = time.monotonic() + timeout
    while True:
        with database.tenant_transaction(tenant_id, user_id) as conn:
            task = agents.get_task(conn, task_id)
        if done(task):
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"the task did not get there: {task.status}, {steps_of(task)}")
        time.sleep(0.05)


def steps_of(task: agents.AgentTask) -> list[tuple[int, str, str]]:
    return [(s.step_order, s.step_name, s.status.value) for s in task.steps]


def finished(task: agents.AgentTask) -> bool:
    return task.status.value in ("completed", "failed", "awaiting_approval", "cancelled")


def three_steps(**overrides: Any) -> agents.TaskCreate:
    steps = [
        {"step_name": "Research", "instructions": "List what changed at Acme this quarter."},
        {
            "step_name": "Assess",
            "instructions": "Assess the renewal risk from the research.",
            "include_previous_context": True,
        },
        {
            "step_name": "Draft",
            "instructions": "Draft a note to the CSM from the assessment.",
            "include_previous_context": True,
        },
    ]
    return agents.TaskCreate.model_validate(
        {"name": "Acme renewal brief", "steps": steps, **overrides}
    )


class FlakyMock(MockProvider):
    """The mock, failing every call whose prompt holds `marker` while `failing` is set."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker
        self.failing = threading.Event()
        self.failing.set()

    def complete(self, request: LLMRequest) -> LLMResponse:
        if self.marker in request.prompt and self.failing.is_set():
            raise LLMUnavailable("mock: down for the test")
        return super().complete(request)


class OneProvider(LLMClients):
    """Every tenant's client on `provider`, whatever its settings."""

    def __init__(self, provider: MockProvider) -> None:
        super().__init__()
        self.client = LLMClient(provider)

    def for_tenant(self, tenant_settings: object) -> LLMClient:
        return self.client
