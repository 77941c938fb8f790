"""Real processes for the observability tests: `renewflow serve` and `renewflow worker` as
subprocesses on a database of their own, and an OTLP/HTTP collector in the test process."""

from __future__ import annotations

import contextlib
import gzip
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from renewflow.db import Database, Migrator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ops_url(make_database: Callable[[], str]) -> str:
    """A database of its own: the worker claims across tenants, and its periodic jobs (delivery,
    sweeps) must see only this module's rows."""
    url = make_database()
    Migrator(url).migrate()
    return url


@pytest.fixture(scope="module")
def ops_db(ops_url: str) -> Iterator[Database]:
    from renewflow.workflows.files import core_library
    from renewflow.workflows.seed import seed_core

    with Database(ops_url, max_size=4) as database:
        with database.service_transaction() as conn:
            seed_core(conn, core_library())
        yield database


def renewflow_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a renewflow subprocess: the test's, without any observability setting
    it may carry, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "PROMETHEUS_", "RENEWFLOW_LOG", "RENEWFLOW_METRICS"))
    }
    env |= {"DATABASE_URL": url, "PYTHONPATH": str(ROOT), **extra}
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m renewflow *args`, its stderr (the log lines) to `log`, its stdout discarded."""
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "renewflow", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            text = log.read_text() if log is not None else ""
            raise AssertionError(f"exited with {process.returncode} before {what}:\n{text}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, then the exit status (killed if it does not stop in time)."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
        raise AssertionError("the process did not stop on SIGTERM") from None


# -- an OTLP/HTTP collector ------------------------------------------------------------------


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    service: str
    attributes: dict[str, Any]
    links: list[str]  # the span ids linked to


@dataclass
class Collector:
    """Receives OTLP/HTTP (protobuf) trace exports at `endpoint` + /v1/traces."""

    endpoint: str = ""
    spans: list[Span] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # every request body, for the secret grep
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, body: bytes) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        Span(
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=span.kind,
                            service=str(resource.get("service.name")),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            links=[link.span_id.hex() for link in span.links],
                        )
                    )
        with self.lock:
            self.raw.append(body)
            self.spans.extend(spans)

    def named(self, name: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.name == name]

    def trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    found = Collector()
    answer = ExportTraceServiceResponse().SerializeToString()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/traces":
                found.receive(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        with contextlib.suppress(RuntimeError):
            thread.join(5)
