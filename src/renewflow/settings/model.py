"""A tenant's settings as one typed, validated object (`TenantSettings`), and `read_settings`,
the one function every reader of `tenants.settings` goes through.

Stored shape: `tenants.settings` (jsonb) holds every key below except `display_name` and
`time_zone`, which are the columns `tenants.name` and `tenants.time_zone` (the set-based sweeps
read them in SQL). Only what was set is stored: a key left out has its default.

The flat keys of earlier versions (`vpCustomerSuccess`, `ceo`, `warRoom`,
`snooze_deadline_days`) are moved into `company` and `tasks` by migration 0020; `read_settings`
still reads them (a setting written by hand with SQL, as the old documentation said), and the
next change through the API or the CLI stores them in the new shape.
"""

from __future__ import annotations

import copy
from datetime import time
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from renewflow.llm.settings import LLMSettings
from renewflow.notify.smtp import SmtpSettings
from renewflow.notify.webhook import WebhookSettings
from renewflow.settings.secrets import SealedSecret, SecretName

# No comma (recipient lists are split on commas), no white space; as users.email, at most 320.
EMAIL_PATTERN = r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$"
Email = Annotated[
    str, StringConstraints(pattern=EMAIL_PATTERN, max_length=320, strip_whitespace=True)
]
# A war room is a mailing list or a chat channel (#renewals-war-room).
WarRoom = Annotated[
    str,
    StringConstraints(
        pattern=rf"(^#[A-Za-z0-9][A-Za-z0-9._-]{{0,79}}$)|({EMAIL_PATTERN})",
        max_length=320,
        strip_whitespace=True,
    ),
]
Priority = Literal["low", "medium", "high", "urgent", "critical"]
ChannelName = Literal["in_app", "email", "webhook"]
# A host name (RFC 1123 labels), an IPv4 address or a bracketed IPv6 one.
_HOST = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^\[[0-9A-Fa-f:.]+\]$"

# Where each key lives when it is not in `tenants.settings`.
COLUMNS = {"display_name": "name", "time_zone": "time_zone"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str | None) -> str | None:
    from urllib.parse import urlsplit

    if value is None:
        return value
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise ValueError("not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("must be an http:// or https:// URL with a host")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain white space")
    return value


class Company(_Section):
    """The people escalations reach, as templates name them (`{{company.vpCustomerSuccess}}`,
    `{{company.ceo}}`, `{{company.warRoom}}`)."""

    vp_customer_success: Email | None = Field(
        default=None,
        description="The VP Customer Success: `{{company.vpCustomerSuccess}}` (VP escalations).",
    )
    ceo: Email | None = Field(
        default=None, description="The CEO: `{{company.ceo}}` (the last rungs of the ladder)."
    )
    war_room: WarRoom | None = Field(
        default=None,
        description="The war room, an address or a channel (#name): `{{company.warRoom}}`.",
    )


class TenantSmtp(SmtpSettings):
    """The SMTP server notifications of type email go out through."""

    host: str = Field(pattern=_HOST, max_length=253, description="The SMTP server's host name.")
    from_address: Email = Field(description="The sender's address (From:).")


class TenantLLM(LLMSettings):
    """The LLM provider (docs/llm.md): the key is a tenant secret (`api_key_secret`) or an
    environment variable of the server (`api_key_env`), never a setting."""

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value)


class TenantWebhook(WebhookSettings):
    """The webhook notifications of type slack go out through (format slack: a Slack incoming
    webhook; json: renewflow's own body, optionally signed)."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value)


class QuietHours(_Section):
    """Reserved: nothing reads it yet (notifications go out when they fire)."""

    start: time = Field(description="Local time (the tenant's time zone) quiet hours begin.")
    end: time = Field(description="Local time they end.")


class Notifications(_Section):
    """Delivery channels, and defaults for notifications."""

    smtp: TenantSmtp | None = Field(default=None, description="Email delivery (SMTP).")
    webhook: TenantWebhook | None = Field(
        default=None, description="Webhook delivery (Slack or generic JSON)."
    )
    quiet_hours: QuietHours | None = Field(default=None, description="Reserved: not read yet.")
    channels: dict[Priority, list[ChannelName]] | None = Field(
        default=None,
        description="Reserved, not read yet: the channels for each priority. Today each "
        "notification's own type decides its channel.",
    )


class WebhookEndpoint(_Section):
    """An endpoint the post-webhook task processor may call (`metadata.webhook` names it)."""

    url: str | None = Field(default=None, max_length=2048, description="The URL to POST to.")
    url_secret: SecretName | None = Field(
        default=None, description="The tenant secret holding the URL (instead of url)."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra, non-secret headers.")
    signing_secret: SecretName | None = Field(
        default=None,
        description="The tenant secret each body is signed with (X-Renewflow-Signature).",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookEndpoint:
        if (self.url is None) == (self.url_secret is None):
            raise ValueError("give exactly one of url and url_secret")
        return self


class Tasks(_Section):
    """Action-plan tasks (docs/tasks.md)."""

    snooze_deadline_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Days after a task's first snooze when a decision is required.",
    )


class Retention(_Section):
    """How long run data is kept: the daily retention job (docs/agents.md) deletes older rows.
    Unset: kept for good."""

    notifications_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Days delivered (sent or acknowledged) notifications are kept.",
    )
    llm_calls_days: int | None = Field(
        default=None, ge=1, le=3650, description="Days LLM call records are kept."
    )
    ledger_days: int | None = Field(
        default=None, ge=1, le=3650, description="Days the autonomous-run ledger's rows are kept."
    )
    chat_threads_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Days ended (completed or abandoned) chat threads are kept.",
    )
    audit_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Days the settings audit trail is kept (reserved).",
    )


class Budget(_Section):
    """The LLM spend allowed per UTC day and month, over every call (docs/agents.md): past
    `alert_percent` the admins are told once per period; once spent, autonomous and scheduled
    LLM work pauses until the next period or a raised budget."""

    llm_monthly_usd: Decimal | None = Field(
        default=None,
        ge=0,
        le=10_000_000,
        decimal_places=2,
        description="The LLM spend a calendar month (UTC) may reach, in US dollars.",
    )
    llm_daily_usd: Decimal | None = Field(
        default=None,
        ge=0,
        le=10_000_000,
        decimal_places=2,
        description="The LLM spend a day (UTC) may reach, in US dollars.",
    )
    alert_percent: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="The share of a budget at which admins are warned (unset: 80).",
    )


class TenantSettings(_Section):
    """Everything that differs per tenant."""

    display_name: str = Field(
        default="",
        max_length=255,
        description="The tenant's name, as the console and the messages show it.",
    )
    time_zone: str = Field(
        default="UTC",
        description="IANA time zone: renewal days, schedules and the console's dates follow it.",
    )
    default_currency: str = Field(
        default="USD",
        pattern=r"^[A-Z]{3}$",
        description="Reserved, not read yet: ISO 4217 code (each contract has its own currency).",
    )
    company: Company = Field(default_factory=Company)
    llm: TenantLLM = Field(default_factory=TenantLLM, description="The LLM provider (docs/llm.md).")
    notifications: Notifications = Field(default_factory=Notifications)
    webhooks: dict[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")],
        WebhookEndpoint,
    ] = Field(
        default_factory=dict, description="Endpoints the post-webhook task processor may call."
    )
    tasks: Tasks = Field(default_factory=Tasks)
    retention: Retention = Field(default_factory=Retention)
    budget: Budget = Field(default_factory=Budget)
    secrets: dict[SecretName, SealedSecret] = Field(
        default_factory=dict,
        description="Write-only: set with a string, removed with null; a read shows when each "
        "was set, never its value.",
    )
    demo: dict[str, Any] | None = Field(
        default=None, description="Set by `renewflow demo load`: marks the demo tenant."
    )

    # sections that did not validate when read from storage: (dotted key, reason)
    _problems: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Europe/Paris)"
            ) from None
        return value

    @property
    def problems(self) -> dict[str, str]:
        return dict(self._problems)

    def problem(self, key: str) -> str | None:
        """Why the stored section `key` (or one above it) could not be read, if it could not."""
        parts = key.split(".")
        for end in range(len(parts), 0, -1):
            found = self._problems.get(".".join(parts[:end]))
            if found is not None:
                return f"{'.'.join(parts[:end])}: {found}"
        return self._problems.get("")

    def secret(self, name: str) -> str:
        """The opened value of the tenant secret `name` (SecretUnreadable, SecretKeyMissing)."""
        from renewflow.settings.errors import SecretUnreadable
        from renewflow.settings.secrets import reveal

        sealed = self.secrets.get(name)
        if sealed is None:
            raise SecretUnreadable(f"no secret named {name!r} is set")
        return reveal(name, sealed)

    def opened(self, *names: str | None) -> dict[str, str]:
        """The opened values of the named secrets that are set (for a channel's `secrets=`)."""
        return {name: self.secret(name) for name in names if name and name in self.secrets}

    def llm_api_key(self) -> str | None:
        """The LLM API key when `llm.api_key_secret` names a secret (LLMConfigError otherwise
        if it cannot be opened); None when the key comes from the environment."""
        from renewflow.llm.errors import LLMConfigError
        from renewflow.settings.errors import SecretKeyMissing, SecretUnreadable

        name = self.llm.api_key_secret
        if not name:
            return None
        try:
            return self.secret(name)
        except (SecretKeyMissing, SecretUnreadable) as error:
            raise LLMConfigError(f"llm: {error}", provider=self.llm.provider) from None


# --- reading what is stored -------------------------------------------------------------------

LEGACY_KEYS = {
    "vpCustomerSuccess": ("company", "vp_customer_success"),
    "ceo": ("company", "ceo"),
    "warRoom": ("company", "war_room"),
    "snooze_deadline_days": ("tasks", "snooze_deadline_days"),
}


def normalize(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored document in the current shape: the flat keys of earlier versions moved into
    their sections (a value already in the section wins), the same move as migration 0020; a
    top-level null is a key not set, as in a merge patch (`{"notifications": null}`: the
    delivery job's slice of a tenant that configured no channel, or SQL written by hand)."""
    if None in stored.values():
        stored = {key: value for key, value in stored.items() if value is not None}
    if not any(key in stored for key in LEGACY_KEYS):
        return stored
    doc = dict(stored)
    for old, (section, key) in LEGACY_KEYS.items():
        if old not in doc:
            continue
        value = doc.pop(old)
        target = doc.get(section)
        if target is None:
            target = {}
        if isinstance(target, dict) and value is not None:
            doc[section] = {key: value, **target}
    return doc


# The last settings read, by what they were read from: the sweep reads the same tenant's
# settings once per customer. One slot, replaced whole (a single assignment: thread-safe).
_last: list[tuple[Any, TenantSettings] | None] = [None]


def read_settings(
    stored: Any, *, display_name: str | None = None, time_zone: str | None = None
) -> TenantSettings:
    """The typed settings of what `tenants.settings` holds (and, when given, its name and time
    zone columns). Never raises: a section that does not validate is read as its default and
    kept in `problems` with the reason, so one broken section (say, the SMTP server's) fails
    only what needs it (that channel's deliveries), which names it."""
    previous = _last[0]
    key = (stored, display_name, time_zone)
    if previous is not None and previous[0] == key:
        return previous[1]
    doc: dict[str, Any]
    problems: dict[str, str] = {}
    if isinstance(stored, dict):
        doc = normalize(stored)
    else:
        doc = {}
        if stored is not None:
            problems[""] = "tenants.settings must be an object"
    columns = {
        name: value
        for name, value in (("display_name", display_name), ("time_zone", time_zone))
        if value is not None
    }
    try:
        settings = TenantSettings.model_validate({**doc, **columns})
    except ValidationError:
        settings = _lenient(doc, columns, problems)
    settings._problems.update(problems)
    # a copy: the caller may change its dictionary afterwards
    _last[0] = ((copy.deepcopy(stored), display_name, time_zone), settings)
    return settings


# Sections read on their own when the whole does not validate (a container's parts, each alone).
_CONTAINERS: dict[str, type[BaseModel]] = {"notifications": Notifications}
# Maps whose entries are read each alone (one broken endpoint leaves the others usable).
_MAPS = frozenset({"webhooks", "secrets"})


def _lenient(
    doc: dict[str, Any], columns: dict[str, Any], problems: dict[str, str]
) -> TenantSettings:
    good: dict[str, Any] = {}
    fields = TenantSettings.model_fields
    for key, value in {**doc, **columns}.items():
        if key not in fields:
            problems[key] = "unknown setting"
            continue
        container = _CONTAINERS.get(key)
        if container is not None:
            good[key] = _section(container, key, value, problems)
            continue
        if key in _MAPS and isinstance(value, dict):
            good[key] = _entries(key, value, problems)
            continue
        try:
            TenantSettings.model_validate({key: value})
        except ValidationError as error:
            problems[key] = _first(error)
        else:
            good[key] = value
    return TenantSettings.model_validate(good)


def _entries(key: str, value: dict[str, Any], problems: dict[str, str]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, item in value.items():
        try:
            TenantSettings.model_validate({key: {name: item}})
        except ValidationError as error:
            problems[f"{key}.{name}"] = _first(error)
        else:
            kept[name] = item
    return kept


def _section(
    model: type[BaseModel], prefix: str, value: Any, problems: dict[str, str]
) -> dict[str, Any]:
    if not isinstance(value, dict):
        problems[prefix] = "must be an object"
        return {}
    kept: dict[str, Any] = {}
    for key, item in value.items():
        field = model.model_fields.get(key)
        if field is None:
            problems[f"{prefix}.{key}"] = "unknown setting"
            continue
        try:
            # the field's own constraints too (they live on the FieldInfo, not its annotation)
            TypeAdapter(Annotated[field.annotation or Any, field]).validate_python(item)  # type: ignore[arg-type]  # built at run time
        except ValidationError as error:
            problems[f"{prefix}.{key}"] = _first(error)
        except RecursionError:
            problems[f"{prefix}.{key}"] = "nested too deep"
        else:
            kept[key] = item
    return kept


def _first(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first['msg']}" if where else str(first["msg"])
