"""A local fake of an OpenAI-compatible server: `POST /v1/chat/completions` answering after a
configurable delay, like a real model does (2 to 60 s), with a schema-valid JSON answer.

The answer to a request with `response_format.json_schema` is generated from that schema by the
mock provider's generator (deterministic for the same prompt); other requests get a short text.
`rate_limit_first` answers that many requests with 429 and a Retry-After first. Every request is
counted (`requests`) and timed (`in_flight`, `max_in_flight`), so tests can assert how many calls
the service made and how many it made at once.

Run alone: `python -m bench.fake_openai --port 8099 --delay 2` (then point a tenant at
`http://127.0.0.1:8099/v1` with the `openai-compatible` provider).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from renewflow.llm.mock import generate


class FakeOpenAI:
    """The server, on 127.0.0.1 (a free port unless given), in a thread; a context manager."""

    def __init__(
        self, *, delay: float = 0.0, port: int = 0, rate_limit_first: int = 0, retry_after: int = 1
    ) -> None:
        self.delay = delay
        self.rate_limit_first = rate_limit_first
        self.retry_after = retry_after
        self.requests = 0
        self.rate_limited = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, payload, headers = fake.answer(body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self._server = Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests += 1
            self.bodies.append(body)
            if self.rate_limited < self.rate_limit_first:
                self.rate_limited += 1
                return (
                    429,
                    {"error": {"message": "rate limited", "type": "rate_limit"}},
                    {"Retry-After": str(self.retry_after)},
                )
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            return 200, completion(body), {}
        finally:
            with self._lock:
                self.in_flight -= 1


def completion(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat completion answering `body`."""
    messages = body.get("messages") or []
    prompt = json.dumps(messages, sort_keys=True)
    seed = hashlib.sha256(prompt.encode()).hexdigest()
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    content = json.dumps(generate(schema, seed)) if schema else f"Answer {seed[:8]}."
    return {
        "id": f"chatcmpl-{seed[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": len(prompt) // 4,
            "completion_tokens": len(content) // 4,
            "total_tokens": (len(prompt) + len(content)) // 4,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds before each answer")
    args = parser.parse_args()
    with FakeOpenAI(delay=args.delay, port=args.port) as fake:
        print(f"fake OpenAI-compatible server on {fake.url} (delay {args.delay:g}s)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
