"""The API's side: a request id and metrics for every request, and `GET /metrics`."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from renewflow.observability import context
from renewflow.observability.metrics import default

if TYPE_CHECKING:
    from fastapi import FastAPI

    from renewflow.db import Database
    from renewflow.observability.metrics import _DepthQueue

REQUEST_ID_HEADER = "X-Request-ID"
# What a client's own request id may look like to be kept (and so logged): a UUID, a proxy's
# token. Anything else is replaced, so no client writes what it likes into the log lines.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_HEADER = REQUEST_ID_HEADER.lower().encode()


class ObserveRequests:
    """ASGI middleware: the request's id (the client's `X-Request-ID` if it is a plain token,
    else a new one), bound for its log lines and returned in the response's `X-Request-ID`; and
    the HTTP metrics, by route template (`unmatched` when no route serves the path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        header = (_HEADER, request_id.encode())
        status = 500  # what the client gets if the app raises before answering
        metrics = default()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = context.request_id.set(request_id)
        started = time.perf_counter()
        metrics.http_started()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            metrics.http_finished()
            metrics.http_request(
                route_template(scope), scope["method"], status, time.perf_counter() - started
            )
            context.request_id.reset(token)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == _HEADER:
            given: str = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The template of the route that served the request (`/api/workflows/runs/{run_id}`; a
    mount's `/static/{path}`), never the path itself: the label stays bounded."""
    template = getattr(scope.get("route"), "path_format", None)
    if isinstance(template, str):
        return str(template)
    return "unmatched"


def install(app: FastAPI, database: Database, queues: Iterable[_DepthQueue] = ()) -> None:
    """Adds the middleware (outermost of the app's own) and `GET /metrics` to `app`, whose
    scrape also reports `database`'s pools and the depth of `queues`."""
    app.add_middleware(ObserveRequests)
    default().watch(database, queues)

    def metrics_endpoint(request: Request) -> Response:
        """Prometheus metrics of this process (of every process of the server, in multiprocess
        mode): see docs/operations.md, "Monitoring"."""
        body, content_type = default().exposition(request.headers.get("accept"))
        return Response(body, media_type=content_type)

    # a plain function: FastAPI runs it in a thread, where waiting on the database is harmless
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
