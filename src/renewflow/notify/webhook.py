"""Webhooks: one JSON POST per message (Slack-compatible `{"text": ...}` on request)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from renewflow.notify.errors import DeliveryError, NotifyConfigError
from renewflow.notify.models import OutboundMessage

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class WebhookSettings(BaseModel):
    """Where to POST. A Slack incoming-webhook URL is itself a secret: give it through `url_env`
    (the environment variable holding it) rather than `url`. `secret_header` is sent with the
    value of `secret_env` (e.g. Authorization: Bearer ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None
    url_env: str | None = Field(default=None, pattern=_ENV_NAME)
    format: Literal["json", "slack"] = "json"
    headers: dict[str, str] = Field(default_factory=dict, description="Extra, non-secret headers.")
    secret_header: str | None = None
    secret_env: str | None = Field(default=None, pattern=_ENV_NAME)
    timeout: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookSettings:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        if bool(self.secret_header) != bool(self.secret_env):
            raise ValueError("secret_header and secret_env go together")
        return self


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
    ) -> None:
        env = os.environ if env is None else env
        self.settings = settings
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
        if settings.secret_header and settings.secret_env:
            secret = env.get(settings.secret_env)
            if not secret:
                raise NotifyConfigError(
                    f"webhook: set the secret in the environment variable {settings.secret_env}"
                )
            headers[settings.secret_header] = secret
        self._client = httpx.Client(
            timeout=settings.timeout, headers=headers, follow_redirects=False, transport=transport
        )

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
        headers = {}
        if message.notification_id is not None:
            # lets the receiver drop a redelivery after a lost 2xx
            headers["Idempotency-Key"] = str(message.notification_id)
        try:
            response = self._client.post(self._url, json=self.body(message), headers=headers)
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
        if 200 <= status < 300:
            return
        retryable = status in (408, 429) or status >= 500
        raise DeliveryError(
            f"webhook {self._where}: HTTP {status}",
            retryable=retryable,
            channel=self.name,
            retry_after=_retry_after(response),
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
