"""Local fakes of OpenAI's Chat Completions and Anthropic's Messages with tools and streaming,
for the official SDKs to talk to, on the scripted loopback server of tests/llm/wire.py.

A script is a list of assistant turns::

    with ChatFake("anthropic") as fake:
        fake.script(
            use("database_query", {"query": "usage"}),   # first turn: a tool call
            say("They have 42 active users [1]."),       # then text
        )

Each turn answers a plain request with the provider's JSON and a streamed one (`stream: true`)
with its Server-Sent Events: OpenAI's `chat.completion.chunk`s (text and `tool_calls` deltas, the
finish reason, a last chunk with the usage when `stream_options.include_usage` asks for it, then
`[DONE]`), Anthropic's message_start, content_block_start/delta/stop (`text_delta`,
`input_json_delta`), message_delta with the usage and message_stop. Before answering, a turn
checks the conversation as the real API does (a tool call answered by its result in the next
message, tools declared when the history holds tool blocks...) and answers 400 with the API's
kind of message when it is wrong, so a test sees what the provider would refuse.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.llm.wire import Received, Reply, WireServer

KEY_ENV = "RENEWFLOW_TEST_CHAT_KEY"
MODELS = {
    "openai": "gpt-4o-mini-2024-07-18",
    "anthropic": "claude-haiku-4-5-20251001",
    "openai-compatible": "llama3.1:8b",
}
PATHS = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "openai-compatible": "/v1/chat/completions",
}


@dataclass(frozen=True)
class Turn:
    """One assistant turn: text, tool calls (name and arguments; a string is sent as the raw
    arguments, JSON or not), or both; and the usage it reports."""

    text: str = ""
    calls: tuple[tuple[str, dict[str, Any] | str], ...] = ()
    input_tokens: int = 200
    output_tokens: int = 40


def say(text: str, *, input_tokens: int = 200, output_tokens: int = 40) -> Turn:
    return Turn(text, (), input_tokens, output_tokens)


def use(
    name: str,
    arguments: dict[str, Any] | str,
    *more: tuple[str, dict[str, Any] | str],
    text: str = "",
    input_tokens: int = 200,
    output_tokens: int = 40,
) -> Turn:
    """A turn calling `name` with `arguments` (and the `more` calls after it)."""
    return Turn(text, ((name, arguments), *more), input_tokens, output_tokens)


class Refused(Exception):
    """The request is one the real API refuses (HTTP 400, with this message)."""


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _sse(data: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


@dataclass
class ChatFake:
    """A fake `provider` server ("openai", "anthropic" or "openai-compatible"); a context
    manager. `event_delay` spaces a streamed answer's events; `requests` are the bodies it got."""

    provider: str
    model: str = ""
    event_delay: float = 0.0
    server: WireServer = field(default_factory=WireServer)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.model = self.model or MODELS[self.provider]

    def __enter__(self) -> ChatFake:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def anthropic(self) -> bool:
        return self.provider == "anthropic"

    @property
    def url(self) -> str:
        return self.server.url if self.anthropic else f"{self.server.url}/v1"

    @property
    def requests(self) -> list[Any]:
        return [r.body for r in self.server.received]

    def llm_settings(self, **overrides: Any) -> dict[str, Any]:
        """A tenant's `settings.llm` for this server (the key in the KEY_ENV variable)."""
        values: dict[str, Any] = {
            "provider": self.provider,
            "base_url": self.url,
            "model": self.model,
            "max_retries": 1,
            "backoff_base": 0.01,
            "backoff_max": 0.02,
            "timeout": 10,
        }
        if self.provider != "openai-compatible":
            values["api_key_env"] = KEY_ENV
        return values | overrides

    def script(self, *turns: Turn | Reply) -> None:
        self.server.script(*(t if isinstance(t, Reply) else self._answer(t) for t in turns))

    def _answer(self, turn: Turn) -> Callable[[Received], Reply]:
        def reply(received: Received) -> Reply:
            body = received.body
            try:
                if received.path != PATHS[self.provider]:
                    raise Refused(f"unknown path {received.path}")
                (check_anthropic if self.anthropic else check_openai)(body)
            except Refused as refused:
                return self._refusal(str(refused))
            n = next(self._ids)
            if self.anthropic:
                events = anthropic_events(turn, self.model, n)
                return (
                    Reply(events=events, event_delay=self.event_delay)
                    if body.get("stream")
                    else Reply(200, anthropic_message(turn, self.model, n))
                )
            if body.get("stream"):
                usage = (body.get("stream_options") or {}).get("include_usage", False)
                return Reply(
                    events=openai_chunks(turn, self.model, n, usage),
                    event_delay=self.event_delay,
                )
            return Reply(200, openai_completion(turn, self.model, n))

        return reply

    def _refusal(self, message: str) -> Reply:
        if self.anthropic:
            error = {"type": "invalid_request_error", "message": message}
            return Reply(400, {"type": "error", "error": error})
        return Reply(
            400, {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        )


# -- OpenAI --------------------------------------------------------------------------------------


def _arguments(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def openai_completion(turn: Turn, model: str, n: int) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": turn.text or None,
        "refusal": None,
    }
    if turn.calls:
        message["tool_calls"] = [
            {
                "id": f"call_{n}_{i}",
                "type": "function",
                "function": {"name": name, "arguments": _arguments(arguments)},
            }
            for i, (name, arguments) in enumerate(turn.calls)
        ]
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1_767_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if turn.calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": turn.input_tokens,
            "completion_tokens": turn.output_tokens,
            "total_tokens": turn.input_tokens + turn.output_tokens,
        },
    }


def openai_chunks(turn: Turn, model: str, n: int, include_usage: bool) -> list[str]:
    def chunk(delta: dict[str, Any] | None, finish: str | None = None) -> str:
        body: dict[str, Any] = {
            "id": f"chatcmpl-{n}",
            "object": "chat.completion.chunk",
            "created": 1_767_000_000,
            "model": model,
            "choices": (
                []
                if delta is None
                else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
            ),
        }
        if include_usage:
            body["usage"] = None
        return _sse(body)

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    if turn.text:
        events.extend(chunk({"content": piece}) for piece in _pieces(turn.text))
    for i, (name, arguments) in enumerate(turn.calls):
        start = {
            "index": i,
            "id": f"call_{n}_{i}",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        events.append(chunk({"tool_calls": [start]}))
        events.extend(
            chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
            for piece in _pieces(_arguments(arguments), 5)
        )
    events.append(chunk({}, "tool_calls" if turn.calls else "stop"))
    if include_usage:
        usage = {
            "prompt_tokens": turn.input_tokens,
            "completion_tokens": turn.output_tokens,
            "total_tokens": turn.input_tokens + turn.output_tokens,
        }
        last = json.loads(chunk(None)[len("data: ") :])
        events.append(_sse(last | {"usage": usage}))
    events.append(_sse("[DONE]"))
    return events


def check_openai(body: Any) -> None:
    """What Chat Completions refuses of a conversation with tools."""
    if not isinstance(body, dict) or not body.get("messages"):
        raise Refused("'messages' is required")
    tools = body.get("tools")
    if "tool_choice" in body and not tools:
        raise Refused("'tool_choice' is only allowed when 'tools' are specified.")
    if "stream_options" in body and not body.get("stream"):
        raise Refused("The 'stream_options' parameter is only allowed when 'stream' is enabled.")
    for tool in tools or []:
        function = tool.get("function") or {}
        if tool.get("type") != "function" or not function.get("name"):
            raise Refused("tools: each tool needs type 'function' and a function name")
        if (function.get("parameters") or {}).get("type") != "object":
            raise Refused(f"Invalid schema for function '{function.get('name')}'")
    pending: set[str] = set()
    for i, message in enumerate(body["messages"]):
        role = message.get("role")
        if role == "tool":
            if message.get("tool_call_id") not in pending:
                raise Refused(
                    f"messages.[{i}]: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'."
                )
            pending.discard(message["tool_call_id"])
            continue
        if pending:
            raise Refused(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(sorted(pending))}"
            )
        if role == "assistant" and message.get("tool_calls"):
            pending = {c["id"] for c in message["tool_calls"]}
        elif role not in ("system", "user", "assistant"):
            raise Refused(f"messages.[{i}].role: unknown role {role!r}")
    if pending:
        raise Refused("the conversation ends with tool calls that have no results")


# -- Anthropic -----------------------------------------------------------------------------------


def _content(turn: Turn, n: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if turn.text:
        blocks.append({"type": "text", "text": turn.text})
    for i, (name, arguments) in enumerate(turn.calls):
        if not isinstance(arguments, dict):
            raise ValueError("an Anthropic tool_use input is an object")
        blocks.append(
            {"type": "tool_use", "id": f"toolu_{n}_{i}", "name": name, "input": arguments}
        )
    return blocks


def anthropic_message(turn: Turn, model: str, n: int) -> dict[str, Any]:
    return {
        "id": f"msg_{n}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content(turn, n),
        "stop_reason": "tool_use" if turn.calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": turn.input_tokens, "output_tokens": turn.output_tokens},
    }


def anthropic_events(turn: Turn, model: str, n: int) -> list[str]:
    start = anthropic_message(turn, model, n) | {
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": turn.input_tokens, "output_tokens": 1},
    }
    events = [
        _sse({"type": "message_start", "message": start}, "message_start"),
        _sse({"type": "ping"}, "ping"),
    ]
    for index, block in enumerate(_content(turn, n)):
        if block["type"] == "text":
            opening = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in _pieces(block["text"])]
        else:
            opening = block | {"input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": p}
                for p in ["", *_pieces(json.dumps(block["input"]), 5)]
            ]
        events.append(
            _sse(
                {"type": "content_block_start", "index": index, "content_block": opening},
                "content_block_start",
            )
        )
        events.extend(
            _sse({"type": "content_block_delta", "index": index, "delta": d}, "content_block_delta")
            for d in deltas
        )
        events.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    events.append(
        _sse(
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": "tool_use" if turn.calls else "end_turn",
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": turn.output_tokens},
            },
            "message_delta",
        )
    )
    events.append(_sse({"type": "message_stop"}, "message_stop"))
    return events


def check_anthropic(body: Any) -> None:
    """What the Messages API refuses of a conversation with tools."""
    if not isinstance(body, dict) or not isinstance(body.get("max_tokens"), int):
        raise Refused("max_tokens: Field required")
    messages = body.get("messages") or []
    if not messages or messages[0].get("role") != "user":
        raise Refused('messages: first message must use the "user" role')
    tools = body.get("tools")
    if "tool_choice" in body and not tools:
        raise Refused("tool_choice may only be specified while providing tools.")
    for tool in tools or []:
        if (tool.get("input_schema") or {}).get("type") != "object":
            raise Refused(f"tools: input_schema of {tool.get('name')!r} must be of type object")
    blocks_used = False
    pending: set[str] = set()
    for i, message in enumerate(messages):
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        if not blocks:
            raise Refused(f"messages.{i}: all messages must have non-empty content")
        for block in blocks:
            if block.get("type") == "text" and not str(block.get("text", "")).strip():
                raise Refused(f"messages.{i}: text content blocks must be non-empty")
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        if pending:
            missing = pending - set(results)
            if message.get("role") != "user" or missing:
                raise Refused(
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(sorted(missing or pending))}. Each `tool_use` "
                    "block must have a corresponding `tool_result` block in the next message."
                )
        unexpected = set(results) - pending
        if unexpected:
            raise Refused(
                f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{', '.join(sorted(map(str, unexpected)))}. Each `tool_result` block must have "
                "a corresponding `tool_use` block in the previous message."
            )
        kinds = [b.get("type") for b in blocks]
        if results and kinds[: len(results)] != ["tool_result"] * len(results):
            raise Refused(f"messages.{i}: tool_result blocks must come first in the content")
        pending = set()
        if message.get("role") == "assistant":
            pending = {b["id"] for b in blocks if b.get("type") == "tool_use"}
        blocks_used = blocks_used or bool(pending) or bool(results)
    if blocks_used and not tools:
        raise Refused(
            "Requests which include `tool_use` or `tool_result` blocks must define tools."
        )
    if pending:
        raise Refused("the conversation ends with tool_use blocks that have no results")
