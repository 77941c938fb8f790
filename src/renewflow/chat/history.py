"""The history a thread sends to its model, fitted to a token budget.

The full history stays in the database; what is sent drops the oldest turns first. A turn is a
user message, or an assistant message with the tool calls it made and their results: a tool call
is never sent without its result (the providers refuse it), nor a result without its call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from renewflow.llm.chat import ChatMessage, ToolCall


def estimate_tokens(text: str) -> int:
    # about four characters per token, as the mock counts
    return (len(text) + 3) // 4


def turn_of(message: Mapping[str, Any]) -> list[ChatMessage]:
    """One stored message as the model's messages: an assistant answer that used tools is its
    tool calls, their results, then its text."""
    role, content = message["role"], message["content"]
    if role == "user":
        return [ChatMessage("user", content)]
    if role != "assistant":
        return []
    metadata = message.get("metadata") or {}
    if message.get("message_type", "text") != "text":
        return []  # a chart message: its tool call already carries it
    out: list[ChatMessage] = []
    for exchange in metadata.get("toolRounds") or []:
        calls = tuple(
            ToolCall(c["id"], c["name"], c.get("arguments"), c.get("rawArguments", ""))
            for c in exchange
        )
        out.append(ChatMessage("assistant", "", tool_calls=calls))
        out.extend(
            ChatMessage("tool", c["result"], tool_call_id=c["id"], is_error=c.get("isError", False))
            for c in exchange
        )
    out.append(ChatMessage("assistant", content))
    return out


def _cost(turn: list[ChatMessage]) -> int:
    total = 0
    for m in turn:
        total += estimate_tokens(m.content) + 4
        for c in m.tool_calls:
            total += estimate_tokens(c.raw_arguments or json.dumps(dict(c.arguments or {}))) + 4
    return total


def fit_history(
    messages: Iterable[Mapping[str, Any]], budget: int, *, reserve: int = 0
) -> list[ChatMessage]:
    """The newest turns whose estimated size fits `budget - reserve`, oldest dropped first; the
    newest turn is always kept (the question being asked). A history that would start with an
    assistant turn starts at the next user turn instead."""
    turns = [t for t in (turn_of(m) for m in messages) if t]
    room = max(budget - reserve, 0)
    kept: list[list[ChatMessage]] = []
    used = 0
    for turn in reversed(turns):
        cost = _cost(turn)
        if kept and used + cost > room:
            break
        kept.append(turn)
        used += cost
    kept.reverse()
    while len(kept) > 1 and kept[0][0].role != "user":
        kept.pop(0)
    return [m for turn in kept for m in turn]
