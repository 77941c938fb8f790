"""Tenant secrets, sealed at rest with an envelope key that never enters the database.

A secret (an SMTP password, an LLM API key, a Slack webhook URL, a signing secret) is stored in
`tenants.settings.secrets.<name>` as a `SealedSecret`: AES-256-GCM with a fresh 96-bit nonce,
the secret's name as associated data (an envelope copied under another name does not open), and
the id of the key that sealed it. The keys come from the environment:

- `RENEWFLOW_SECRET_KEY`: one or more keys, separated by commas or white space;
- or `RENEWFLOW_SECRET_KEY_FILE`: a file holding them, one a line (`#` starts a comment).

Each key is 32 random bytes in URL-safe base64 (`new_key()`). The first key seals; every key
listed opens what it sealed, which is how a key is rotated: put the new key first, keep the old
one after it, run `renewflow tenants secrets rotate` (every secret is sealed again under the
new key), then drop the old one.

A secret's value is only ever held in memory by the code about to use it: it is not logged, not
put in an error message, and not returned by any read (`SealedSecret.status`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets as _random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from renewflow.settings.errors import SecretKeyMissing, SecretUnreadable

KEY_ENV = "RENEWFLOW_SECRET_KEY"
KEY_FILE_ENV = "RENEWFLOW_SECRET_KEY_FILE"
ALGORITHM: Literal["A256GCM"] = "A256GCM"
# The longest value a secret may have (a PEM key is a few kB; anything longer is a mistake).
VALUE_MAX = 8192

SecretName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"),
    Field(description="A secret's name: letters, digits, `_` and `-`, at most 64 characters."),
]


class SealedSecret(BaseModel):
    """A secret as stored: the ciphertext, never the value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alg: Literal["A256GCM"] = ALGORITHM
    kid: str = Field(pattern=r"^[0-9a-f]{12}$", description="The id of the key that sealed it.")
    nonce: str
    ct: str
    set_at: datetime
    set_by: str | None = Field(default=None, max_length=320)

    def status(self) -> dict[str, Any]:
        """What a read shows: that it is set, when and by whom; never the value."""
        return {"set": True, "set_at": self.set_at.isoformat(), "set_by": self.set_by}


def new_key() -> str:
    """A fresh envelope key, as `RENEWFLOW_SECRET_KEY` takes it."""
    return base64.urlsafe_b64encode(_random.token_bytes(32)).decode("ascii")


def key_id(key: bytes) -> str:
    """A key's public id: recorded with each secret it seals, safe to print."""
    return hashlib.sha256(b"renewflow secret key id\x00" + key).hexdigest()[:12]


def _parse_keys(text: str, where: str) -> list[bytes]:
    keys = []
    for line in text.splitlines():
        for token in line.split("#", 1)[0].replace(",", " ").split():
            try:
                raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
            except (binascii.Error, ValueError, UnicodeEncodeError):
                raw = b""
            if len(raw) != 32:
                raise SecretKeyMissing(
                    f"{where}: each key must be 32 bytes in URL-safe base64 "
                    "(`renewflow tenants secrets new-key` makes one)"
                )
            keys.append(raw)
    return keys


@dataclass(frozen=True)
class Keyring:
    """The envelope keys of this process: the first seals, all of them open."""

    keys: tuple[bytes, ...]

    @property
    def primary_id(self) -> str:
        return key_id(self.keys[0])

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id(key) for key in self.keys)

    def seal(self, name: str, value: str, *, by: str | None = None) -> SealedSecret:
        nonce = _random.token_bytes(12)
        sealed = AESGCM(self.keys[0]).encrypt(nonce, value.encode("utf-8"), _aad(name))
        return SealedSecret(
            kid=self.primary_id,
            nonce=_b64(nonce),
            ct=_b64(sealed),
            set_at=datetime.now(UTC),
            set_by=by,
        )

    def open(self, name: str, sealed: SealedSecret) -> str:
        key = next((k for k in self.keys if key_id(k) == sealed.kid), None)
        if key is None:
            raise SecretUnreadable(
                f"the secret {name!r} was sealed with the key {sealed.kid}, which this process "
                f"does not have (add it after the current one in {KEY_ENV})"
            )
        try:
            value = AESGCM(key).decrypt(_unb64(sealed.nonce), _unb64(sealed.ct), _aad(name))
        except (InvalidTag, ValueError, binascii.Error):
            raise SecretUnreadable(
                f"the secret {name!r} does not open with the key {sealed.kid}: it was altered "
                "or copied from another name; set it again"
            ) from None
        return value.decode("utf-8")

    def reseal(self, name: str, sealed: SealedSecret) -> SealedSecret:
        """The same secret under the current key (its set_at and set_by kept)."""
        fresh = self.seal(name, self.open(name, sealed), by=sealed.set_by)
        return fresh.model_copy(update={"set_at": sealed.set_at})


def _aad(name: str) -> bytes:
    return f"renewflow.secret.v1:{name}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))


# The keys last read, by the variables and the file's modification time they came from.
_cache: list[tuple[tuple[str | None, str | None, float | None], Keyring | None]] = []


def keyring(env: Mapping[str, str] | None = None) -> Keyring | None:
    """This process's keys from the environment (read again whenever the variables or the
    file change), or None when none is configured."""
    env = os.environ if env is None else env
    inline, path = env.get(KEY_ENV) or None, env.get(KEY_FILE_ENV) or None
    mtime: float | None = None
    if path is not None:
        try:
            mtime = Path(path).stat().st_mtime
        except OSError:
            raise SecretKeyMissing(f"{KEY_FILE_ENV}: cannot read the key file {path}") from None
    fingerprint = (inline, path, mtime)
    cached = _cache[0] if _cache else None
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    keys: list[bytes] = []
    if inline is not None:
        keys += _parse_keys(inline, KEY_ENV)
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise SecretKeyMissing(f"{KEY_FILE_ENV}: cannot read the key file {path}") from None
        keys += _parse_keys(text, KEY_FILE_ENV)
    ring = Keyring(tuple(dict.fromkeys(keys))) if keys else None
    _cache[:] = [(fingerprint, ring)]
    return ring


def require_keyring(env: Mapping[str, str] | None = None) -> Keyring:
    ring = keyring(env)
    if ring is None:
        raise SecretKeyMissing(
            f"this server has no secret key: set {KEY_ENV} (or {KEY_FILE_ENV}) to a key made by "
            "`renewflow tenants secrets new-key`, then set the secret again"
        )
    return ring


def reveal(name: str, sealed: SealedSecret, env: Mapping[str, str] | None = None) -> str:
    """A stored secret's value, for the code about to use it."""
    return require_keyring(env).open(name, sealed)
