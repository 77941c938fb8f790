"""Webhooks: one JSON POST per message (Slack-compatible `{"text": ...}` on request)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from renewflow.notify.errors import DeliveryError, NotifyConfigError
from renewflow.notify.models import OutboundMessage


class _OriginOnly(logging.Filter):
    """httpx logs each request's URL at INFO; a webhook's path (a Slack URL's) and a query
    string are credentials, so its log lines keep the scheme, host and port only."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 2 and isinstance(args[1], httpx.URL):
            url = args[1]
            shown = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "") + "/…"
            record.args = (args[0], shown, *args[2:])
        return True


logging.getLogger("httpx").addFilter(_OriginOnly())

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_SECRET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"  # noqa: S105 (a pattern, not a password)
SIGNATURE_HEADER = "X-Renewflow-Signature"
TIMESTAMP_HEADER = "X-Renewflow-Timestamp"


class WebhookSettings(BaseModel):
    """Where to POST. A Slack incoming-webhook URL is itself a secret: give it as a tenant
    secret (`url_secret`) or through `url_env` (the environment variable holding it) rather than
    `url`. `secret_header` is sent with the value of `header_secret` (a tenant secret) or
    `secret_env` (e.g. Authorization: Bearer ...). With `signing_secret`, each body is signed
    (HMAC-SHA256, see `signature`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        default=None,
        max_length=2048,
        description="The URL to POST to (a Slack URL is a credential: prefer url_secret).",
    )
    url_env: str | None = Field(
        default=None, pattern=_ENV_NAME, description="The environment variable holding the URL."
    )
    url_secret: str | None = Field(
        default=None, pattern=_SECRET_NAME, description="The tenant secret holding the URL."
    )
    format: Literal["json", "slack"] = Field(
        default="json",
        description="json: renewflow's body; slack: a Slack incoming webhook's {text}.",
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra, non-secret headers.")
    secret_header: str | None = Field(
        default=None,
        max_length=100,
        description="A header sent with a secret value (e.g. Authorization).",
    )
    secret_env: str | None = Field(
        default=None,
        pattern=_ENV_NAME,
        description="The environment variable holding secret_header's value.",
    )
    header_secret: str | None = Field(
        default=None,
        pattern=_SECRET_NAME,
        description="The tenant secret holding secret_header's value.",
    )
    signing_secret: str | None = Field(
        default=None,
        pattern=_SECRET_NAME,
        description="The tenant secret each body is signed with (X-Renewflow-Signature).",
    )
    timeout: float = Field(default=10.0, gt=0, le=120, description="Seconds per request.")

    @model_validator(mode="after")
    def _one_url(self) -> WebhookSettings:
        if sum(v is not None for v in (self.url, self.url_env, self.url_secret)) != 1:
            raise ValueError("give exactly one of url, url_env and url_secret")
        if self.secret_env and self.header_secret:
            raise ValueError("give at most one of secret_env and header_secret")
        if bool(self.secret_header) != bool(self.secret_env or self.header_secret):
            raise ValueError("secret_header and secret_env (or header_secret) go together")
        return self


def signature(key: str, timestamp: str, body: bytes) -> str:
    """`X-Renewflow-Signature` of a body sent at `timestamp` (the `X-Renewflow-Timestamp` header,
    Unix seconds): `v1=` and the hex HMAC-SHA256, keyed with the signing secret, of
    `<timestamp>.<body>`. A receiver recomputes it, compares in constant time, and refuses an
    old timestamp (a replay)."""
    mac = hmac.new(key.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


class WebhookChannel:
    """POSTs each message; 2xx is delivered, 408/429/5xx, timeouts and connection errors are
    retryable, any other status is not (redirects are not followed). See `Channel`."""

    name = "webhook"

    def __init__(
        self,
        settings: WebhookSettings,
        env: Mapping[str, str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        """`secrets`: the opened values of the tenant secrets the settings name, by name."""
        env = os.environ if env is None else env
        secrets = secrets or {}
        self.settings = settings
        if settings.url_secret is not None:
            url = secrets.get(settings.url_secret, "")
            if not url:
                raise NotifyConfigError(f"webhook: the URL secret {settings.url_secret} is not set")
        else:
            url = settings.url if settings.url is not None else env.get(settings.url_env or "", "")
        if not url:
            raise NotifyConfigError(
                f"webhook: set the URL in the environment variable {settings.url_env}"
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotifyConfigError("webhook: the URL must be http(s)://host/...")
        self._url = url
        # errors name the host only: the path of a Slack-style URL is the credential
        self._where = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
        headers = {"User-Agent": "renewflow", **settings.headers}
        if settings.secret_header and settings.header_secret:
            value = secrets.get(settings.header_secret)
            if not value:
                raise NotifyConfigError(
                    f"webhook: the header secret {settings.header_secret} is not set"
                )
            headers[settings.secret_header] = value
        elif settings.secret_header and settings.secret_env:
            secret = env.get(settings.secret_env)
            if not secret:
                raise NotifyConfigError(
                    f"webhook: set the secret in the environment variable {settings.secret_env}"
                )
            headers[settings.secret_header] = secret
        self._signing_key: str | None = None
        if settings.signing_secret:
            self._signing_key = secrets.get(settings.signing_secret) or None
            if self._signing_key is None:
                raise NotifyConfigError(
                    f"webhook: the signing secret {settings.signing_secret} is not set"
                )
        self._client = httpx.Client(
            timeout=settings.timeout, headers=headers, follow_redirects=False, transport=transport
        )

    @property
    def where(self) -> str:
        """The scheme and host posted to (never the path: a Slack-style URL's credential)."""
        return self._where

    def close(self) -> None:
        self._client.close()

    def body(self, message: OutboundMessage) -> dict[str, Any]:
        if self.settings.format == "slack":
            return {"text": f"*{message.title}*\n{message.message}"}
        return {
            "type": message.notification_type,
            "title": message.title,
            "message": message.message,
            "priority": message.priority,
            "recipient": message.recipient,
            "metadata": dict(message.metadata),
            "dedupe_key": message.dedupe_key,
            "notification_id": _text(message.notification_id),
            "workflow_execution_id": _text(message.workflow_execution_id),
            "customer_id": _text(message.customer_id),
        }

    def deliver(self, message: OutboundMessage) -> None:
        self.send(message)

    def send(self, message: OutboundMessage) -> str:
        """Delivers `message` like `deliver`, and returns what the receiver answered (its
        status and the start of its body): what a channel test reports. A refusal raises
        `DeliveryError` with the answer in `answer`."""
        content = json.dumps(self.body(message), separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if message.notification_id is not None:
            # lets the receiver drop a redelivery after a lost 2xx
            headers["Idempotency-Key"] = str(message.notification_id)
        if self._signing_key is not None:
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(self._signing_key, timestamp, content)
        try:
            response = self._client.post(self._url, content=content, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryError(
                f"webhook {self._where}: no answer within {self.settings.timeout:g}s",
                retryable=True,
                channel=self.name,
                unreachable=True,
            ) from None
        except httpx.TransportError as error:
            raise DeliveryError(
                f"webhook {self._where}: cannot connect ({type(error).__name__})",
                retryable=True,
                channel=self.name,
                unreachable=True,
            ) from None
        status = response.status_code
        answer = _answer(response)
        if 200 <= status < 300:
            return answer
        retryable = status in (408, 429) or status >= 500
        refused = DeliveryError(
            f"webhook {self._where}: HTTP {status}",
            retryable=retryable,
            channel=self.name,
            retry_after=_retry_after(response),
        )
        refused.answer = answer
        raise refused


def _answer(response: httpx.Response) -> str:
    """The receiver's answer as a person reads it: `HTTP 200: ok` (the body cut at 200)."""
    body = " ".join(response.text.split())[:200] if response.content else ""
    return f"HTTP {response.status_code}" + (f": {body}" if body else "")


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
