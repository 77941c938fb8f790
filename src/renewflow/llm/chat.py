"""Multi-turn chat with tools, over the same providers as single completions.

`chat(provider, request, on_delta=...)` sends a conversation (system, user, assistant and tool
messages) with the tools it may call, and returns the assistant's turn: text, tool calls, or
both. With `on_delta`, the answer is streamed and each piece of text is passed to it as it
arrives; the returned `ChatResponse` is the whole turn all the same.

Wire formats: OpenAI's `tools` / `tool_calls` / `role: tool` messages, Anthropic's `tool_use` /
`tool_result` content blocks. The mock answers deterministically (`MockProvider.chat`). Errors
are ours (`LLMError` subclasses), as for `complete`; retryable ones are retried by the provider's
`RetryingProvider` policy before any text was streamed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from renewflow.llm._sdk import map_sdk_error
from renewflow.llm.errors import LLMBadResponse, LLMConfigError, LLMError

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
    model: str | None = None
    temperature: float = 0.7
    max_tokens: int = 2000
    timeout: float | None = None
    # for the offline mock only (as LLMRequest.context): never sent to a real provider
    context: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    def prompt_sha256(self) -> str:
        import hashlib

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
        once: Callable[[_Counting], ChatResponse] = lambda d: inner.chat(  # noqa: E731
            request, d if d.active else None
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
            if (
                policy is None
                or not error.retryable
                or streamed.sent
                or attempt > policy.max_retries
            ):
                raise
            time.sleep(min(policy.delay(attempt - 1, error), policy.max_retry_after))
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
                            "function": {
                                "name": c.name,
                                "arguments": c.raw_arguments or json.dumps(dict(c.arguments or {})),
                            },
                        }
                        for c in m.tool_calls
                    ],
                }
            )
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def _openai(provider: Any, request: ChatRequest, delta: _Counting) -> ChatResponse:
    sdk = provider._sdk
    params: dict[str, Any] = {
        "model": request.model or provider.default_model,
        "messages": _openai_messages(request),
        "temperature": request.temperature,
        provider._tokens_param: request.max_tokens,
        "timeout": request.timeout if request.timeout is not None else provider._timeout,
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
    started = time.perf_counter()
    try:
        if delta.active:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
            return _openai_stream(
                provider,
                provider._client.chat.completions.create(**params),
                params["model"],
                delta,
                started,
            )
        completion = provider._client.chat.completions.create(**params)
    except sdk.OpenAIError as error:
        raise map_sdk_error(error, provider.name) from None
    usage = getattr(completion, "usage", None)
    if not completion.choices:
        raise LLMBadResponse(f"{provider.name}: the answer has no choices", provider=provider.name)
    choice = completion.choices[0]
    calls = tuple(
        ToolCall(
            id=c.id,
            name=c.function.name,
            arguments=_arguments(c.function.arguments or ""),
            raw_arguments=c.function.arguments or "",
        )
        for c in (choice.message.tool_calls or [])
    )
    text = choice.message.content or ""
    if not text and not calls:
        raise LLMBadResponse(f"{provider.name}: the answer has no content", provider=provider.name)
    return ChatResponse(
        text=text,
        tool_calls=calls,
        model=completion.model or params["model"],
        input_tokens=getattr(usage, "prompt_tokens", None),
        output_tokens=getattr(usage, "completion_tokens", None),
        latency_ms=round((time.perf_counter() - started) * 1000),
        finish_reason=choice.finish_reason,
        provider=provider.name,
    )


def _openai_stream(
    provider: Any, stream: Any, model: str, delta: _Counting, started: float
) -> ChatResponse:
    sdk = provider._sdk
    text: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    finish: str | None = None
    usage: Any = None
    answered_model = model
    try:
        for chunk in stream:
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
                for c in piece.tool_calls or []:
                    slot = calls.setdefault(c.index, {"id": "", "name": "", "arguments": ""})
                    if c.id:
                        slot["id"] = c.id
                    if c.function is not None:
                        slot["name"] += c.function.name or ""
                        slot["arguments"] += c.function.arguments or ""
    except sdk.OpenAIError as error:
        raise map_sdk_error(error, provider.name) from None
    tool_calls = tuple(
        ToolCall(s["id"], s["name"], _arguments(s["arguments"]), s["arguments"])
        for _, s in sorted(calls.items())
    )
    if not text and not tool_calls:
        raise LLMBadResponse(f"{provider.name}: the answer has no content", provider=provider.name)
    return ChatResponse(
        text="".join(text),
        tool_calls=tool_calls,
        model=answered_model,
        input_tokens=getattr(usage, "prompt_tokens", None),
        output_tokens=getattr(usage, "completion_tokens", None),
        latency_ms=round((time.perf_counter() - started) * 1000),
        finish_reason=finish,
        provider=provider.name,
    )


# -- Anthropic -----------------------------------------------------------------------------------


def _anthropic_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """Anthropic's turns: tool results are user content blocks, consecutive ones merged into one
    user turn (the API wants the roles to alternate)."""
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
            if m.content:
                blocks.append({"type": "text", "text": m.content})
            blocks.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": dict(c.arguments or {})}
                for c in m.tool_calls
            )
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def _anthropic(provider: Any, request: ChatRequest, delta: _Counting) -> ChatResponse:
    sdk = provider._sdk
    params: dict[str, Any] = {
        "model": request.model or provider.default_model,
        "max_tokens": request.max_tokens,
        "messages": _anthropic_messages(request),
        "timeout": request.timeout if request.timeout is not None else provider._timeout,
    }
    if request.system:
        params["system"] = request.system
    if request.tools:
        params["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
            for t in request.tools
        ]
    started = time.perf_counter()
    try:
        if delta.active:
            params["stream"] = True
            return _anthropic_stream(
                provider,
                provider._client.messages.create(**params),
                params["model"],
                delta,
                started,
            )
        message = provider._client.messages.create(**params)
    except sdk.AnthropicError as error:
        raise map_sdk_error(error, provider.name) from None
    usage = getattr(message, "usage", None)
    texts = [b.text for b in message.content if b.type == "text"]
    calls = tuple(
        ToolCall(b.id, b.name, b.input if isinstance(b.input, dict) else None, json.dumps(b.input))
        for b in message.content
        if b.type == "tool_use"
    )
    if not texts and not calls:
        raise LLMBadResponse(f"{provider.name}: the answer has no text", provider=provider.name)
    return ChatResponse(
        text="".join(texts),
        tool_calls=calls,
        model=message.model or params["model"],
        input_tokens=getattr(usage, "input_tokens", None),
        output_tokens=getattr(usage, "output_tokens", None),
        latency_ms=round((time.perf_counter() - started) * 1000),
        finish_reason=message.stop_reason,
        provider=provider.name,
    )


def _anthropic_stream(
    provider: Any, stream: Any, model: str, delta: _Counting, started: float
) -> ChatResponse:
    sdk = provider._sdk
    text: list[str] = []
    blocks: dict[int, dict[str, str]] = {}
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop: str | None = None
    answered_model = model
    try:
        for event in stream:
            kind = event.type
            if kind == "message_start":
                answered_model = event.message.model or answered_model
                input_tokens = getattr(event.message.usage, "input_tokens", None)
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
                output_tokens = getattr(event.usage, "output_tokens", output_tokens)
    except sdk.AnthropicError as error:
        raise map_sdk_error(error, provider.name) from None
    calls = tuple(
        ToolCall(b["id"], b["name"], _arguments(b["json"]), b["json"])
        for _, b in sorted(blocks.items())
    )
    if not text and not calls:
        raise LLMBadResponse(f"{provider.name}: the answer has no text", provider=provider.name)
    return ChatResponse(
        text="".join(text),
        tool_calls=calls,
        model=answered_model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        latency_ms=round((time.perf_counter() - started) * 1000),
        finish_reason=stop,
        provider=provider.name,
    )
