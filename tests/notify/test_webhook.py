"""WebhookChannel against a real HTTP server on loopback."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from renewflow.notify import (
    DeliveryError,
    NotifyConfigError,
    OutboundMessage,
    WebhookChannel,
    WebhookSettings,
)
from tests.llm.wire import Reply, WireServer

MESSAGE = OutboundMessage(
    recipient="#renewals",
    title="War room: Acme",
    message="Acme renews in 5 days; blocker: budget.",
    notification_type="war_room",
    priority="critical",
    metadata={"daysUntilRenewal": 5},
    dedupe_key="exec-1:war-room",
    notification_id=uuid.UUID("00000000-0000-4000-8000-0000000000aa"),
)


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer() as running:
        yield running


@pytest.fixture
def channels() -> Iterator[list[WebhookChannel]]:
    made: list[WebhookChannel] = []
    yield made
    for channel in made:
        channel.close()


def _channel(
    made: list[WebhookChannel], settings: WebhookSettings, env: dict[str, str] | None = None
) -> WebhookChannel:
    channel = WebhookChannel(settings, env or {})
    made.append(channel)
    return channel


def test_json_body_delivered_on_2xx(server: WireServer, channels: list[WebhookChannel]) -> None:
    server.script(Reply(204, ""))
    _channel(channels, WebhookSettings(url=f"{server.url}/hooks/renewals")).deliver(MESSAGE)
    [sent] = server.received
    assert sent.path == "/hooks/renewals"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["idempotency-key"] == str(MESSAGE.notification_id)
    assert sent.body == {
        "type": "war_room",
        "title": "War room: Acme",
        "message": "Acme renews in 5 days; blocker: budget.",
        "priority": "critical",
        "recipient": "#renewals",
        "metadata": {"daysUntilRenewal": 5},
        "dedupe_key": "exec-1:war-room",
        "notification_id": str(MESSAGE.notification_id),
        "workflow_execution_id": None,
        "customer_id": None,
    }


def test_slack_body_and_secret_url_and_header_from_env(
    server: WireServer, channels: list[WebhookChannel]
) -> None:
    server.script(Reply(200, "ok"), Reply(500, "oops"))
    settings = WebhookSettings(
        url_env="SLACK_WEBHOOK_URL",
        format="slack",
        secret_header="Authorization",
        secret_env="HOOK_TOKEN",
    )
    env = {
        "SLACK_WEBHOOK_URL": f"{server.url}/services/T000/B000/XXXXSECRET",
        "HOOK_TOKEN": "Bearer tok-123",
    }
    channel = _channel(channels, settings, env)
    channel.deliver(MESSAGE)
    assert server.received[0].body == {
        "text": "*War room: Acme*\nAcme renews in 5 days; blocker: budget."
    }
    assert server.received[0].headers["authorization"] == "Bearer tok-123"
    # a failure names the host, never the secret path
    with pytest.raises(DeliveryError) as caught:
        channel.deliver(MESSAGE)
    assert "XXXXSECRET" not in str(caught.value)
    assert server.url in str(caught.value)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (503, True),
        (429, True),
        (408, True),
        (400, False),
        (404, False),
        (410, False),
        (302, False),
    ],
)
def test_failures_and_whether_to_retry(
    server: WireServer, channels: list[WebhookChannel], status: int, retryable: bool
) -> None:
    server.script(Reply(status, {"error": "x"}, {"Retry-After": "30"} if status == 429 else {}))
    with pytest.raises(DeliveryError, match=f"HTTP {status}") as caught:
        _channel(channels, WebhookSettings(url=f"{server.url}/hook")).deliver(MESSAGE)
    assert caught.value.retryable is retryable
    assert caught.value.retry_after == (30.0 if status == 429 else None)
    assert len(server.received) == 1  # the channel itself never retries


def test_timeout_is_retryable(server: WireServer, channels: list[WebhookChannel]) -> None:
    server.script(Reply(200, "late", delay=3))
    with pytest.raises(DeliveryError, match=r"no answer within 0\.3s") as caught:
        _channel(channels, WebhookSettings(url=f"{server.url}/hook", timeout=0.3)).deliver(MESSAGE)
    assert caught.value.retryable is True


def test_connection_refused_is_retryable(channels: list[WebhookChannel]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeliveryError, match="cannot connect") as caught:
        _channel(channels, WebhookSettings(url=f"http://127.0.0.1:{port}/hook")).deliver(MESSAGE)
    assert caught.value.retryable is True


def test_settings_validation() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        WebhookSettings()
    with pytest.raises(ValidationError, match="exactly one"):
        WebhookSettings(url="http://a/b", url_env="X")
    with pytest.raises(ValidationError, match="go together"):
        WebhookSettings(url="http://a/b", secret_header="Authorization")
    with pytest.raises(NotifyConfigError, match="SLACK_URL"):
        WebhookChannel(WebhookSettings(url_env="SLACK_URL"), {})
    with pytest.raises(NotifyConfigError, match="http"):
        WebhookChannel(WebhookSettings(url="ftp://example.com/x"), {})
