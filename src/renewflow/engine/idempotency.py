"""Idempotency keys: a retried request with the same `Idempotency-Key` gets the first result.

The key is claimed in the request's own transaction. A concurrent request with the same key waits
on the claim (a unique index) until the first commits, then reads its stored result; if the first
rolled back, its claim vanished with it and the retry simply runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from psycopg.types.json import Jsonb

from renewflow.db import Connection, load_queries
from renewflow.errors import InvalidInputError

_Q = load_queries("renewflow.engine")

MAX_KEY_LENGTH = 255


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def once(
    conn: Connection,
    key: str | None,
    request_fingerprint: str,
    run: Callable[[], tuple[int, dict[str, Any]]],
) -> tuple[int, dict[str, Any]]:
    """`run()`'s (status, body), or the stored ones of the first request that used `key`."""
    if key is None:
        return run()
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} characters")
    claimed = conn.execute(
        _Q["claim_idempotency_key"], {"key": key, "fingerprint": request_fingerprint}
    ).fetchone()
    if claimed is None:
        stored = conn.execute(_Q["get_idempotency_key"], {"key": key}).fetchone()
        assert stored is not None
        if stored["request_fingerprint"] != request_fingerprint:
            raise InvalidInputError(
                "Idempotency-Key", "this key was already used for a different request"
            )
        return stored["status_code"], stored["response"]
    status, body = run()
    conn.execute(
        _Q["store_idempotent_response"],
        {"key": key, "status_code": status, "response": Jsonb(body)},
    )
    return status, body
