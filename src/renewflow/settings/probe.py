"""Testing a tenant's channels and LLM provider for real: one message through the configured
SMTP server or webhook, one tiny LLM call. A failure is an answer (what the receiver said), not
an error: the caller reports it. Nothing here holds a database connection while a server
answers; the caller reads the settings first and closes its transaction.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from renewflow.db import Database
from renewflow.llm import LLMCall, LLMClient, LLMError, LLMRequest, provider_from_settings
from renewflow.llm.recording import record_calls
from renewflow.notify import (
    DeliveryError,
    EmailChannel,
    NotifyConfigError,
    OutboundMessage,
    WebhookChannel,
)
from renewflow.settings.errors import SecretKeyMissing, SecretUnreadable
from renewflow.settings.model import TenantSettings

# A test answers within this, whatever the channel's own timeout: a person is waiting.
TEST_TIMEOUT = 10.0

TestedChannel = Literal["email", "webhook"]


@dataclass(frozen=True)
class ChannelTest:
    channel: str
    ok: bool
    # the server or URL (scheme and host only: a webhook's path may be its credential)
    target: str | None
    # what the receiving end answered (its SMTP reply, its HTTP status and body), if it did
    answer: str | None
    error: str | None
    latency_ms: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _message(recipient: str, channel: str) -> OutboundMessage:
    return OutboundMessage(
        recipient=recipient,
        title="renewflow test message",
        message=(
            f"This is a test of the {channel} channel of your renewflow tenant, sent from its "
            "settings. Nothing needs doing."
        ),
        notification_type="settings-test",
        priority="low",
        metadata={"test": True},
    )


def probe_channel(settings: TenantSettings, channel: TestedChannel, to: str) -> ChannelTest:
    """Sends one test message through the tenant's `channel` (email to `to`); reports what the
    receiver answered. Never raises for the channel's own failures."""
    started = time.monotonic()

    def answer(
        ok: bool, target: str | None, said: str | None, error: str | None = None
    ) -> ChannelTest:
        elapsed = int((time.monotonic() - started) * 1000)
        return ChannelTest(channel, ok, target, said, error, elapsed)

    section = "notifications.smtp" if channel == "email" else "notifications.webhook"
    problem = settings.problem(section)
    if problem is not None:
        return answer(False, None, None, f"the stored settings are invalid: {problem}")
    try:
        if channel == "email":
            smtp = settings.notifications.smtp
            if smtp is None:
                return answer(False, None, None, "email is not configured: set notifications.smtp")
            smtp = smtp.model_copy(update={"timeout": min(smtp.timeout, TEST_TIMEOUT)})
            target = f"smtp://{smtp.host}:{smtp.port}"
            email = EmailChannel(smtp, secrets=settings.opened(smtp.password_secret))
            return answer(True, target, email.send(_message(to, "email")))
        hook = settings.notifications.webhook
        if hook is None:
            return answer(
                False, None, None, "the webhook is not configured: set notifications.webhook"
            )
        hook = hook.model_copy(update={"timeout": min(hook.timeout, TEST_TIMEOUT)})
        webhook = WebhookChannel(
            hook, secrets=settings.opened(hook.url_secret, hook.header_secret, hook.signing_secret)
        )
        target = webhook.where
        try:
            return answer(True, target, webhook.send(_message(to, "webhook")))
        finally:
            webhook.close()
    except DeliveryError as error:
        return answer(False, locals().get("target"), error.answer, str(error))
    except (NotifyConfigError, SecretKeyMissing, SecretUnreadable) as error:
        return answer(False, locals().get("target"), None, str(error))


@dataclass(frozen=True)
class LLMTest:
    ok: bool
    provider: str
    model: str | None
    latency_ms: int
    cost_usd: Decimal | None
    input_tokens: int | None
    output_tokens: int | None
    answer: str | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe_llm(database: Database, tenant_id: UUID, settings: TenantSettings) -> LLMTest:
    """One tiny call to the tenant's LLM provider, recorded in `llm_calls` like any other (its
    cost is the tenant's); reports the model that answered, the latency and the cost."""
    llm = settings.llm
    started = time.monotonic()
    calls: list[LLMCall] = []

    def failed(error: str) -> LLMTest:
        elapsed = int((time.monotonic() - started) * 1000)
        return LLMTest(False, llm.provider, llm.model, elapsed, None, None, None, None, error)

    problem = settings.problem("llm")
    if problem is not None:
        return failed(f"the stored settings are invalid: {problem}")
    try:
        # one attempt: a test that retries for a minute answers nobody
        once = llm.model_copy(update={"max_retries": 0, "timeout": min(llm.timeout, 30.0)})
        provider = provider_from_settings(once, api_key=settings.llm_api_key())
    except LLMError as error:
        return failed(str(error))
    with LLMClient(provider) as client:
        try:
            response = client.complete(
                LLMRequest(
                    prompt="Reply with the single word: ok",
                    system="You are a connectivity check. Answer in one word.",
                    max_tokens=16,
                ),
                deferred=calls,
            )
        except LLMError as error:
            _record(database, tenant_id, calls)
            return failed(str(error))
    _record(database, tenant_id, calls)
    call = calls[0] if calls else None
    return LLMTest(
        ok=True,
        provider=llm.provider,
        model=response.model,
        latency_ms=call.latency_ms if call else response.latency_ms,
        cost_usd=call.cost_usd if call else None,
        input_tokens=response.input_tokens,
        output_tokens=response.output_tokens,
        answer=response.text[:200],
        error=None,
    )


def _record(database: Database, tenant_id: UUID, calls: list[LLMCall]) -> None:
    if calls:
        with database.tenant_transaction(tenant_id) as conn:
            record_calls(conn, calls)
