"""LLM threads with the mock provider: turns, tools, streaming, counters, ending, isolation."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from renewflow import chat
from renewflow.db import Database
from tests.chat.conftest import World, build_world


def open_thread(client: httpx.Client, world: World, branch: str = "ask") -> str:
    ran = client.post(f"{world.base}/branches/{branch}/run", json={}, headers=world.headers)
    assert ran.status_code == 200, ran.text
    thread_id: str = ran.json()["threadId"]
    return thread_id


def post(client: httpx.Client, world: World, thread: str, content: str) -> httpx.Response:
    return client.post(
        f"/api/chat/threads/{thread}/messages", json={"content": content}, headers=world.headers
    )


def test_several_turns_with_tools(client: httpx.Client, world: World) -> None:
    thread = open_thread(client, world)
    first = post(client, world, thread, "How is their usage going?")
    assert first.status_code == 200, first.text
    body = first.json()
    assert "database_query tool returned 1 rows" in body["message"]["content"]
    assert body["toolCalls"][0]["tool"] == "database_query"
    second = post(client, world, thread, "Show me a chart of it")
    assert second.status_code == 200, second.text
    assert second.json()["charts"][0]["messageType"] == "chart"
    chart_id = second.json()["charts"][0]["id"]
    svg = client.get(f"/api/chat/charts/{chart_id}.svg", headers=world.headers)
    assert svg.status_code == 200
    assert svg.text.startswith("<svg")
    third = post(client, world, thread, "Thanks, anything else?")
    assert third.status_code == 200, third.text
    got = client.get(f"/api/chat/threads/{thread}", headers=world.headers).json()
    assert [m["sequenceNumber"] for m in got["messages"]] == list(range(1, 8))
    assert got["totalMessages"] == 7
    assert got["totalTokens"] == sum(m["tokensUsed"] or 0 for m in got["messages"])
    assert got["context"]["totalTokensUsed"] == got["totalTokens"]
    assert "Initech" in got["context"]["systemPrompt"]
    assert [c["tool"] for c in got["toolCalls"]] == ["database_query", "create_chart"]


def test_refused_tool_calls_are_logged_and_returned_to_the_model(
    client: httpx.Client, world: World
) -> None:
    thread = open_thread(client, world)
    cases = [
        ("[[tool:drop_tables {}]]", "unknown tool"),
        ('[[tool:rag_search {"query": "x"}]]', "not available"),
        ('[[tool:database_query {"query": "SELECT * FROM users"}]]', "query must be one of"),
        ("[[tool:create_chart [1, 2]]]", "must be a JSON object"),
    ]
    for content, why in cases:
        answer = post(client, world, thread, content)
        assert answer.status_code == 200, answer.text
        [call] = answer.json()["toolCalls"]
        assert call["success"] is False, call
        assert why in call["error"], call
        assert "tool failed" in answer.json()["message"]["content"]


def test_a_streamed_answer_is_deltas_then_the_stored_message(
    client: httpx.Client, world: World
) -> None:
    thread = open_thread(client, world)
    headers = {**world.headers, "Accept": "text/event-stream"}
    with client.stream(
        "POST",
        f"/api/chat/threads/{thread}/messages",
        json={"content": "What are the contract terms?"},
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
    assert kinds[-1] == "message"
    assert set(kinds[:-1]) == {"delta"}
    final = events[-1][1]
    text = "".join(d["text"] for _, d in events[:-1])
    assert text == final["message"]["content"]
    got = client.get(f"/api/chat/threads/{thread}", headers=world.headers).json()
    assert got["messages"][-1]["id"] == final["message"]["id"]
    assert final["tokens"]["output"] > 0


def test_counters_stay_exact_under_twenty_concurrent_posters(
    client: httpx.Client, world: World, database: Database
) -> None:
    thread = open_thread(client, world)

    def one(n: int) -> int:
        with httpx.Client(base_url=str(client.base_url), timeout=30) as own:
            return post(own, world, thread, f"Question number {n}?").status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(one, range(20)))
    assert statuses == [200] * 20
    with database.tenant_transaction(world.tenant) as conn:
        row = conn.execute(
            """SELECT t.total_messages, t.total_tokens, c.total_tokens_used,
                      (SELECT count(*) FROM workflow_chat_messages m WHERE m.thread_id = t.id) AS n,
                      (SELECT coalesce(sum(tokens_used), 0) FROM workflow_chat_messages m
                        WHERE m.thread_id = t.id) AS tokens,
                      (SELECT array_agg(sequence_number ORDER BY sequence_number)
                         FROM workflow_chat_messages m WHERE m.thread_id = t.id) AS seqs
               FROM workflow_chat_threads t JOIN workflow_llm_context c ON c.thread_id = t.id
               WHERE t.id = %s""",
            (thread,),
        ).fetchone()
    assert row is not None
    assert row["n"] == row["total_messages"] == 40
    assert row["seqs"] == list(range(1, 41))
    assert row["tokens"] == row["total_tokens"] == row["total_tokens_used"]


def test_completing_returns_to_the_step_and_closes_the_thread(
    client: httpx.Client, world: World
) -> None:
    thread = open_thread(client, world)
    done = client.post(f"/api/chat/threads/{thread}/complete", json={}, headers=world.headers)
    assert done.status_code == 200, done.text
    assert done.json()["returnedToStep"] == "act"
    state = client.get(f"/api/workflows/executions/{world.execution}", headers=world.headers)
    assert state.json()["currentStepId"] == "act"
    closed = post(client, world, thread, "One more thing")
    assert closed.status_code == 409
    again = client.post(f"/api/chat/threads/{thread}/complete", json={}, headers=world.headers)
    assert again.status_code == 409


def test_bad_messages_are_422_naming_the_field(client: httpx.Client, world: World) -> None:
    thread = open_thread(client, world)
    for content in ("", "x" * 8001):
        bad = post(client, world, thread, content)
        assert bad.status_code == 422, bad.text
        assert bad.json()["errors"][0]["field"] == "body.content"
    nul = client.post(
        f"/api/chat/threads/{thread}/messages",
        content=b'{"content": "a\\u0000b"}',
        headers={**world.headers, "Content-Type": "application/json"},
    )
    assert nul.status_code == 422
    got = client.get(f"/api/chat/threads/{thread}", headers=world.headers).json()
    assert got["totalMessages"] == 0  # nothing half-written


def test_another_tenants_thread_is_not_found_through_the_api_and_in_sql(
    client: httpx.Client, world: World, database: Database, make_key: Any
) -> None:
    thread = open_thread(client, world)
    assert post(client, world, thread, "How is their usage?").status_code == 200
    other = build_world(database, make_key)
    for method, path in (
        ("GET", f"/api/chat/threads/{thread}"),
        ("POST", f"/api/chat/threads/{thread}/complete"),
    ):
        answer = client.request(method, path, headers=other.headers, json={})
        assert answer.status_code == 404, (path, answer.text)
    assert post(client, other, thread, "Let me in").status_code == 404
    with database.tenant_transaction(other.tenant) as conn:
        for table in ("workflow_chat_threads", "workflow_chat_messages", "workflow_llm_tool_calls"):
            column = "id" if table == "workflow_chat_threads" else "thread_id"
            seen = conn.execute(
                f"SELECT count(*) AS n FROM {table} WHERE {column} = %s",
                (thread,),
            ).fetchone()
            assert seen is not None
            assert seen["n"] == 0, table


def test_history_keeps_a_tool_call_with_its_result() -> None:
    from datetime import datetime

    def message(n: int, role: str, content: str, rounds: Any = None) -> dict[str, Any]:
        return {
            "role": role,
            "content": content,
            "message_type": "text",
            "metadata": {"toolRounds": rounds} if rounds else None,
            "sequence_number": n,
            "created_at": datetime.now(),
        }

    rounds = [[{"id": "c1", "name": "database_query", "arguments": {}, "result": "x" * 400}]]
    stored = [
        message(1, "user", "old question " * 50),
        message(2, "assistant", "answer", rounds),
        message(3, "user", "new question"),
    ]
    fitted = chat.history.fit_history(stored, 200)
    assert [m.role for m in fitted] == ["user"]  # the old turn went whole, tool call and all
    fitted = chat.history.fit_history(stored, 10_000)
    assert [m.role for m in fitted] == ["user", "assistant", "tool", "assistant", "user"]


def test_citations_not_retrieved_are_removed() -> None:
    text = "ROI is 3x [1] and churn is low [4][2]."
    assert chat.keep_retrieved_citations(text, {1, 2}) == "ROI is 3x [1] and churn is low[2]."
