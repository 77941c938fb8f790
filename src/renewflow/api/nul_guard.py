"""Refusing NUL characters (U+0000) at the door: PostgreSQL text and jsonb cannot hold them, so a
request carrying one would otherwise fail deep inside a transaction, as a 500.

The check costs a byte scan per request; only a request that seems to carry a NUL is parsed to
name where it is (a body field such as `body.contacts[1].name`, or the query or the path).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from renewflow.api.problems import field_path, problem
from renewflow.nul import MESSAGE, find_nul

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The largest request body the API reads (a workflow export is tens of kilobytes).
MAX_BODY_BYTES = 8 * 1024 * 1024


class RejectNulCharacters:
    """ASGI middleware answering 422 problem+json for a request with a NUL anywhere in its path,
    query or JSON body (raw, or escaped as \\u0000), and 413 for a body over MAX_BODY_BYTES."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"]:
            await _refuse("path")(scope, receive, send)
            return
        if b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]:
            await _refuse("query")(scope, receive, send)
            return
        if scope["method"] not in _BODY_METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        read = await _read_body(receive)
        if read is None:
            limit = f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB"
            await problem(413, limit)(scope, receive, send)
            return
        body, last = read
        if b"\\u0000" in body or b"\x00" in body:
            where = _nul_in_json(body)
            if where is not None:
                await _refuse(where)(scope, receive, send)
                return
        await self.app(scope, _replay(body, last, receive), send)


def _is_json(scope: Scope) -> bool:
    """A body the API parses as JSON: a JSON media type, or none (FastAPI then assumes JSON)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True


async def _read_body(receive: Receive) -> tuple[bytes, Message] | None:
    """The whole body (the app reads it whole anyway) and the last message received; None past
    MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b"".join(chunks), message
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), message


def _replay(body: bytes, last: Message, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        if last["type"] != "http.request":
            return last
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _nul_in_json(body: bytes) -> str | None:
    """Where the first NUL is: a field path, "body" if the body is not JSON, None if the bytes
    only looked like one (an escaped backslash followed by u0000, say)."""
    try:
        document = json.loads(body)
        loc = find_nul(document, ("body",))
    except ValueError:
        return "body" if b"\x00" in body else None
    except RecursionError:  # nested deeper than anyone writes JSON by hand
        return "body"
    return field_path(loc) if loc is not None else None


def _refuse(where: str) -> ASGIApp:
    return problem(422, f"{where}: {MESSAGE}", errors=[{"field": where, "message": MESSAGE}])
