"""Email over SMTP (smtplib): plain, STARTTLS or implicit TLS, with a timeout."""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from renewflow.notify.errors import DeliveryError, NotifyConfigError
from renewflow.notify.models import OutboundMessage

if TYPE_CHECKING:
    from typing_extensions import Buffer

_SECRET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"  # noqa: S105 (a pattern, not a password)


class SmtpSettings(BaseModel):
    """Where and how to send email. The password is never here: `password_secret` names the
    tenant secret (sealed in the database) or `password_env` the environment variable that
    holds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = Field(default=587, ge=1, le=65535, description="The SMTP server's port.")
    security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls",
        description="starttls (usually port 587), ssl = implicit TLS (465), none (a local relay).",
    )
    username: str | None = Field(
        default=None, description="The login, when the server wants one (with a password)."
    )
    password_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The environment variable holding the SMTP password (instead of "
        "password_secret).",
    )
    password_secret: str | None = Field(
        default=None,
        pattern=_SECRET_NAME,
        description="The name of the tenant secret holding the SMTP password.",
    )
    from_address: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+$", description="The sender's address (From:)."
    )
    from_name: str | None = Field(default=None, description="The sender's name (From:).")
    timeout: float = Field(default=10.0, gt=0, le=300, description="Seconds per socket operation.")
    ca_file: str | None = Field(
        default=None, description="PEM bundle to verify the server with, for a private CA."
    )

    @model_validator(mode="after")
    def _credentials_in_pairs(self) -> SmtpSettings:
        if self.password_env and self.password_secret:
            raise ValueError("give at most one of password_env and password_secret")
        if bool(self.username) != bool(self.password_env or self.password_secret):
            raise ValueError("username and password_env (or password_secret) go together")
        return self


def _smtp_code_retryable(code: int) -> bool:
    # RFC 5321: 4yz is a transient failure, 5yz a permanent one
    return 400 <= code < 500


# One table, most specific first: the exception, whether it is retryable, and what to say.
_ERRORS: tuple[tuple[type[BaseException], Callable[[BaseException], bool], str], ...] = (
    (smtplib.SMTPAuthenticationError, lambda e: False, "the SMTP server refused the credentials"),
    (smtplib.SMTPNotSupportedError, lambda e: False, "the SMTP server does not support this"),
    (
        smtplib.SMTPRecipientsRefused,
        lambda e: all(
            _smtp_code_retryable(code) for code, _ in getattr(e, "recipients", {}).values()
        ),
        "the SMTP server refused the recipient",
    ),
    (
        smtplib.SMTPResponseException,
        lambda e: _smtp_code_retryable(getattr(e, "smtp_code", 0)),
        "the SMTP server refused the message",
    ),
    (smtplib.SMTPServerDisconnected, lambda e: True, "the SMTP server disconnected"),
    (ssl.SSLCertVerificationError, lambda e: False, "the SMTP server's certificate is not trusted"),
    (TimeoutError, lambda e: True, "the SMTP server did not answer in time"),
    (socket.timeout, lambda e: True, "the SMTP server did not answer in time"),
    (OSError, lambda e: True, "cannot reach the SMTP server"),
    (smtplib.SMTPException, lambda e: True, "SMTP failed"),
)


class _Replying(smtplib.SMTP):
    """smtplib's client, keeping the server's reply to the end of the message's data."""

    last_reply = ""

    def data(self, msg: Buffer | str) -> tuple[int, bytes]:
        code, text = super().data(msg)
        self.last_reply = f"{code} {text.decode('utf-8', 'replace')[:200]}"
        return code, text


class _ReplyingSSL(_Replying, smtplib.SMTP_SSL):
    pass


class EmailChannel:
    """Sends each message as one plain-text email to `message.recipient`. See `Channel`."""

    name = "email"

    def __init__(
        self,
        settings: SmtpSettings,
        env: Mapping[str, str] | None = None,
        *,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        """`secrets`: the opened values of the tenant secrets the settings name, by name."""
        self.settings = settings
        self._password: str | None = None
        if settings.password_secret:
            self._password = (secrets or {}).get(settings.password_secret) or None
            if self._password is None:
                raise NotifyConfigError(
                    f"email: the SMTP password secret {settings.password_secret} is not set"
                )
        elif settings.password_env:
            env = os.environ if env is None else env
            self._password = env.get(settings.password_env) or None
            if self._password is None:
                raise NotifyConfigError(
                    f"email: set the SMTP password in the environment variable {settings.password_env}"
                )

    def close(self) -> None:
        # one connection per delivery: nothing is held between messages
        pass

    def compose(self, message: OutboundMessage) -> EmailMessage:
        email = EmailMessage()
        sender = self.settings.from_address
        email["From"] = (
            formataddr((self.settings.from_name, sender)) if self.settings.from_name else sender
        )
        email["To"] = message.recipient
        # a title rendered from a template may span lines; a header may not
        email["Subject"] = " ".join(message.title.split())
        email["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[1])
        # RFC 3834: machine-sent, so auto-responders should not answer it
        email["Auto-Submitted"] = "auto-generated"
        email["X-Renewflow-Type"] = message.notification_type
        email["X-Renewflow-Priority"] = message.priority
        if message.notification_id is not None:
            email["X-Renewflow-Notification"] = str(message.notification_id)
        email.set_content(message.message)
        return email

    def deliver(self, message: OutboundMessage) -> None:
        self.send(message)

    def send(self, message: OutboundMessage) -> str:
        """Delivers `message` like `deliver`, and returns the server's answer to it (the reply
        to DATA, e.g. "250 2.0.0 Ok: queued as 1234"): what a channel test reports."""
        try:
            email = self.compose(message)
        except ValueError as error:  # an address or header the email format cannot carry
            raise DeliveryError(
                f"email: the message cannot be written: {error}", retryable=False, channel="email"
            ) from None
        try:
            with self._connect() as smtp:
                if self.settings.security == "starttls":
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                if self.settings.username and self._password is not None:
                    smtp.login(self.settings.username, self._password)
                smtp.send_message(email)
                reply = smtp.last_reply
        except Exception as error:
            raise self._map(error) from None
        return reply or "accepted"

    def _connect(self) -> _Replying:
        s = self.settings
        if s.security == "ssl":
            return _ReplyingSSL(s.host, s.port, timeout=s.timeout, context=self._tls_context())
        return _Replying(s.host, s.port, timeout=s.timeout)

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _map(self, error: BaseException) -> DeliveryError:
        where = f"{self.settings.host}:{self.settings.port}"
        if isinstance(error, smtplib.SMTPServerDisconnected) and isinstance(
            error.__context__, TimeoutError
        ):
            # smtplib reports a read timeout as a disconnection; say what happened
            error = error.__context__
        for kind, retryable, text in _ERRORS:
            if isinstance(error, kind):
                detail = _smtp_detail(error)
                return DeliveryError(
                    f"email via {where}: {text}{detail}",
                    retryable=retryable(error),
                    channel=self.name,
                    # no answer at all: the next message to this server would wait as long
                    unreachable=isinstance(error, OSError)
                    and not isinstance(error, smtplib.SMTPException | ssl.SSLError),
                )
        return DeliveryError(
            f"email via {where}: {type(error).__name__}", retryable=False, channel=self.name
        )


def _smtp_detail(error: BaseException) -> str:
    code = getattr(error, "smtp_code", None)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()), (None, b""))
    else:
        text = getattr(error, "smtp_error", b"")
    if code is None:
        return ""
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f" ({code} {reply[:200]})"
