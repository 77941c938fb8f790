"""Errors of the delivery channels."""

from __future__ import annotations

from renewflow.errors import RenewflowError


class NotifyError(RenewflowError):
    """Base of the notification layer's errors."""


class NotifyConfigError(NotifyError):
    """Channel settings that cannot work (a secret's environment variable unset, say)."""


class UndeliverableMessage(NotifyError):
    """A message that cannot be recorded as it is (a value longer than its column, a NUL
    character). It is never cut: the caller records it undeliverable (`record_undeliverable`)."""


class DeliveryError(NotifyError):
    """A message was not delivered. `retryable` says whether trying again later can succeed
    (a timeout, a 5xx, an SMTP 4xx) or not (a refused address, a 4xx, bad credentials);
    `retry_after` is the receiver's hint in seconds, when it gave one. `unreachable`: the
    receiving end could not be reached at all (a timeout, a refused connection), so every other
    message through the same channel would fail the same way for now."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        channel: str | None = None,
        retry_after: float | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.channel = channel
        self.retry_after = retry_after
        self.unreachable = unreachable
        # what the receiving end said, when it answered (a channel test shows it)
        self.answer: str | None = None
