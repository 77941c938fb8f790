"""Refusing at the door what would otherwise fail deep inside a transaction, as a 500.

- NUL characters (U+0000): PostgreSQL text and jsonb cannot hold them. The check costs a byte scan
  per request; only a request that seems to carry a NUL is parsed to name where it is (a body
  field such as `body.contacts[1].name`, or the query or the path).
- Bodies larger than MAX_BODY_BYTES, whatever their content type: 413, before the app reads them.
- JSON nested deeper than JSON_MAX_DEPTH levels: 422 naming the body. Deeper documents only ever
  come from a generator, and past ~1,000 levels the JSON parser itself gives up.
"""

from __future__ import annotations

import array
import itertools
import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from renewflow.api.problems import field_path, problem
from renewflow.limits import JSON_MAX_DEPTH, MAX_BODY_BYTES
from renewflow.nul import MESSAGE, find_nul

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOO_LARGE = f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB"
TOO_DEEP = f"JSON nested deeper than {JSON_MAX_DEPTH} levels"


class RejectNulCharacters:
    """ASGI middleware answering 422 problem+json for a request with a NUL anywhere in its path,
    query or JSON body (raw, or escaped as \\u0000) or a JSON body nested too deep, and 413 for a
    body over MAX_BODY_BYTES of any content type."""

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
        declared = _declared_length(scope)
        if declared is not None and declared > MAX_BODY_BYTES:
            await problem(413, TOO_LARGE)(scope, receive, send)
            return
        if scope["method"] not in _BODY_METHODS and not declared and not _chunked(scope):
            await self.app(scope, receive, send)
            return
        read = await _read_body(receive)
        if read is None:
            await problem(413, TOO_LARGE)(scope, receive, send)
            return
        body, last = read
        if body and _is_json(scope):
            if _nesting_exceeds(body, JSON_MAX_DEPTH):
                errors = [{"field": "body", "message": TOO_DEEP}]
                await problem(422, f"body: {TOO_DEEP}", errors=errors)(scope, receive, send)
                return
            if b"\\u0000" in body or b"\x00" in body:
                where = _nul_in_json(body)
                if where is not None:
                    await _refuse(where)(scope, receive, send)
                    return
        await self.app(scope, _replay(body, last, receive), send)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            found: bytes = value
            return found
    return None


def _declared_length(scope: Scope) -> int | None:
    """The Content-Length the client announced (None if absent or not a number: the server
    refuses a malformed one before the app sees it)."""
    value = _header(scope, b"content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _chunked(scope: Scope) -> bool:
    return _header(scope, b"transfer-encoding") is not None


def _is_json(scope: Scope) -> bool:
    """A body the API parses as JSON: a JSON media type, or none (FastAPI then assumes JSON)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes


def _nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON in `body` nests objects and arrays more than `limit` levels deep.

    In C-speed byte operations rather than a Python loop over up to 8 MiB: strings are cut out,
    each bracket becomes +1 or -1, and the deepest level is the largest running sum.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    steps = _STRING.sub(b"", body).translate(_STEPS, _NOT_BRACKETS)
    if b"\x01" * (limit + 1) in steps:
        return True
    return max(itertools.accumulate(array.array("b", steps)), default=0) > limit


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
    except RecursionError:  # unreachable past the depth check; kept as the last guard
        return "body"
    return field_path(loc) if loc is not None else None


def _refuse(where: str) -> ASGIApp:
    return problem(422, f"{where}: {MESSAGE}", errors=[{"field": where, "message": MESSAGE}])
