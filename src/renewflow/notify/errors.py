"""Errors of the delivery channels."""

from __future__ import annotations

from renewflow.errors import RenewflowError


class NotifyError(RenewflowError):
    """Base of the notification layer's errors."""


class NotifyConfigError(NotifyError):
    """Channel settings that cannot work (a secret's environment variable unset, say)."""


class DeliveryError(NotifyError):
    """A message was not delivered. `retryable` says whether trying again later can succeed
    (a timeout, a 5xx, an SMTP 4xx) or not (a refused address, a 4xx, bad credentials);
    `retry_after` is the receiver's hint in seconds, when it gave one."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        channel: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.channel = channel
        self.retry_after = retry_after
