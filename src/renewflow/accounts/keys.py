"""API key material: 256 random bits, stored as a SHA-256 digest.

A slow password hash would protect low-entropy secrets; these are not low-entropy, and a fast digest
keeps authentication to a single index lookup per request.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "rf_"
_KEY_BYTES = 32


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def display_prefix(secret: str) -> str:
    """The first characters, stored so a person can tell their keys apart."""
    return secret[: len(KEY_PREFIX) + 6]
