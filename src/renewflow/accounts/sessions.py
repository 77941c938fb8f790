"""Console sessions and one-time sign-in links.

A session is a cookie holding 256 random bits; the database keeps their SHA-256 (like API keys)
and finds the row before the tenant is known by presenting that digest, never through a bypass.
Sessions expire (`SESSION_LIFETIME`), can be revoked (sign out, or an admin), and stop working
at once when their user is deactivated. A sign-in link is used once, within 15 minutes.

The CSRF token of a session is an HMAC of its token: a page gets it in its forms, the server
recomputes it from the cookie, and a site that cannot read the (HttpOnly) cookie cannot forge it.
The HMAC key only separates this use of the token from any other: the token is the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from renewflow.accounts.models import Role
from renewflow.db import Connection, load_queries
from renewflow.errors import InvalidInputError, NotFoundError

_Q = load_queries("renewflow.accounts", "sessions.sql")

SESSION_PREFIX = "rfs_"
LINK_PREFIX = "rfl_"
SESSION_LIFETIME = timedelta(hours=12)
LINK_LIFETIME = timedelta(minutes=15)
_TOKEN_BYTES = 32
_MAX_TOKEN = 100


@dataclass(frozen=True)
class ConsoleUser:
    """Who a console session belongs to: the user's own role decides what it may do."""

    session_id: UUID
    tenant_id: UUID
    user_id: UUID
    role: Role
    email: str
    name: str | None
    expires_at: datetime

    @property
    def display_name(self) -> str:
        return self.name or self.email


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _well_formed(token: str, prefix: str) -> bool:
    return token.startswith(prefix) and len(token) <= _MAX_TOKEN


def authenticate_session(conn: Connection, token: str) -> ConsoleUser | None:
    """The user of a live session, or None; on success the transaction is scoped to them."""
    if not _well_formed(token, SESSION_PREFIX):
        return None
    row = conn.execute(_Q["authenticate_session"], {"token_hash": _digest(token)}).fetchone()
    if row is None:
        return None
    conn.execute(_Q["touch_session"], {"session_id": row["session_id"]})
    return ConsoleUser(
        session_id=row["session_id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        role=Role(row["role"]),
        email=row["email"],
        name=row["name"],
        expires_at=row["expires_at"],
    )


def open_session(
    conn: Connection, user_id: UUID, *, signed_in_with: str, user_agent: str | None
) -> tuple[str, datetime]:
    """A new session for a user of the transaction's tenant: (the cookie's token, its expiry)."""
    token = SESSION_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
    row = conn.execute(
        _Q["insert_session"],
        {
            "user_id": user_id,
            "token_hash": _digest(token),
            "signed_in_with": signed_in_with,
            "user_agent": (user_agent or "")[:255] or None,
            "lifetime_seconds": SESSION_LIFETIME.total_seconds(),
        },
    ).fetchone()
    assert row is not None
    expires: datetime = row["expires_at"]
    return token, expires


def revoke_session(conn: Connection, session_id: UUID) -> None:
    """Ends a session of the transaction's tenant (another tenant's: not found, like a missing one)."""
    if conn.execute(_Q["revoke_session"], {"session_id": session_id}).fetchone() is None:
        raise NotFoundError(f"session {session_id} not found")


def list_sessions(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """The tenant's live sessions, most recently used first."""
    return conn.execute(_Q["list_sessions"], {"limit": limit}).fetchall()


def issue_login_link(service_conn: Connection, email: str, tenant_id: UUID | None = None) -> str:
    """A one-time sign-in token for the user with `email` (in `tenant_id`, needed when that
    email is a user of several tenants). `service_conn` is a service-role transaction."""
    users = service_conn.execute(_Q["users_by_email"], {"email": email}).fetchall()
    if tenant_id is not None:
        users = [u for u in users if u["tenant_id"] == tenant_id]
    if not users:
        raise NotFoundError(f"no user with the email {email!r}")
    if len(users) > 1:
        names = ", ".join(f"{u['tenant_name']} ({u['tenant_id']})" for u in users)
        raise InvalidInputError("--tenant", f"{email} is a user of several tenants: {names}")
    user = users[0]
    if not user["active"]:
        raise InvalidInputError("--email", f"{email} is deactivated")
    token = LINK_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
    service_conn.execute(
        _Q["insert_login_link"],
        {
            "tenant_id": user["tenant_id"],
            "user_id": user["id"],
            "token_hash": _digest(token),
            "lifetime_seconds": LINK_LIFETIME.total_seconds(),
        },
    )
    return token


def login_link_usable(conn: Connection, token: str) -> bool:
    """Whether a sign-in link can still be used (read-only: the confirm page's question)."""
    if not _well_formed(token, LINK_PREFIX):
        return False
    row = conn.execute(_Q["peek_login_link"], {"token_hash": _digest(token)}).fetchone()
    return bool(row and row["usable"])


def consume_login_link(conn: Connection, token: str) -> UUID | None:
    """Uses a sign-in link: its user's id (the transaction now scoped to them), or None when the
    link is unknown, used or expired."""
    if not _well_formed(token, LINK_PREFIX):
        return None
    row = conn.execute(_Q["consume_login_link"], {"token_hash": _digest(token)}).fetchone()
    if row is None:
        return None
    user_id: UUID = row["user_id"]
    return user_id


_CSRF_KEY = b"renewflow console csrf"


def csrf_token(session_token: str) -> str:
    """The session's CSRF token, derived from its cookie's token."""
    return hmac.new(_CSRF_KEY, session_token.encode("utf-8"), hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, presented: str | None) -> bool:
    """Constant-time comparison of a presented CSRF token with the session's."""
    return presented is not None and hmac.compare_digest(csrf_token(session_token), presented)
