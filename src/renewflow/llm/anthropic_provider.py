"""Anthropic's Messages API through the official SDK."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from renewflow.llm._sdk import import_sdk, map_sdk_error, mapped_stream
from renewflow.llm.errors import LLMBadResponse
from renewflow.llm.models import LLMRequest, LLMResponse
from renewflow.llm.openai_provider import Tokens, parse_json_answer

_WRAPPED = "value"


class AnthropicProvider:
    """`messages.create`; structured output through one tool, forced with `tool_choice`, whose
    `input_schema` is the request's schema: the tool's input is the answer.

    Anthropic requires a tool's input schema to be an object; any other schema is wrapped as
    `{"value": <schema>}` and unwrapped on return. The SDK's own retries are off (see
    `RetryingProvider`). `temperature` is not sent: SDK 2.x no longer accepts it, as the newest
    models fix their own sampling. See `LLMProvider` for the contract.
    """

    def __init__(
        self,
        *,
        api_key: str,
        default_model: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        name: str = "anthropic",
    ) -> None:
        self._sdk = import_sdk("anthropic", "anthropic")
        self.name = name
        self.default_model = default_model
        self._timeout = timeout
        self._client: Any = self._sdk.Anthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
        )

    def close(self) -> None:
        self._client.close()

    def create_message(self, params: dict[str, Any], *, timeout: float | None = None) -> Any:
        """One `messages.create` call as multi-turn chat (`renewflow.llm.chat`) builds it:
        `params` (model, max_tokens, messages, tools...) plus the timeout (None: the provider's).
        SDK errors are mapped to ours; with `stream: True`, the result is an iterator of events
        whose errors are mapped too."""
        sent = {**params, "timeout": timeout if timeout is not None else self._timeout}
        try:
            answer = self._client.messages.create(**sent)
        except self._sdk.AnthropicError as error:
            raise map_sdk_error(error, self.name) from None
        if sent.get("stream"):
            return mapped_stream(answer, self.name, self._sdk.AnthropicError)
        return answer

    def complete(self, request: LLMRequest) -> LLMResponse:
        params: dict[str, Any] = {
            "model": request.model or self.default_model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": "user", "content": request.prompt}],
            "timeout": request.timeout if request.timeout is not None else self._timeout,
        }
        if request.system:
            params["system"] = request.system
        tool_name = re.sub(r"[^a-zA-Z0-9_-]", "_", request.schema_name)[:64] or "output"
        wrapped = False
        if request.json_schema is not None:
            schema = request.json_schema
            if schema.get("type") != "object":
                schema, wrapped = (
                    {
                        "type": "object",
                        "properties": {_WRAPPED: schema},
                        "required": [_WRAPPED],
                    },
                    True,
                )
            params["tools"] = [
                {
                    "name": tool_name,
                    "description": "Record the answer. Its input is the whole answer.",
                    "input_schema": schema,
                }
            ]
            params["tool_choice"] = {"type": "tool", "name": tool_name}
        started = time.perf_counter()
        try:
            message = self._client.messages.create(**params)
        except self._sdk.AnthropicError as error:
            raise map_sdk_error(error, self.name) from None
        latency_ms = round((time.perf_counter() - started) * 1000)

        usage = getattr(message, "usage", None)
        tokens = Tokens(
            input_tokens=getattr(usage, "input_tokens", None),
            output_tokens=getattr(usage, "output_tokens", None),
        )
        stop_reason = message.stop_reason
        texts = [block.text for block in message.content if block.type == "text"]
        tool_inputs = [
            block.input
            for block in message.content
            if block.type == "tool_use" and block.name == tool_name
        ]
        parsed: Any = None
        if request.json_schema is not None:
            truncated = stop_reason == "max_tokens"
            if tool_inputs and not truncated:
                parsed = tool_inputs[0]
            else:
                # a model that answered in text anyway: accept it if it is the JSON we asked for
                parsed = parse_json_answer("".join(texts), truncated, self.name, tokens)
            if wrapped:
                if not isinstance(parsed, dict) or _WRAPPED not in parsed:
                    raise LLMBadResponse(
                        f"{self.name}: the tool input lacks {_WRAPPED!r}",
                        provider=self.name,
                        raw_text=json.dumps(parsed),
                        **tokens,
                    )
                parsed = parsed[_WRAPPED]
            text = json.dumps(parsed, ensure_ascii=False)
        else:
            if not texts:
                raise LLMBadResponse(
                    f"{self.name}: the answer has no text", provider=self.name, **tokens
                )
            text = "".join(texts)
        return LLMResponse(
            text=text,
            model=message.model or params["model"],
            parsed=parsed,
            input_tokens=tokens["input_tokens"],
            output_tokens=tokens["output_tokens"],
            latency_ms=latency_ms,
            finish_reason=stop_reason,
            provider=self.name,
        )
