"""A metrics scrape while the database does not answer: `renewflow serve` reaches PostgreSQL
through a TCP proxy in the test, which then stops passing bytes (connections stay open and
silent, the worst case: nothing fails, everything waits). The scrape still answers at once,
with what is known and `renewflow_database_up 0`; once the database answers again, 1."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.api.conftest import free_port
from tests.observability.conftest import answers, renewflow_env, start, stop, wait_until
from tests.observability.scrape import parse, value


class SilentProxy:
    """Forwards TCP to `target` (a host and port, or a socket directory and port) until
    `silence()`: from then on it reads and drops every byte
    and accepts new connections without forwarding them, until `speak()`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.silent = threading.Event()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def silence(self) -> None:
        self.silent.set()

    def speak(self) -> None:
        """Forwarding again; the connections that went silent are closed (as after an outage
        the server's side of them would be gone)."""
        self.silent.clear()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        self.speak()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            if self.silent.is_set():
                threading.Thread(target=self._drain, args=(client,), daemon=True).start()
                continue
            try:
                upstream = self._upstream()
            except OSError:
                client.close()
                continue
            self._sockets.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _upstream(self) -> socket.socket:
        host, port = self.target
        if host.startswith("/"):  # a socket directory (the embedded server listens on one)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(f"{host}/.s.PGSQL.{port}")
            return sock
        return socket.create_connection(self.target)

    def _drain(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not self.silent.is_set():
                    sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def proxy(ops_url: str) -> Iterator[tuple[SilentProxy, str]]:
    params = psycopg.conninfo.conninfo_to_dict(ops_url)
    target = (str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    silent = SilentProxy(target)
    url = psycopg.conninfo.make_conninfo(ops_url, host="127.0.0.1", port=str(silent.port))
    yield silent, url
    silent.close()


def _scrape(base: str) -> tuple[float, int, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    started = time.monotonic()
    answer = httpx.get(f"{base}/metrics", timeout=30)
    return time.monotonic() - started, answer.status_code, parse(answer.text)


def test_a_scrape_during_a_database_outage_answers_at_once_and_says_so(
    proxy: tuple[SilentProxy, str], tmp_path: Path
) -> None:
    silent, url = proxy
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = start(
        ["serve", "--port", str(port), "--no-worker", "--no-migrate", "--no-seed"],
        renewflow_env(url, RENEWFLOW_LOG_LEVEL="warning", RENEWFLOW_POOL_MAX_SIZE="10"),
        log,
    )
    try:
        wait_until(lambda: answers(f"{base}/readyz"), 60, "the server is ready", server, log)
        seconds, status, before = _scrape(base)
        assert (status, value(before, "renewflow_database_up")) == (200, 1)
        assert value(before, "renewflow_jobs_queue_depth", queue="ai_tasks", state="queued") == 0

        silent.silence()
        for _ in range(3):  # the first read still hangs in the background: none piles up
            seconds, status, during = _scrape(base)
            assert status == 200
            assert seconds < 3, seconds
            assert value(during, "renewflow_database_up") == 0
            # what is known: the last answer of the database, the recorded families
            depth = value(during, "renewflow_jobs_queue_depth", queue="ai_tasks", state="queued")
            assert depth == 0
            requests = value(
                during, "renewflow_http_requests_total", route="/readyz", method="GET", status="200"
            )
            assert requests >= 1
            assert value(during, "renewflow_db_pool_max_connections", pool="app") == 10

        silent.speak()
        wait_until(
            lambda: value(_scrape(base)[2], "renewflow_database_up") == 1,
            20,
            "the scrape sees the database again",
            server,
            log,
        )
        assert stop(server) == 0
    finally:
        stop(server)
    assert "Traceback" not in log.read_text()
