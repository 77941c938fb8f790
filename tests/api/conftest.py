"""A real uvicorn server on loopback serving the app, and keys to call it with."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn

from renewflow import accounts
from renewflow.api import create_app
from renewflow.config import Settings
from renewflow.db import Database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_in_thread(
    database: Database, *, manage_database: bool = False, settings: Settings | None = None
) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(database, manage_database=manage_database, settings=settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def api_url(database: Database) -> Iterator[str]:
    yield from serve_in_thread(database)


@pytest.fixture
def client(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=10) as http:
        yield http


@pytest.fixture
def make_key(database: Database) -> Callable[..., tuple[uuid.UUID, str]]:
    """Creates a user with the given role in a tenant; returns (user id, API key)."""

    def create(
        tenant_id: uuid.UUID, role: str = "admin", email: str | None = None
    ) -> tuple[uuid.UUID, str]:
        parsed = accounts.parse_role(role)
        with database.tenant_transaction(tenant_id) as conn:
            user = accounts.create_user(
                conn, email=email or f"{role}-{uuid.uuid4().hex[:8]}@example.com", role=parsed
            )
            key = accounts.issue_key(conn, user_id=user["id"], tenant_id=tenant_id, role=parsed)
        return user["id"], key.secret

    return create


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
