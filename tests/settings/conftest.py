"""Fixtures of the tenant settings' tests: an envelope key in the environment, an admin's API
client, a local SMTP server and a local webhook receiver."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from renewflow.settings.secrets import KEY_ENV, KEY_FILE_ENV, new_key
from tests.api.conftest import api_url, bearer, client, make_key
from tests.notify.conftest import certificate, certificate_or_none, smtp_server

__all__ = ["api_url", "certificate", "certificate_or_none", "client", "make_key", "smtp_server"]


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh envelope key for this test (the server reads the environment at each use)."""
    key = new_key()
    monkeypatch.setenv(KEY_ENV, key)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    return key


@dataclass
class Admin:
    http: httpx.Client
    tenant: uuid.UUID
    user: uuid.UUID
    email: str


@pytest.fixture
def admin(
    api_url: str,
    tenant_factory: Callable[..., uuid.UUID],
    make_key: Callable[..., tuple[uuid.UUID, str]],
) -> Iterator[Admin]:
    tenant = tenant_factory("Settings")
    email = f"admin-{uuid.uuid4().hex[:8]}@vendor.example"
    user, key = make_key(tenant, "admin", email=email)
    with httpx.Client(base_url=api_url, headers=bearer(key), timeout=30) as http:
        yield Admin(http, tenant, user, email)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Hook:
    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    hook: ClassVar[Hook]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        hook = type(self).hook
        hook.received.append(Received(self.path, dict(self.headers.items()), body))
        status = hook.statuses.pop(0) if hook.statuses else 200
        answer = b"ok" if status < 300 else b"no_service"
        self.send_response(status)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[Hook]:
    """A local HTTP server answering like a Slack incoming webhook ("ok"; "no_service" on a
    scripted error status)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    hook = Hook(f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/SLACKPATHSECRET")
    server.RequestHandlerClass = type("Handler", (_Handler,), {"hook": hook})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield hook
    server.shutdown()
    server.server_close()
