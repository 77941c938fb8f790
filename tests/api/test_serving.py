"""`renewflow serve` as a process: one listening socket, several HTTP processes, a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from renewflow.errors import RenewflowError
from renewflow.serving import listening_socket
from tests.api.conftest import bearer, free_port


def test_accepted_connections_get_tcp_nodelay() -> None:
    """Without TCP_NODELAY a keep-alive request waits ~40 ms on the client's delayed ACK. (uvloop,
    when installed, sets it whatever the socket says; asyncio's own loop is the one that needs
    the listener to say IPPROTO_TCP.)"""

    async def accept_one() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = writer.get_extra_info("socket")
            accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listening_socket("127.0.0.1", 0))
        port = server.sockets[0].getsockname()[1]
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            nodelay = await asyncio.wait_for(accepted, 10)
            writer.close()
        return nodelay

    assert asyncio.run(accept_one()) != 0


def test_a_taken_port_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RenewflowError, match=rf"cannot listen on 127\.0\.0\.1:{port}: "):
            listening_socket("127.0.0.1", port)


def _http_processes(pid: int) -> set[int]:
    """The processes `pid` spawned to serve (not multiprocessing's resource tracker)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(FileNotFoundError):  # exited meanwhile
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.add(int(child))
    return found


@contextlib.contextmanager
def _serving(
    url: str, log_path: Path, *options: str, ready: Callable[[int], bool] = lambda pid: True
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`renewflow serve` on a free port, once /readyz answers and `ready(pid)` holds; killed at
    the end if a test left it running."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w+") as log:
        command = ["serve", "--port", str(port), "--no-seed", "--no-worker", *options]
        proc = subprocess.Popen(
            [sys.executable, "-m", "renewflow", *command],
            env={**os.environ, "DATABASE_URL": url, "RENEWFLOW_LOG_LEVEL": "warning"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while not (ready(proc.pid) and _ready(base)):
                assert proc.poll() is None, log.seek(0) or log.read()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
            yield proc, base
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_serve_with_two_processes_answers_and_stops_cleanly(
    migrated_url: str,
    tenant_factory: Callable[..., uuid.UUID],
    make_key: Callable[..., tuple[uuid.UUID, str]],
    tmp_path: Path,
) -> None:
    _, key = make_key(tenant_factory("Serving"), "csm")
    log = tmp_path / "serve.log"

    def two_children(pid: int) -> bool:
        return len(_http_processes(pid)) >= 2

    with _serving(migrated_url, log, "--processes", "2", ready=two_children) as (proc, base):
        workers = _http_processes(proc.pid)
        assert len(workers) == 2
        with httpx.Client(base_url=base, headers=bearer(key), timeout=10) as http:
            # fresh connections, shared out by the kernel: both processes must serve the same API
            for _ in range(20):
                me = http.get("/api/me", headers={"Connection": "close"})
                assert me.status_code == 200, me.text
                assert me.json()["role"] == "csm"
            assert http.get("/api/me", headers={"Authorization": "Bearer nope"}).status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


def test_sigterm_stops_one_process_cleanly(migrated_url: str, tmp_path: Path) -> None:
    """uvicorn re-raises SIGTERM after its shutdown, which used to end the process before its
    own cleanup (the worker's leases, the pools) could run: exit -15 instead of 0."""
    log = tmp_path / "serve.log"
    with _serving(migrated_url, log) as (proc, _):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert "Traceback" not in log.read_text()
