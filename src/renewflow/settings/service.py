"""Reading, changing and auditing a tenant's settings, in the caller's tenant transaction.

`update_settings` applies a JSON Merge Patch (RFC 7396) as a whole or not at all: every error
is reported at its dotted key (`ValidationFailed`), secrets given as plain strings are sealed
before anything is stored, and the new settings and the record of which keys changed, by whom,
are written by one statement. Secret values are never returned, logged or audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb
from pydantic import ValidationError

from renewflow.db import Connection, load_queries
from renewflow.errors import ValidationFailed
from renewflow.settings.errors import TenantNotFound
from renewflow.settings.model import COLUMNS, TenantSettings, read_settings
from renewflow.settings.patch import changed_keys, merge_patch
from renewflow.settings.secrets import VALUE_MAX, Keyring, SealedSecret, require_keyring

_Q = load_queries("renewflow.settings")

SECRET_NAME_MAX = 64


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a user of the tenant (API, console) or an operator (CLI)."""

    label: str
    user_id: UUID | None = None


def load(conn: Connection) -> TenantSettings:
    """The transaction's tenant's settings (its name and time zone included)."""
    row = conn.execute(_Q["tenant"]).fetchone()
    if row is None:
        raise TenantNotFound()
    return read_settings(row["settings"], display_name=row["name"], time_zone=row["time_zone"])


def view(settings: TenantSettings) -> dict[str, Any]:
    """The settings as a read shows them: every key with its value or default; for each secret
    only that it is set, when and by whom; sections stored in a shape that does not validate
    listed under `invalid` (they read as their defaults until corrected)."""
    shown = settings.model_dump(mode="json", exclude={"secrets", "demo"})
    shown["secrets"] = {name: sealed.status() for name, sealed in sorted(settings.secrets.items())}
    if settings.problems:
        shown["invalid"] = dict(sorted(settings.problems.items()))
    return shown


def stored_document(settings: TenantSettings) -> dict[str, Any]:
    """What `tenants.settings` holds for `settings`: the keys that were set, in the current
    shape, without the two that are columns."""
    return _pruned(settings.model_dump(mode="json", exclude_unset=True, exclude=set(COLUMNS)))


def _pruned(doc: dict[str, Any]) -> dict[str, Any]:
    """Without empty objects: an empty section is the same as none."""
    kept = {}
    for key, value in doc.items():
        kept_value = _pruned(value) if isinstance(value, dict) else value
        if kept_value == {}:
            continue
        kept[key] = kept_value
    return kept


def update_settings(
    conn: Connection, patch: Any, actor: Actor, *, keyring: Keyring | None = None
) -> tuple[TenantSettings, list[str]]:
    """Applies `patch` (a JSON Merge Patch) to the transaction's tenant's settings; returns the
    new settings and the dotted keys that changed (none: nothing was written). A string under
    `secrets.<name>` sets that secret (sealed at once), null removes it."""
    if not isinstance(patch, dict):
        raise ValidationFailed([("body", "a JSON Merge Patch of the settings is an object")])
    row = conn.execute(_Q["tenant_for_update"]).fetchone()
    if row is None:
        raise TenantNotFound()
    current = read_settings(row["settings"], display_name=row["name"], time_zone=row["time_zone"])
    # merged into what is stored (in the current shape), not into the defaults: a default
    # stays a default, and moves with the code
    before = {
        **_stored_shape(row["settings"]),
        "display_name": row["name"],
        "time_zone": row["time_zone"],
    }
    errors: list[tuple[str, str]] = []
    secrets_patch = patch.get("secrets")
    rest = {key: value for key, value in patch.items() if key != "secrets"}
    if "demo" in rest:
        errors.append(("demo", "set by `renewflow demo load` only"))
        rest.pop("demo")
    after = merge_patch(before, rest)
    secrets, secret_errors = _apply_secrets(current.secrets, secrets_patch, actor, keyring)
    errors += secret_errors
    if secrets:
        after["secrets"] = secrets
    else:
        after.pop("secrets", None)
    if not str(after.get("display_name") or "").strip():
        errors.append(("display_name", "must not be empty"))
    updated: TenantSettings | None = None
    try:
        updated = TenantSettings.model_validate(after)
    except ValidationError as error:
        errors += _errors(error)
    if updated is not None:
        errors += _missing_references(updated)
    if errors:
        raise ValidationFailed(_unique(errors))
    assert updated is not None
    document = stored_document(updated)
    keys = changed_keys(
        {**_stored_shape(row["settings"]), **_columns(row)},
        {**document, "display_name": updated.display_name, "time_zone": updated.time_zone},
    )
    if not keys:
        return current, []
    conn.execute(
        _Q["write_settings"],
        {
            "name": updated.display_name.strip(),
            "time_zone": updated.time_zone,
            "settings": Jsonb(document),
            "actor_user_id": actor.user_id,
            "actor": actor.label[:320],
            "keys": keys,
        },
    )
    return load(conn), keys


def list_changes(
    conn: Connection, *, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """The audit trail of the transaction's tenant's settings, newest first, with the total."""
    rows = conn.execute(_Q["list_changes"], {"limit": limit, "offset": offset}).fetchall()
    total = int(rows[0]["total_count"]) if rows else 0
    return [{k: v for k, v in row.items() if k != "total_count"} for row in rows], total


@dataclass(frozen=True)
class Rotation:
    tenants: int
    resealed: int
    key_id: str


def rotate_secrets(conn: Connection, keyring: Keyring | None = None, *, actor: str) -> Rotation:
    """Seals every tenant's secrets again under the current key (a service transaction: all
    tenants, all or nothing). A secret already under the current key is left as it is; one
    sealed under a key this process lacks fails the rotation, naming it, and nothing changes."""
    ring = keyring or require_keyring()
    tenants = resealed = 0
    for row in conn.execute(_Q["tenants_with_secrets"]).fetchall():
        stored = row["secrets"] if isinstance(row["secrets"], dict) else {}
        fresh: dict[str, Any] = {}
        keys: list[str] = []
        for name, value in stored.items():
            sealed = SealedSecret.model_validate(value)
            if sealed.kid == ring.primary_id:
                fresh[name] = value
                continue
            fresh[name] = ring.reseal(name, sealed).model_dump(mode="json", exclude_unset=True)
            keys.append(f"secrets.{name}")
        if keys:
            conn.execute(
                _Q["write_secrets"],
                {
                    "tenant_id": row["id"],
                    "secrets": Jsonb(fresh),
                    "actor": actor[:320],
                    "keys": sorted(keys),
                },
            )
            tenants += 1
            resealed += len(keys)
    return Rotation(tenants, resealed, ring.primary_id)


def undeliverable_count(conn: Connection) -> int:
    """Notifications of the last 30 days that reached nobody because an address is missing."""
    row = conn.execute(_Q["undeliverable_for_want_of_recipients"]).fetchone()
    return int(row["n"]) if row else 0


# --- helpers ----------------------------------------------------------------------------------


def _stored_shape(stored: Any) -> dict[str, Any]:
    from renewflow.settings.model import normalize

    return dict(normalize(stored)) if isinstance(stored, dict) else {}


def _columns(row: dict[str, Any]) -> dict[str, Any]:
    return {"display_name": row["name"], "time_zone": row["time_zone"]}


def _apply_secrets(
    current: dict[str, SealedSecret], patch: Any, actor: Actor, keyring: Keyring | None
) -> tuple[dict[str, SealedSecret], list[tuple[str, str]]]:
    secrets = dict(current)
    if patch is None:
        return secrets, []
    if not isinstance(patch, dict):
        return secrets, [("secrets", "an object of secret names to values (or null to remove)")]
    errors: list[tuple[str, str]] = []
    ring = keyring
    for name, value in patch.items():
        field = f"secrets.{name}"
        if not _valid_name(name):
            errors.append(
                (field, "a secret's name is letters, digits, _ and -, at most 64 characters")
            )
        elif value is None:
            secrets.pop(name, None)
        elif not isinstance(value, str) or not value:
            errors.append((field, "must be the secret's value (a non-empty string), or null"))
        elif len(value) > VALUE_MAX or "\x00" in value:
            errors.append((field, f"must be at most {VALUE_MAX} characters, without NUL"))
        else:
            ring = ring or require_keyring()
            secrets[name] = ring.seal(name, value, by=actor.label[:320])
    return secrets, errors


def _valid_name(name: str) -> bool:
    import re

    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name) is not None


# Where settings name a secret: (section getter, field), as dotted keys.
def _references(settings: TenantSettings) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = [("llm.api_key_secret", settings.llm.api_key_secret)]
    smtp, hook = settings.notifications.smtp, settings.notifications.webhook
    if smtp is not None:
        found.append(("notifications.smtp.password_secret", smtp.password_secret))
    if hook is not None:
        for field in ("url_secret", "header_secret", "signing_secret"):
            found.append((f"notifications.webhook.{field}", getattr(hook, field)))
    for name, endpoint in settings.webhooks.items():
        found.append((f"webhooks.{name}.url_secret", endpoint.url_secret))
        found.append((f"webhooks.{name}.signing_secret", endpoint.signing_secret))
    return found


def _missing_references(settings: TenantSettings) -> list[tuple[str, str]]:
    return [
        (
            field,
            f"no secret named {name!r} is set (set secrets.{name} first, or in the same change)",
        )
        for field, name in _references(settings)
        if name and name not in settings.secrets
    ]


def _errors(error: ValidationError) -> list[tuple[str, str]]:
    found = []
    for item in error.errors():
        path = ""
        for part in item.get("loc", ()):
            path += f"[{part}]" if isinstance(part, int) else ("." if path else "") + str(part)
        message = str(item.get("msg", "invalid"))
        if item.get("type") == "extra_forbidden":
            message = "unknown setting"
        message = message.removeprefix("Value error, ")
        found.append((path or "body", message))
    return found


def _unique(errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(errors))
