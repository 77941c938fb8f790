"""Step runs through HTTP: `Prefer: respond-async` answers 202 with a run to poll or follow as
Server-Sent Events; a request for a running step answers 409 naming the run; another tenant's
run answers 404."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bench.fake_openai import FakeOpenAI

from renewflow.db import Database
from tests.api.conftest import bearer
from tests.engine.world import World, fake_llm_settings, make_world

PROBLEM = "application/problem+json"


pytestmark = pytest.mark.usefixtures("core_library_seeded")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(delay=0.6) as server:
        yield server


def key_of(make_key: Any, world: World, role: str = "manager") -> str:
    _, key = make_key(world.tenant, role)
    key_text: str = key
    return key_text


def execute_url(world: World, step: str = "data-snapshot") -> str:
    return f"/api/workflows/executions/{world.executions[0]}/steps/{step}/execute"


def test_respond_async_answers_202_and_the_run_completes(
    client: httpx.Client, database: Database, fake: FakeOpenAI, worker: None, make_key: Any
) -> None:
    world = make_world(database, llm=fake_llm_settings(fake.url))
    key = key_of(make_key, world)
    accepted = client.post(
        execute_url(world), headers={**bearer(key), "Prefer": "respond-async, wait=0"}
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["Preference-Applied"] == "respond-async"
    run = accepted.json()
    assert (
        accepted.headers["Location"] == run["links"]["self"] == f"/api/workflows/runs/{run['id']}"
    )
    assert run["status"] in ("queued", "running")
    deadline = time.monotonic() + 15
    while run["status"] not in ("completed", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
        run = client.get(run["links"]["self"], headers=bearer(key)).json()
    assert run["status"] == "completed"
    # the result is exactly what the synchronous call answers
    assert run["result"]["success"] is True
    assert run["result"]["stepId"] == "data-snapshot"
    assert run["result"]["nextStep"]["stepId"] == "value-risk-analysis"
    assert run["statusCode"] == 200
    listed = client.get(
        "/api/workflows/runs", params={"executionId": run["executionId"]}, headers=bearer(key)
    ).json()
    assert [item["id"] for item in listed["items"]] == [run["id"]]


def test_a_run_can_be_followed_as_server_sent_events(
    client: httpx.Client, database: Database, fake: FakeOpenAI, worker: None, make_key: Any
) -> None:
    world = make_world(database, llm=fake_llm_settings(fake.url))
    key = key_of(make_key, world)
    run = client.post(execute_url(world), headers={**bearer(key), "Prefer": "respond-async"}).json()
    events: list[tuple[str, dict[str, Any]]] = []
    with client.stream("GET", run["links"]["events"], headers=bearer(key), timeout=20) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                assert name is not None
                events.append((name, json.loads(line.removeprefix("data: "))))
    names = [name for name, _ in events]
    assert names[-1] == "completed"
    assert set(names) <= {"queued", "running", "completed"}
    assert "running" in names  # the fake answers in 0.6 s: the stream saw the call happen
    assert events[-1][1]["result"]["success"] is True


def test_a_request_for_a_running_step_is_a_conflict_naming_the_run(
    client: httpx.Client, database: Database, fake: FakeOpenAI, make_key: Any
) -> None:
    world = make_world(database, llm=fake_llm_settings(fake.url))
    key = key_of(make_key, world)
    first: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: first.append(client.post(execute_url(world), headers=bearer(key)))
    )
    thread.start()
    deadline = time.monotonic() + 5
    while fake.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    second = client.post(execute_url(world), headers=bearer(key))
    assert second.status_code == 409, second.text
    assert second.headers["content-type"] == PROBLEM
    problem = second.json()
    assert problem["runUrl"] == f"/api/workflows/runs/{problem['runId']}"
    assert "already running" in problem["detail"]
    # moving the execution meanwhile is refused too
    skipped = client.post(
        f"/api/workflows/executions/{world.executions[0]}/steps/data-snapshot/skip",
        json={"reason": "no time"},
        headers=bearer(key),
    )
    assert skipped.status_code == 409
    thread.join(10)
    assert first[0].status_code == 200
    assert first[0].json()["stepExecutionId"] == problem["runId"]
    assert fake.requests == 1


def test_another_tenants_run_answers_404(
    client: httpx.Client, database: Database, fake: FakeOpenAI, make_key: Any
) -> None:
    world = make_world(database, llm=fake_llm_settings(fake.url))
    other = make_world(database)
    done = client.post(execute_url(world), headers=bearer(key_of(make_key, world))).json()
    stranger = key_of(make_key, other)
    for path in (
        f"/api/workflows/runs/{done['stepExecutionId']}",
        f"/api/workflows/runs/{done['stepExecutionId']}/events",
        "/api/workflows/runs/00000000-0000-4000-8000-000000000000",
    ):
        response = client.get(path, headers=bearer(stranger))
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == PROBLEM


def test_an_asynchronous_run_is_queued_even_with_the_in_process_mock(
    client: httpx.Client, database: Database, worker: None, make_key: Any
) -> None:
    world = make_world(database)  # the mock provider: answered inline when synchronous
    key = key_of(make_key, world)
    accepted = client.post(execute_url(world), headers={**bearer(key), "Prefer": "respond-async"})
    assert accepted.status_code == 202, accepted.text
    run = accepted.json()
    deadline = time.monotonic() + 15
    while run["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
        run = client.get(run["links"]["self"], headers=bearer(key)).json()
    assert run["result"]["stepId"] == "data-snapshot"
