"""A real SMTP server (aiosmtpd) on loopback, with and without TLS, and a throwaway certificate."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "renewflow", "s3cret-smtp-password"


@dataclass
class Inbox:
    """Collects what the server accepted; `refuse` maps a recipient to the reply that refuses it."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "content": envelope.content,
                "authenticated": session.authenticated,
                "tls": server.transport.get_extra_info("ssl_object") is not None,
            }
        )
        return "250 Message accepted for delivery"


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    # handled=False: let the server send the 535 itself
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


SmtpServer = Callable[..., tuple[Inbox, int]]


@pytest.fixture
def smtp_server(certificate_or_none: tuple[Path, Path] | None) -> Iterator[SmtpServer]:
    controllers: list[Controller] = []

    def start(mode: str = "plain", **options: Any) -> tuple[Inbox, int]:
        inbox = Inbox()
        port = free_port()
        kwargs: dict[str, Any] = {
            "hostname": "127.0.0.1",
            "port": port,
            "authenticator": _authenticate,
        }
        if mode != "plain":
            assert certificate_or_none is not None
            cert, key = certificate_or_none
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            if mode == "starttls":
                kwargs |= {"tls_context": context, "require_starttls": True}
            else:
                kwargs |= {"ssl_context": context, "server_hostname": "127.0.0.1"}
        controller = Controller(inbox, **(kwargs | options))
        controller.start()
        controllers.append(controller)
        return inbox, port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def certificate_or_none(request: pytest.FixtureRequest) -> tuple[Path, Path] | None:
    if "tls" in request.node.name:
        cert: tuple[Path, Path] = request.getfixturevalue("certificate")
        return cert
    return None
