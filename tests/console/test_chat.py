"""The step chat in task mode, at the HTML level: the branches as buttons, a fixed branch that
answers and moves the step, saved actions (a snooze, a skip that needs its reason), free text
matched to a branch or answered in a thread (plainly, and streamed as Server-Sent Events on the
cookie session), charts and tables, completing and abandoning a thread; another tenant's
execution answering 404, and a step that is no longer current answering 409 as a message."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from renewflow import engine
from renewflow.db import Database
from tests.chat.conftest import World, build_world
from tests.console.conftest import SignedIn

KEY = re.compile(r'name="key" value="([0-9a-f]{32})"')
THREAD = re.compile(r'name="thread" value="([0-9a-f-]{36})"')
CHART = re.compile(r'<img src="(/executions/[^"]+/chat/charts/[^"]+\.svg)"')


@pytest.fixture
def world(database: Database, make_key: Any) -> World:
    return build_world(database, make_key)


def _htmx(signed: SignedIn, path: str, data: dict[str, str] | None = None) -> httpx.Response:
    headers = {"HX-Request": "true", "X-CSRF-Token": signed.csrf()}
    return signed.client.post(path, data=data or {}, headers=headers)


def _current(database: Database, world: World) -> str | None:
    with database.tenant_transaction(world.tenant) as conn:
        step: str | None = engine.load_execution(conn, world.execution).row["current_step_id"]
    return step


def _page(signed: SignedIn, world: World, query: str = "") -> str:
    answer = signed.client.get(f"/executions/{world.execution}{query}")
    assert answer.status_code == 200, answer.text
    return answer.text


def _chat(world: World) -> str:
    return f"/executions/{world.execution}/chat"


def test_the_step_shows_its_branches_as_buttons_and_the_box(
    world: World, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager", world.tenant)
    page = _page(signed, world)
    assert 'id="chat-title">Step chat</h3>' in page
    for label in ("Let&#39;s do it", "Snooze 7 days", "Escalate", "Ask a question"):
        assert f">{label}" in page, label
    # the skip asks for its reason before it runs
    assert "<summary>Skip</summary>" in page
    assert 'name="reason" rows="2" maxlength="2000" required' in page
    assert f'action="{_chat(world)}/messages"' in page
    assert "This step answers: Let&#39;s do it · Proceed · Snooze." in page
    assert "Anything else goes to the AI assistant." in page
    assert KEY.search(page)


def test_a_fixed_branch_answers_and_moves_the_step(
    world: World, database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager", world.tenant)
    page = _page(signed, world)
    key = KEY.search(page)
    assert key
    form = {"csrf": signed.csrf(), "step_id": "assess", "key": key.group(1)}
    answer = signed.client.post(f"{_chat(world)}/branches/go", data=form)
    assert answer.status_code == 303, answer.text
    assert _current(database, world) == "close"
    # a double submission of the same form runs it once, and lands on the same answer
    again = signed.client.post(f"{_chat(world)}/branches/go", data=form)
    assert again.status_code == 303
    assert again.headers["location"] == answer.headers["location"]
    with database.tenant_transaction(world.tenant) as conn:
        history = engine.step_history(conn, world.execution)
    assert [e["step_id"] for e in history] == ["assess"]
    shown = signed.client.get(answer.headers["location"]).text
    assert 'id="chat-exchange"' in shown
    assert "Great! Let&#39;s renew Initech" in shown
    assert "Assess is done; next: Close." in shown


def test_a_saved_action_runs_and_a_skip_needs_its_reason(
    world: World, database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager", world.tenant)
    snoozed = _htmx(signed, f"{_chat(world)}/branches/snooze", {"step_id": "assess"})
    assert snoozed.status_code == 200, snoozed.text
    assert 'id="chat-exchange"' in snoozed.text
    assert "snoozed" in snoozed.text.lower()
    assert "The execution returned to Assess." in snoozed.text
    with database.tenant_transaction(world.tenant) as conn:
        task = conn.execute(
            "SELECT status FROM workflow_tasks WHERE id = %s", (world.task,)
        ).fetchone()
    assert task is not None
    assert task["status"] == "snoozed"

    # without a reason, the skip is refused next to its field, and nothing moves
    refused = _htmx(signed, f"{_chat(world)}/branches/skip", {"step_id": "assess", "reason": " "})
    assert refused.status_code == 200  # htmx swaps only 200s: the error is in the page
    assert "a reason is required" in refused.text
    assert '<details class="chat-skip" open>' in refused.text
    assert _current(database, world) == "assess"
    plain = signed.post(f"{_chat(world)}/branches/skip", {"step_id": "assess"})
    assert plain.status_code == 422
    skipped = _htmx(
        signed, f"{_chat(world)}/branches/skip", {"step_id": "assess", "reason": "Handled by phone"}
    )
    assert skipped.status_code == 200, skipped.text
    assert _current(database, world) == "act"
    with database.tenant_transaction(world.tenant) as conn:
        history = engine.step_history(conn, world.execution)
    assert history[-1]["status"] == "skipped"
    assert history[-1]["skip_reason"] == "Handled by phone"


def test_free_text_is_matched_to_a_branch_or_answered_in_a_thread(
    world: World, database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager", world.tenant)
    # an off-script question opens the llm branch's thread and is answered there
    asked = signed.post(
        f"{_chat(world)}/messages", {"step_id": "assess", "text": "How is their usage going?"}
    )
    assert asked.status_code == 303, asked.text
    assert "?thread=" in asked.headers["location"]
    page = signed.client.get(asked.headers["location"]).text
    assert "How is their usage going?" in page
    assert "database_query tool returned 1 rows" in page
    # the tool's rows as a table
    assert '<table class="chat-table">' in page
    assert '<th scope="col">Metric name</th>' in page
    thread = THREAD.search(page)
    assert thread
    # a follow-up goes to the same thread, and draws a chart
    chart = _htmx(
        signed,
        f"{_chat(world)}/messages",
        {"step_id": "assess", "text": "Show me a chart of it", "thread": thread.group(1)},
    )
    assert chart.status_code == 200, chart.text
    found = CHART.search(chart.text)
    assert found, chart.text
    assert "The chart's numbers" in chart.text
    svg = signed.client.get(found.group(1))
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg")
    same = THREAD.search(chart.text)
    assert same
    assert same.group(1) == thread.group(1)
    with database.tenant_transaction(world.tenant) as conn:
        n = conn.execute("SELECT count(*) AS n FROM workflow_chat_threads").fetchone()
    assert n is not None
    assert n["n"] == 1
    # typed text matching a fixed branch's prompt runs it, case and punctuation aside
    moved = _htmx(signed, f"{_chat(world)}/messages", {"step_id": "assess", "text": "PROCEED!!"})
    assert moved.status_code == 200, moved.text
    assert "Great! Let&#39;s renew" in moved.text
    assert _current(database, world) == "close"


def test_an_answer_streams_as_server_sent_events_on_the_session(
    world: World, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("csm", world.tenant)
    headers = {"Accept": "text/event-stream", "HX-Request": "true", "X-CSRF-Token": signed.csrf()}
    with signed.client.stream(
        "POST",
        f"{_chat(world)}/messages",
        data={"step_id": "assess", "text": "What are the contract terms?"},
        headers=headers,
    ) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        events = []
        for block in answer.read().decode().split("\n\n"):
            if block.strip():
                lines = dict(line.split(": ", 1) for line in block.splitlines())
                events.append((lines["event"], json.loads(lines["data"])))
    kinds = [e for e, _ in events]
    assert kinds[-1] == "message", events
    assert set(kinds[:-1]) == {"delta"}
    streamed = "".join(d["text"] for _, d in events[:-1])
    final = events[-1][1]
    page = signed.client.get(final["page"]).text
    assert "What are the contract terms?" in page
    assert 'id="chat-last"' in page
    assert streamed.split()[0] in page
    # without the CSRF header, the stream is refused and nothing is written
    refused = signed.client.post(
        f"{_chat(world)}/messages",
        data={"step_id": "assess", "text": "Sneaky"},
        headers={"Accept": "text/event-stream"},
    )
    assert refused.status_code == 403


def test_completing_a_thread_returns_to_its_step_and_abandoning_keeps_it(
    world: World, database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager", world.tenant)
    opened = _htmx(signed, f"{_chat(world)}/branches/ask", {"step_id": "assess"})
    assert opened.status_code == 200, opened.text
    thread = THREAD.search(opened.text)
    assert thread
    assert "Completing it returns the execution to Act." in opened.text
    # the branch again shows the same thread, opening no second one
    again = THREAD.search(_htmx(signed, f"{_chat(world)}/branches/ask", {"step_id": "assess"}).text)
    assert again
    assert again.group(1) == thread.group(1)
    abandoned = _htmx(
        signed, f"{_chat(world)}/threads/{thread.group(1)}/end", {"status": "abandoned"}
    )
    assert abandoned.status_code == 200, abandoned.text
    assert "The conversation was abandoned." in abandoned.text
    assert "Earlier conversations on this step (1)" in abandoned.text
    assert _current(database, world) == "assess"

    opened = _htmx(signed, f"{_chat(world)}/branches/ask", {"step_id": "assess"})
    second = THREAD.search(opened.text)
    assert second
    assert second.group(1) != thread.group(1)
    done = signed.post(f"{_chat(world)}/threads/{second.group(1)}/end", {"status": "completed"})
    assert done.status_code == 303, done.text
    assert _current(database, world) == "act"
    shown = signed.client.get(done.headers["location"]).text
    assert "The conversation was completed." in shown
    assert "The execution returned to Act." in shown
    ended = signed.post(f"{_chat(world)}/threads/{second.group(1)}/end", {"status": "completed"})
    assert ended.status_code == 409
    assert "has already ended" in ended.text


def test_a_step_that_is_no_longer_current_is_a_409_shown_as_a_message(
    world: World, database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager", world.tenant)
    stale = _page(signed, world)  # the page as it was, before the step moved
    assert _htmx(signed, f"{_chat(world)}/branches/go", {"step_id": "assess"}).status_code == 200
    key = KEY.search(stale)
    assert key
    plain = signed.post(
        f"{_chat(world)}/branches/snooze", {"step_id": "assess", "key": key.group(1)}
    )
    assert plain.status_code == 409
    assert "That cannot be done now." in plain.text
    assert "is not the current step" in plain.text
    partial = _htmx(signed, f"{_chat(world)}/messages", {"step_id": "assess", "text": "Hello?"})
    assert partial.status_code == 200
    assert "is not the current step" in partial.text
    assert _current(database, world) == "close"
    # the new current step has no branch that takes free text: refused next to the box
    unanswered = signed.post(f"{_chat(world)}/messages", {"step_id": "close", "text": "Hello?"})
    assert unanswered.status_code == 422
    assert "takes no other questions" in unanswered.text


def test_bad_messages_are_refused_next_to_the_box(
    world: World, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager", world.tenant)
    for text in ("   ", "x" * 8001, "a\x00b"):
        answer = signed.post(f"{_chat(world)}/messages", {"step_id": "assess", "text": text})
        assert answer.status_code == 422, text[:10]
        assert 'id="chat-problem"' in answer.text


def test_another_tenants_execution_thread_and_chart_are_not_found(
    world: World,
    database: Database,
    make_key: Any,
    console_as: Callable[..., SignedIn],
) -> None:
    owner = console_as("manager", world.tenant)
    opened = _htmx(
        owner, f"{_chat(world)}/messages", {"step_id": "assess", "text": "Plot a chart of usage"}
    )
    chart = CHART.search(opened.text)
    thread = THREAD.search(opened.text)
    assert chart
    assert thread
    other_world = build_world(database, make_key)
    other = console_as("admin", other_world.tenant)
    for path in (f"/executions/{world.execution}", chart.group(1)):
        answer = other.client.get(path)
        assert answer.status_code == 404, path
        assert "There is nothing here." in answer.text
    for path, data in (
        (f"{_chat(world)}/branches/go", {"step_id": "assess"}),
        (f"{_chat(world)}/messages", {"step_id": "assess", "text": "Let me in"}),
        (f"{_chat(world)}/threads/{thread.group(1)}/end", {"status": "completed"}),
        # their own execution, the first tenant's thread
        (f"{_chat(other_world)}/threads/{thread.group(1)}/end", {"status": "completed"}),
    ):
        answer = other.post(path, data)
        assert answer.status_code == 404, (path, answer.status_code)
    # a chart of another execution of the same tenant is not this one's
    foreign = chart.group(1).replace(str(world.execution), str(uuid.uuid4()))
    assert owner.client.get(foreign).status_code == 404
    assert _current(database, world) == "assess"
