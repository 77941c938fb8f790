"""The cron endpoint's secret: `Authorization: Bearer <secret>`, compared in constant time with
every configured secret (the current one and, during a rotation, the previous one).

Every refusal costs the same work and gives the same answer, whatever was wrong: both secrets
are always compared, against SHA-256 digests (fixed length, so not even the length of a wrong
secret changes the time), and a secret sent in the query string is refused like a wrong one
(URLs end up in access logs and proxies' histories).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from renewflow.config import Settings

_BEARER = "bearer "
# an absent secret is compared against this, so that no branch skips the comparison
_NOTHING = hashlib.sha256(b"\x00renewflow: no secret\x00").digest()


@dataclass(frozen=True)
class CronSecrets:
    digests: tuple[bytes, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> CronSecrets:
        secrets = [
            s.get_secret_value()
            for s in (settings.cron_secret, settings.cron_secret_previous)
            if s is not None and s.get_secret_value()
        ]
        return cls(tuple(_digest(s) for s in secrets))

    @classmethod
    def of(cls, secrets: Sequence[str]) -> CronSecrets:
        return cls(tuple(_digest(s) for s in secrets if s))

    @property
    def configured(self) -> bool:
        return bool(self.digests)

    def admits(self, authorization: str | None, query: Mapping[str, str]) -> bool:
        """Whether the request carries a configured secret in its header, and nothing in its
        query string."""
        header = authorization or ""
        scheme_ok = header[: len(_BEARER)].lower() == _BEARER
        presented = _digest(header[len(_BEARER) :].strip()) if scheme_ok else _NOTHING
        matched = False
        for digest in self.digests:  # every one, never stopping at a match
            matched |= hmac.compare_digest(presented, digest)
        return matched and scheme_ok and not query


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
