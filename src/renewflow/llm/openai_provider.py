"""OpenAI's chat completions through the official SDK; also any OpenAI-compatible server
(Ollama, vLLM, LiteLLM...) by base URL."""

from __future__ import annotations

import json
import time
from typing import Any, TypedDict

from renewflow.llm._sdk import import_sdk, map_sdk_error, mapped_stream
from renewflow.llm.errors import LLMBadResponse
from renewflow.llm.models import LLMRequest, LLMResponse


class Tokens(TypedDict):
    input_tokens: int | None
    output_tokens: int | None


class OpenAIProvider:
    """`chat.completions.create`, with `response_format` json_schema when the request has a schema.

    The schema is sent with `strict: false`: strict mode demands every property be required and
    `additionalProperties: false`, which workflow schemas do not promise. The answer is parsed
    here; validation is the caller's. The SDK's own retries are off (`max_retries=0`): retries are
    `RetryingProvider`'s, so they are counted once. See `LLMProvider` for the contract.
    """

    def __init__(
        self,
        *,
        api_key: str,
        default_model: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        name: str = "openai",
    ) -> None:
        self._sdk = import_sdk("openai", "openai")
        self.name = name
        self.default_model = default_model
        self._timeout = timeout
        # OpenAI's own API wants max_completion_tokens (max_tokens is deprecated there and refused
        # by its reasoning models); compatible servers generally only know max_tokens.
        self._tokens_param = "max_completion_tokens" if name == "openai" else "max_tokens"
        self._client: Any = self._sdk.OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
        )

    def close(self) -> None:
        self._client.close()

    def create_chat(
        self, params: dict[str, Any], *, max_tokens: int, timeout: float | None = None
    ) -> Any:
        """One `chat.completions.create` call as multi-turn chat (`renewflow.llm.chat`) builds
        it: `params` (model, messages, tools...) plus the max-tokens parameter this server takes
        and the timeout (None: the provider's). SDK errors are mapped to ours; with `stream:
        True`, the result is an iterator of chunks whose errors are mapped too."""
        sent = {
            **params,
            self._tokens_param: max_tokens,
            "timeout": timeout if timeout is not None else self._timeout,
        }
        try:
            answer = self._client.chat.completions.create(**sent)
        except self._sdk.OpenAIError as error:
            raise map_sdk_error(error, self.name) from None
        return (
            mapped_stream(answer, self.name, self._sdk.OpenAIError)
            if sent.get("stream")
            else answer
        )

    def complete(self, request: LLMRequest) -> LLMResponse:
        messages = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": request.prompt})
        params: dict[str, Any] = {
            "model": request.model or self.default_model,
            "messages": messages,
            "temperature": request.temperature,
            self._tokens_param: request.max_tokens,
            "timeout": request.timeout if request.timeout is not None else self._timeout,
        }
        if request.json_schema is not None:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema_name,
                    "schema": request.json_schema,
                    "strict": False,
                },
            }
        started = time.perf_counter()
        try:
            completion = self._client.chat.completions.create(**params)
        except self._sdk.OpenAIError as error:
            raise map_sdk_error(error, self.name) from None
        latency_ms = round((time.perf_counter() - started) * 1000)

        usage = getattr(completion, "usage", None)
        input_tokens = getattr(usage, "prompt_tokens", None)
        output_tokens = getattr(usage, "completion_tokens", None)
        tokens = Tokens(input_tokens=input_tokens, output_tokens=output_tokens)
        if not completion.choices:
            raise LLMBadResponse(
                f"{self.name}: the answer has no choices", provider=self.name, **tokens
            )
        choice = completion.choices[0]
        finish_reason = choice.finish_reason
        text = choice.message.content
        if text is None:
            refusal = getattr(choice.message, "refusal", None)
            reason = f"refused: {refusal[:200]}" if refusal else "the answer has no content"
            raise LLMBadResponse(f"{self.name}: {reason}", provider=self.name, **tokens)
        parsed = None
        if request.json_schema is not None:
            parsed = parse_json_answer(text, finish_reason == "length", self.name, tokens)
        return LLMResponse(
            text=text,
            model=completion.model or params["model"],
            parsed=parsed,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=latency_ms,
            finish_reason=finish_reason,
            provider=self.name,
        )


def parse_json_answer(text: str, truncated: bool, provider: str, tokens: Tokens) -> Any:
    """The JSON value in `text`, or LLMBadResponse keeping the raw text for inspection."""
    if truncated:
        raise LLMBadResponse(
            f"{provider}: the answer was cut off at max_tokens",
            provider=provider,
            raw_text=text,
            **tokens,
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise LLMBadResponse(
            f"{provider}: the answer is not JSON ({error.msg} at character {error.pos})",
            provider=provider,
            raw_text=text,
            **tokens,
        ) from None
