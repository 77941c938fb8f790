"""Multi-turn chat with tools, over the same providers as single completions.

`chat(provider, request, on_delta=...)` sends a conversation (system, user, assistant and tool
messages) with the tools it may call, and returns the assistant's turn: text, tool calls, or
both. With `on_delta`, the answer is streamed and each piece of text is passed to it as it
arrives; the returned `ChatResponse` is the whole turn all the same.

Wire formats: OpenAI's `tools` / `tool_calls` / `role: tool` messages (streamed: `tool_calls`
deltas, and a last chunk with the usage, asked for with `stream_options.include_usage`),
Anthropic's `tool_use` / `tool_result` content blocks (streamed: `input_json_delta`s, the usage in
`message_start` and `message_delta`). The providers' `create_chat` / `create_message` make the
call and map the SDKs' errors. The mock answers deterministically (`MockProvider.chat`). Errors
are ours (`LLMError` subclasses), as for `complete`; retryable ones are retried by the provider's
`RetryingProvider` policy as long as no text of the attempt was streamed.

`tool_choice="none"` asks for an answer without tool calls while still declaring the tools:
Anthropic refuses a conversation holding `tool_use` blocks without its `tools`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from renewflow.llm.errors import LLMBadResponse, LLMConfigError, LLMError, LLMRateLimited

Role = Literal["user", "assistant", "tool"]
OnDelta = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: Mapping[str, Any]  # a JSON Schema of type object


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model asked for. `arguments` is None when the model's arguments were not
    a JSON object (`raw_arguments` keeps what it sent)."""

    id: str
    name: str
    arguments: Mapping[str, Any] | None
    raw_arguments: str = ""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the conversation: `tool_calls` on an assistant message, `tool_call_id`
    (and `is_error`) on a tool result."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: Sequence[ChatMessage]
    system: str = ""
    tools: Sequence[ToolSpec] = ()
    # "none": the tools are declared (the history may hold calls of them) but not to be called
    tool_choice: Literal["auto", "none"] = "auto"
    model: str | None = None
    temperature: float = 0.7
    max_tokens: int = 2000
    timeout: float | None = None
    # for the offline mock only (as LLMRequest.context): never sent to a real provider
    context: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    def prompt_sha256(self) -> str:
        payload = json.dumps(
            [self.system, [(m.role, m.content, m.tool_call_id) for m in self.messages]],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ChatResponse:
    text: str
    tool_calls: tuple[ToolCall, ...]
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: int = 0
    finish_reason: str | None = None
    provider: str = ""
    attempts: int = 1


def chat(provider: Any, request: ChatRequest, on_delta: OnDelta | None = None) -> ChatResponse:
    """The assistant's next turn from `provider` (any `LLMProvider` of this package)."""
    from renewflow.llm.anthropic_provider import AnthropicProvider
    from renewflow.llm.mock import MockProvider
    from renewflow.llm.openai_provider import OpenAIProvider
    from renewflow.llm.retry import RetryingProvider

    policy = None
    inner = provider
    if isinstance(provider, RetryingProvider):
        policy, inner = provider.policy, provider.inner
    if isinstance(inner, MockProvider):
        # the mock calls whichever tools it is offered: offer none when none may be called
        offered = replace(request, tools=()) if request.tool_choice == "none" else request
        once: Callable[[_Counting], ChatResponse] = lambda d: inner.chat(  # noqa: E731
            offered, d if d.active else None
        )
    elif isinstance(inner, AnthropicProvider):
        once = lambda d: _anthropic(inner, request, d)  # noqa: E731
    elif isinstance(inner, OpenAIProvider):
        once = lambda d: _openai(inner, request, d)  # noqa: E731
    else:
        raise LLMConfigError(f"{getattr(provider, 'name', provider)!r} cannot chat")
    attempt = 0
    started = time.perf_counter()
    while True:
        attempt += 1
        streamed = _Counting(on_delta)
        try:
            response = once(streamed)
        except LLMError as error:
            error.attempts = attempt
            # as RetryingProvider.complete, and never once the caller has seen text
            if (
                policy is None
                or not error.retryable
                or streamed.sent
                or attempt > policy.max_retries
                or (
                    isinstance(error, LLMRateLimited)
                    and error.retry_after is not None
                    and error.retry_after > policy.max_retry_after
                )
            ):
                raise
            time.sleep(policy.delay(attempt - 1, error))
            continue
        elapsed = round((time.perf_counter() - started) * 1000)
        return ChatResponse(
            text=response.text,
            tool_calls=response.tool_calls,
            model=response.model,
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
            latency_ms=max(elapsed, response.latency_ms),
            finish_reason=response.finish_reason,
            provider=response.provider,
            attempts=attempt,
        )


class _Counting:
    """Passes deltas on, remembering whether any was sent (a streamed attempt is not retried)."""

    def __init__(self, on_delta: OnDelta | None) -> None:
        self._on_delta = on_delta
        self.sent = False

    @property
    def active(self) -> bool:
        return self._on_delta is not None

    def __call__(self, text: str) -> None:
        if text and self._on_delta is not None:
            self.sent = True
            self._on_delta(text)


def _arguments(raw: str) -> Mapping[str, Any] | None:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


# -- OpenAI --------------------------------------------------------------------------------------


def _openai_messages(request: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for m in request.messages:
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        elif m.role == "assistant" and m.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    "content": m.content or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": _raw(c)},
                        }
                        for c in m.tool_calls
                    ],
                }
            )
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def _raw(call: ToolCall) -> str:
    return call.raw_arguments or json.dumps(dict(call.arguments or {}))


def _openai(provider: Any, request: ChatRequest, delta: _Counting) -> ChatResponse:
    params: dict[str, Any] = {
        "model": request.model or provider.default_model,
        "messages": _openai_messages(request),
        "temperature": request.temperature,
    }
    if request.tools:
        params["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                },
            }
            for t in request.tools
        ]
        params["tool_choice"] = request.tool_choice
    if delta.active:
        params["stream"] = True
        params["stream_options"] = {"include_usage": True}
    started = time.perf_counter()
    answer = provider.create_chat(params, max_tokens=request.max_tokens, timeout=request.timeout)
    if delta.active:
        return _openai_stream(provider.name, answer, params["model"], delta, started)
    usage = getattr(answer, "usage", None)
    if not answer.choices:
        raise LLMBadResponse(f"{provider.name}: the answer has no choices", provider=provider.name)
    choice = answer.choices[0]
    calls = tuple(
        ToolCall(
            id=c.id,
            name=c.function.name,
            arguments=_arguments(c.function.arguments or ""),
            raw_arguments=c.function.arguments or "",
        )
        for c in (choice.message.tool_calls or [])
        if getattr(c, "function", None) is not None
    )
    return _answered(
        provider.name,
        choice.message.content or "",
        calls,
        model=answer.model or params["model"],
        input_tokens=getattr(usage, "prompt_tokens", None),
        output_tokens=getattr(usage, "completion_tokens", None),
        started=started,
        finish_reason=choice.finish_reason,
    )


def _openai_stream(
    name: str, chunks: Iterable[Any], model: str, delta: _Counting, started: float
) -> ChatResponse:
    text: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    finish: str | None = None
    usage: Any = None
    answered_model = model
    for chunk in chunks:
        answered_model = getattr(chunk, "model", None) or answered_model
        if getattr(chunk, "usage", None) is not None:
            usage = chunk.usage
        for choice in chunk.choices or []:
            finish = choice.finish_reason or finish
            piece = choice.delta
            if piece is None:
                continue
            if piece.content:
                text.append(piece.content)
                delta(piece.content)
            # a call's first delta has its id and name, the next ones pieces of its arguments
            for c in piece.tool_calls or []:
                slot = calls.setdefault(c.index, {"id": "", "name": "", "arguments": ""})
                if c.id:
                    slot["id"] = c.id
                if c.function is not None:
                    slot["name"] += c.function.name or ""
                    slot["arguments"] += c.function.arguments or ""
    tool_calls = tuple(
        ToolCall(s["id"], s["name"], _arguments(s["arguments"]), s["arguments"])
        for _, s in sorted(calls.items())
    )
    return _answered(
        name,
        "".join(text),
        tool_calls,
        model=answered_model,
        input_tokens=getattr(usage, "prompt_tokens", None),
        output_tokens=getattr(usage, "completion_tokens", None),
        started=started,
        finish_reason=finish,
    )


def _answered(
    name: str,
    text: str,
    calls: tuple[ToolCall, ...],
    *,
    model: str,
    input_tokens: int | None,
    output_tokens: int | None,
    started: float,
    finish_reason: str | None,
) -> ChatResponse:
    """The turn, or LLMBadResponse (with the tokens billed) for one with neither text nor calls."""
    if not text.strip() and not calls:
        raise LLMBadResponse(
            f"{name}: the answer has no content",
            provider=name,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
    return ChatResponse(
        text=text,
        tool_calls=calls,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        latency_ms=round((time.perf_counter() - started) * 1000),
        finish_reason=finish_reason,
        provider=name,
    )


# -- Anthropic -----------------------------------------------------------------------------------


def _anthropic_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """Anthropic's turns: tool results are `tool_result` blocks of a user turn, consecutive ones
    merged into one turn (they must all come in the turn right after their `tool_use`s). An
    assistant message with no text and no calls is left out: the API refuses empty text."""
    out: list[dict[str, Any]] = []
    for m in request.messages:
        if m.role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": m.tool_call_id,
                "content": m.content,
                "is_error": m.is_error,
            }
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif m.role == "assistant" and m.tool_calls:
            blocks: list[dict[str, Any]] = []
            if m.content.strip():
                blocks.append({"type": "text", "text": m.content})
            blocks.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": _input(c)}
                for c in m.tool_calls
            )
            out.append({"role": "assistant", "content": blocks})
        elif m.content.strip():
            out.append({"role": m.role, "content": m.content})
    return out


def _input(call: ToolCall) -> dict[str, Any]:
    """A `tool_use` block's input, which must be an object: arguments that were not one are
    sent as {} (their call was refused, and its result says so)."""
    return dict(call.arguments) if call.arguments is not None else {}


def _anthropic(provider: Any, request: ChatRequest, delta: _Counting) -> ChatResponse:
    params: dict[str, Any] = {
        "model": request.model or provider.default_model,
        "max_tokens": request.max_tokens,
        "messages": _anthropic_messages(request),
    }
    if request.system:
        params["system"] = request.system
    if request.tools:
        params["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
            for t in request.tools
        ]
        params["tool_choice"] = {"type": request.tool_choice}
    if delta.active:
        params["stream"] = True
    started = time.perf_counter()
    answer = provider.create_message(params, timeout=request.timeout)
    if delta.active:
        return _anthropic_stream(provider.name, answer, params["model"], delta, started)
    usage = getattr(answer, "usage", None)
    texts = [b.text for b in answer.content if b.type == "text"]
    calls = tuple(
        ToolCall(b.id, b.name, b.input if isinstance(b.input, dict) else None, json.dumps(b.input))
        for b in answer.content
        if b.type == "tool_use"
    )
    return _answered(
        provider.name,
        "".join(texts),
        calls,
        model=answer.model or params["model"],
        input_tokens=getattr(usage, "input_tokens", None),
        output_tokens=getattr(usage, "output_tokens", None),
        started=started,
        finish_reason=answer.stop_reason,
    )


def _anthropic_stream(
    name: str, events: Iterable[Any], model: str, delta: _Counting, started: float
) -> ChatResponse:
    text: list[str] = []
    blocks: dict[int, dict[str, str]] = {}
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop: str | None = None
    answered_model = model
    for event in events:
        kind = event.type
        if kind == "message_start":
            answered_model = event.message.model or answered_model
            input_tokens = getattr(event.message.usage, "input_tokens", None)
            output_tokens = getattr(event.message.usage, "output_tokens", None)
        elif kind == "content_block_start" and event.content_block.type == "tool_use":
            block = event.content_block
            blocks[event.index] = {"id": block.id, "name": block.name, "json": ""}
        elif kind == "content_block_delta":
            piece = event.delta
            if piece.type == "text_delta":
                text.append(piece.text)
                delta(piece.text)
            elif piece.type == "input_json_delta" and event.index in blocks:
                blocks[event.index]["json"] += piece.partial_json
        elif kind == "message_delta":
            stop = getattr(event.delta, "stop_reason", None) or stop
            # cumulative counts; input_tokens is repeated here by newer API versions
            usage = getattr(event, "usage", None)
            output_tokens = getattr(usage, "output_tokens", None) or output_tokens
            input_tokens = getattr(usage, "input_tokens", None) or input_tokens
    calls = tuple(
        ToolCall(b["id"], b["name"], _arguments(b["json"]), b["json"])
        for _, b in sorted(blocks.items())
    )
    return _answered(
        name,
        "".join(text),
        calls,
        model=answered_model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        started=started,
        finish_reason=stop,
    )
