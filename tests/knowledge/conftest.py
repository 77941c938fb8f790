"""Knowledge-base fixtures: a fake OpenAI-compatible embeddings endpoint, an API server using it,
and indexing through the real job queue."""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn

from renewflow.api import create_app
from renewflow.db import Database
from renewflow.jobs import Worker, WorkerConfig
from renewflow.knowledge import Embedder, IndexQueue
from tests.api import conftest as api_conftest
from tests.api.conftest import free_port

make_key = api_conftest.make_key
client = api_conftest.client
api_url = api_conftest.api_url

_WORD = re.compile(r"[a-z0-9]+")


@dataclass
class FakeEmbeddings:
    """Bag-of-words vectors of `dimensions` (hashed words, normalised): similar texts are near.
    `fail_with` answers every request with that HTTP status."""

    dimensions: int = 16
    fail_with: int | None = None
    requests: list[dict[str, object]] = field(default_factory=list)

    def vector(self, text: str) -> list[float]:
        values = [0.0] * self.dimensions
        for word in _WORD.findall(text.lower()):
            values[int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dimensions] += 1.0
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        return [v / norm if any(values) else 1.0 / math.sqrt(self.dimensions) for v in values]

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if self.fail_with is not None:
            return httpx.Response(self.fail_with, json={"error": "down"})
        data = [
            {"object": "embedding", "index": i, "embedding": self.vector(text)}
            for i, text in enumerate(body["input"])
        ]
        return httpx.Response(200, json={"object": "list", "data": data, "model": body["model"]})

    def embedder(self, model: str = "fake-embed") -> Embedder:
        return Embedder(
            "http://embeddings.test/v1", model, transport=httpx.MockTransport(self.handle)
        )


@pytest.fixture
def fake_embeddings() -> FakeEmbeddings:
    return FakeEmbeddings()


@pytest.fixture
def index(database: Database) -> Callable[..., int]:
    """Runs the indexing queue until it is empty (claim, run, finish: the worker's calls, in
    this thread); returns how many jobs ran."""

    def drain(embedder: Embedder | None = None, *, max_jobs: int = 1000) -> int:
        queue = IndexQueue(database, embedder=embedder, backoff=lambda attempt: 0.0)
        ran = 0
        while ran < max_jobs:
            leases = queue.claim("test", 10, 30)
            if not leases:
                return ran
            for lease in leases:
                queue.run(lease)
                ran += 1
        return ran

    return drain


def run_worker_until(
    database: Database, done: Callable[[], bool], embedder: Embedder | None = None
) -> None:
    """A real `Worker` over the indexing queue, until `done()` or 20 seconds."""
    worker = Worker(
        database,
        [IndexQueue(database, embedder=embedder)],
        config=WorkerConfig(name=f"kb-{uuid.uuid4().hex[:6]}", poll_interval=0.05),
    )
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while not done():
            assert time.monotonic() < deadline, "the worker did not index in time"
            time.sleep(0.05)
    finally:
        worker.stop()
        worker.join(10)


@pytest.fixture
def embedded_api(database: Database, fake_embeddings: FakeEmbeddings) -> Iterator[str]:
    """An API server whose knowledge routes embed with the fake endpoint."""
    app = create_app(database, manage_database=False)
    app.state.knowledge_embedder = fake_embeddings.embedder()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
