"""Serving the HTTP API: one process, or several processes sharing one listening socket.

`renewflow serve` migrates, seeds and runs the background worker once, in the process it starts
in; with `processes > 1` that process then supervises HTTP processes (uvicorn's supervisor), each
of which builds its own app and pools from the environment with `app_from_environment`.
"""

from __future__ import annotations

import os
import signal
import socket
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import SIGNALS as SUPERVISED_SIGNALS

from renewflow import db, observability
from renewflow.api import create_app
from renewflow.config import load_settings
from renewflow.errors import RenewflowError

# The environment variable the supervising process sets for its HTTP processes: the owner
# connection it resolved (DATABASE_URL, or the embedded server it started), so that they join
# that server rather than start one of their own.
CONNINFO_ENV = "DATABASE_URL"


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket for `host:port`.

    Bound here rather than by uvicorn: uvicorn's own bind leaves the socket's protocol at 0, and
    asyncio turns on TCP_NODELAY for accepted connections only when the listener says
    IPPROTO_TCP. Without it every keep-alive request after the first waits ~40 ms for a delayed
    ACK (uvicorn issue #3149, in every release up to 0.54 at least).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as error:
        raise RenewflowError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError as error:
        sock.close()
        raise RenewflowError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return sock


def app_from_environment() -> FastAPI:
    """The app of one HTTP process (uvicorn's `factory`): its own pools, opened by its lifespan."""
    return create_app(db.database_from_settings(load_settings()))


class StopOnSigterm:
    """From `__enter__` on, SIGTERM is remembered instead of ending the process: the server
    stops (or never starts) and the caller's cleanup runs, as after Ctrl-C. uvicorn hands the
    signal back once it has shut down, which would otherwise end the process on the spot."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopOnSigterm:
        self._previous = signal.signal(signal.SIGTERM, self._remember)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGTERM, self._previous)

    def _remember(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def run_http(
    sock: socket.socket,
    database: db.Database,
    conninfo: str,
    *,
    processes: int,
    log_level: str,
    stop: StopOnSigterm,
) -> None:
    """Serves the API on `sock` (from `listening_socket`; closed at the end) until interrupted:
    in this process, on `database` (opened by the caller), when `processes` is 1, else in
    `processes` child processes that connect to `conninfo` themselves. Returns at once if `stop`
    was requested before the server started."""
    try:
        if processes == 1:
            app: FastAPI | str = create_app(database, manage_database=False)
        else:
            os.environ[CONNINFO_ENV] = conninfo
            app = f"{__name__}:{app_from_environment.__name__}"
        config = uvicorn.Config(
            app,
            factory=processes > 1,
            workers=processes,
            log_level=log_level,
            proxy_headers=False,
            lifespan="on",
        )
        # uvicorn.Config just gave uvicorn's loggers handlers of its own: route them back to
        # ours, so that the supervisor's lines too have the format asked for (JSON)
        observability.adopt_uvicorn_loggers()
        if stop.requested:
            return
        if processes == 1:
            uvicorn.Server(config).run(sockets=[sock])
        else:
            _supervise(config, sock)
    finally:
        sock.close()


def _supervise(config: uvicorn.Config, sock: socket.socket) -> None:
    # uvicorn's supervisor takes over the stop signals for good: hand them back afterwards, so a
    # second Ctrl-C still interrupts the caller's cleanup
    saved = {sig: signal.getsignal(sig) for sig in SUPERVISED_SIGNALS}
    try:
        supervisor = Multiprocess(config, sockets=[sock])
        supervisor.run()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise RenewflowError("an HTTP process failed to start (its error is in the log above)")
