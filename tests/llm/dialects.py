"""What the OpenAI and Anthropic wire formats look like, for the scripted loopback server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from renewflow.llm import LLMSettings
from tests.llm.wire import Reply


@dataclass(frozen=True)
class Dialect:
    provider: str
    path: str
    key_env: str | None
    model: str

    def settings(self, url: str, **overrides: Any) -> LLMSettings:
        values: dict[str, Any] = {
            "provider": self.provider,
            "base_url": url if self.provider == "anthropic" else f"{url}/v1",
            "model": self.model,
            "max_retries": 2,
            "backoff_base": 0.01,
            "backoff_max": 0.05,
            "timeout": 5,
        }
        return LLMSettings(**(values | overrides))

    def env(self) -> dict[str, str]:
        return {self.key_env: "sk-test-SECRET-key-123"} if self.key_env else {}

    def ok(self, answer: Any, input_tokens: int = 120, output_tokens: int = 30) -> Reply:
        """A successful answer: a dict is structured output, a str plain text."""
        if self.provider == "anthropic":
            if isinstance(answer, str):
                content = [{"type": "text", "text": answer}]
                stop = "end_turn"
            else:
                content = [
                    {"type": "tool_use", "id": "toolu_01", "name": "output", "input": answer}
                ]
                stop = "tool_use"
            return Reply(
                200,
                {
                    "id": "msg_01",
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": content,
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
                },
            )
        text = answer if isinstance(answer, str) else json.dumps(answer)
        return Reply(
            200,
            {
                "id": "chatcmpl-01",
                "object": "chat.completion",
                "created": 1_767_000_000,
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": input_tokens,
                    "completion_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                },
            },
        )

    def error(
        self, status: int, message: str = "boom", headers: dict[str, str] | None = None
    ) -> Reply:
        if self.provider == "anthropic":
            kind = {429: "rate_limit_error", 500: "api_error", 400: "invalid_request_error"}.get(
                status, "api_error"
            )
            body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            body = {"error": {"message": message, "type": "error", "code": None}}
        return Reply(status, body, headers or {})


DIALECTS = [
    Dialect("openai", "/v1/chat/completions", "OPENAI_API_KEY", "gpt-4o-mini-2024-07-18"),
    Dialect("anthropic", "/v1/messages", "ANTHROPIC_API_KEY", "claude-haiku-4-5"),
    Dialect("openai-compatible", "/v1/chat/completions", None, "llama3.1:8b"),
]
