"""EmailChannel against a real SMTP server on loopback (aiosmtpd): plain, STARTTLS with login,
implicit TLS, refusals, unreachable and silent servers."""

from __future__ import annotations

import email
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from pydantic import ValidationError

from renewflow.notify import (
    DeliveryError,
    EmailChannel,
    NotifyConfigError,
    OutboundMessage,
    SmtpSettings,
)
from tests.notify.conftest import PASSWORD, USER, SmtpServer, free_port

MESSAGE = OutboundMessage(
    recipient="manager@example.com",
    title="Renewal at risk: Acme",
    message="Acme renews in 10 days and the CFO has not signed.\nPlease step in.",
    notification_type="escalation",
    priority="urgent",
    notification_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
)


def _settings(port: int, **overrides: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "renewals@renewflow.example",
        "from_name": "Renewflow",
        "timeout": 5,
    }
    return SmtpSettings.model_validate(values | overrides)


def _parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw)


def test_plain_delivery(smtp_server: SmtpServer) -> None:
    inbox, port = smtp_server()
    EmailChannel(_settings(port)).deliver(MESSAGE)
    [received] = inbox.messages
    assert received["tls"] is False
    assert received["to"] == ["manager@example.com"]
    assert received["from"] == "renewals@renewflow.example"
    parsed = _parse(received["content"])
    assert parsed["Subject"] == "Renewal at risk: Acme"
    assert parsed["From"] == "Renewflow <renewals@renewflow.example>"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-Renewflow-Type"] == "escalation"
    assert parsed["X-Renewflow-Notification"] == str(MESSAGE.notification_id)
    assert "Please step in." in parsed.get_payload()


def test_starttls_with_login(smtp_server: SmtpServer, certificate: tuple[Path, Path]) -> None:
    inbox, port = smtp_server("starttls")
    settings = _settings(
        port,
        security="starttls",
        username=USER,
        password_env="SMTP_PASSWORD",
        ca_file=str(certificate[0]),
    )
    EmailChannel(settings, env={"SMTP_PASSWORD": PASSWORD}).deliver(MESSAGE)
    [received] = inbox.messages
    assert received["tls"] is True
    assert received["authenticated"] is True


def test_starttls_wrong_password_is_permanent_and_secret_free(
    smtp_server: SmtpServer, certificate: tuple[Path, Path]
) -> None:
    inbox, port = smtp_server("starttls")
    settings = _settings(
        port,
        security="starttls",
        username=USER,
        password_env="SMTP_PASSWORD",
        ca_file=str(certificate[0]),
    )
    with pytest.raises(DeliveryError, match="refused the credentials") as caught:
        EmailChannel(settings, env={"SMTP_PASSWORD": "wrong-password-xyz"}).deliver(MESSAGE)
    assert caught.value.retryable is False
    assert "wrong-password-xyz" not in str(caught.value)
    assert inbox.messages == []


def test_starttls_untrusted_certificate_is_permanent(
    smtp_server: SmtpServer, certificate: tuple[Path, Path]
) -> None:
    _inbox, port = smtp_server("starttls")
    with pytest.raises(DeliveryError, match="not trusted") as caught:
        EmailChannel(_settings(port, security="starttls")).deliver(MESSAGE)
    assert caught.value.retryable is False


def test_implicit_tls(smtp_server: SmtpServer, certificate: tuple[Path, Path]) -> None:
    inbox, port = smtp_server("ssl")
    EmailChannel(_settings(port, security="ssl", ca_file=str(certificate[0]))).deliver(MESSAGE)
    assert [m["tls"] for m in inbox.messages] == [True]
    # and speaking plain SMTP to it gets nowhere: the encryption was real
    with pytest.raises(DeliveryError):
        EmailChannel(_settings(port, timeout=0.5)).deliver(MESSAGE)
    assert len(inbox.messages) == 1


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [("550 5.1.1 No such user", False), ("451 4.3.0 Try again later", True)],
)
def test_refused_recipient(smtp_server: SmtpServer, reply: str, retryable: bool) -> None:
    inbox, port = smtp_server()
    inbox.refuse["manager@example.com"] = reply
    with pytest.raises(DeliveryError, match=reply.split(maxsplit=1)[0]) as caught:
        EmailChannel(_settings(port)).deliver(MESSAGE)
    assert caught.value.retryable is retryable
    assert caught.value.channel == "email"


def test_unreachable_server_is_retryable() -> None:
    with pytest.raises(DeliveryError, match="cannot reach") as caught:
        EmailChannel(_settings(free_port())).deliver(MESSAGE)
    assert caught.value.retryable is True


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_silent_server_times_out_retryably(silent_server: int) -> None:
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="in time") as caught:
        EmailChannel(_settings(silent_server, timeout=0.3)).deliver(MESSAGE)
    assert caught.value.retryable is True
    assert time.monotonic() - started < 2


def test_password_comes_from_the_environment_only() -> None:
    with pytest.raises(ValidationError):
        SmtpSettings.model_validate(
            {"host": "h", "from_address": "a@b.c", "username": "u", "password": "p"}
        )
    with pytest.raises(ValidationError, match="go together"):
        SmtpSettings(host="h", from_address="a@b.c", username="u")
    settings = SmtpSettings(host="h", from_address="a@b.c", username="u", password_env="SMTP_PW")
    with pytest.raises(NotifyConfigError, match="SMTP_PW"):
        EmailChannel(settings, env={})
    assert "p4ss" not in repr(EmailChannel(settings, env={"SMTP_PW": "p4ss"}).settings)
