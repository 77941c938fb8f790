"""Tenant settings (admins only): the settings form with each error at its dotted key and the
input kept, secrets set write-only, tests of the delivery channels and the LLM provider, and
the audit trail.

Every change is the settings package's (`update_settings`, a JSON Merge Patch): a form's empty
field removes its key (back to its default), and the whole form is applied or none of it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from renewflow import settings as tenant_settings
from renewflow.accounts import Role
from renewflow.console.views.tasks import time_zones
from renewflow.console.web import Console, ConsoleDep, ConsoleRoute
from renewflow.errors import ValidationFailed
from renewflow.nul import MESSAGE as NUL_MESSAGE
from renewflow.settings.patch import leaves, merge_patch, nest
from renewflow.settings.probe import probe_channel, probe_llm
from renewflow.settings.service import undeliverable_count

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

FormText = Annotated[str, Form()]

# The form's fields: (dotted key, label, kind, help). The sections are those of the settings.
Field = tuple[str, str, str, str]
SECTIONS: tuple[tuple[str, str, str, tuple[Field, ...]], ...] = (
    (
        "general",
        "General",
        "",
        (
            ("display_name", "Display name", "text", ""),
            ("time_zone", "Time zone", "zone", "Renewal days, schedules and dates follow it."),
            ("default_currency", "Default currency", "text", "Reserved: not read yet."),
        ),
    ),
    (
        "company",
        "Company contacts",
        "Who the escalations of the playbooks reach.",
        (
            (
                "company.vp_customer_success",
                "VP Customer Success",
                "email",
                "{{company.vpCustomerSuccess}}: the VP escalations.",
            ),
            ("company.ceo", "CEO", "email", "{{company.ceo}}: the last rungs of the ladder."),
            (
                "company.war_room",
                "War room",
                "text",
                "{{company.warRoom}}: an address, or a channel such as #renewals-war-room.",
            ),
        ),
    ),
    (
        "email",
        "Email (SMTP)",
        "Notifications of type email go out through this server.",
        (
            ("notifications.smtp.host", "Host", "text", "Leave empty to turn email off."),
            ("notifications.smtp.port", "Port", "number", "587 by default."),
            ("notifications.smtp.security", "TLS", "choice:starttls,ssl,none", ""),
            ("notifications.smtp.from_address", "From address", "email", ""),
            ("notifications.smtp.from_name", "From name", "text", ""),
            ("notifications.smtp.username", "Username", "text", ""),
            (
                "notifications.smtp.password_secret",
                "Password secret",
                "secret",
                "The name of the secret holding the password (set it below).",
            ),
        ),
    ),
    (
        "webhook",
        "Webhook (Slack or generic)",
        "Notifications of type slack (the war room) go out through this webhook.",
        (
            ("notifications.webhook.format", "Format", "choice:slack,json", ""),
            (
                "notifications.webhook.url_secret",
                "URL secret",
                "secret",
                "A Slack URL is a credential: keep it in a secret.",
            ),
            ("notifications.webhook.url", "URL", "url", "Or a URL that is no secret."),
            (
                "notifications.webhook.signing_secret",
                "Signing secret",
                "secret",
                "Signs each body (X-Renewflow-Signature).",
            ),
        ),
    ),
    (
        "llm",
        "LLM provider",
        "",
        (
            ("llm.provider", "Provider", "choice:mock,openai,anthropic,openai-compatible", ""),
            ("llm.model", "Model", "text", "Each provider has a default."),
            ("llm.base_url", "Base URL", "url", "Required for openai-compatible."),
            ("llm.api_key_secret", "API key secret", "secret", "The secret holding the key."),
            ("llm.api_key_env", "API key variable", "text", "Or an environment variable."),
            ("llm.timeout", "Timeout (s)", "number", ""),
            ("llm.max_retries", "Retries", "number", ""),
        ),
    ),
    (
        "tasks",
        "Tasks",
        "",
        (
            (
                "tasks.snooze_deadline_days",
                "Snooze deadline (days)",
                "number",
                "After a task's first snooze, a decision is required.",
            ),
        ),
    ),
)
FIELDS = {key: (label, kind) for _, _, _, fields in SECTIONS for key, label, kind, _ in fields}
# Sections that are removed as a whole when all their fields are empty (no half server).
WHOLE = ("notifications.smtp", "notifications.webhook")
AUDIT_SHOWN = 20


def _dom_id(key: str) -> str:
    return "f-" + key.replace(".", "-").replace("_", "-")


def _as_text(doc: dict[str, Any]) -> dict[str, str]:
    flat = leaves(doc)
    return {key: "" if flat.get(key) is None else str(flat[key]) for key in FIELDS}


def _page(
    console: Console,
    *,
    status: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    secret_form: dict[str, str] | None = None,
    secret_errors: dict[str, str] | None = None,
    advanced: str = "",
    result: dict[str, Any] | None = None,
) -> HTMLResponse:
    with console.transaction() as conn:
        current = tenant_settings.current_settings(conn)
        changes, total = tenant_settings.list_changes(conn, limit=AUDIT_SHOWN)
        nobody = undeliverable_count(conn)
    shown = tenant_settings.view(current)
    # the form holds what is set; a default shows as the field's placeholder
    stored = {
        **tenant_settings.stored_document(current),
        "display_name": current.display_name,
        "time_zone": current.time_zone,
    }
    errors = errors or {}
    known = set(FIELDS) | {"advanced"}
    return console.page(
        "settings.html",
        status=status,
        sections=SECTIONS,
        form=form or _as_text(stored),
        defaults=_as_text(shown),
        errors=errors,
        # errors of keys the form has no field for (from the advanced patch)
        other_errors={k: v for k, v in errors.items() if k not in known},
        dom_id=_dom_id,
        zones=time_zones(),
        secrets=shown["secrets"],
        secret_form=secret_form or {"name": ""},
        secret_errors=secret_errors or {},
        advanced=advanced,
        invalid=shown.get("invalid", {}),
        changes=changes,
        total_changes=total,
        result=result,
        undeliverable=nobody,
        notice=_notice(console.request),
    )


def _notice(request: Request) -> str | None:
    done = request.query_params.get("done")
    return {
        "saved": "Saved. The change is in the audit trail below.",
        "unchanged": "Nothing changed.",
        "secret-set": "The secret is set. It is not shown again.",
        "secret-removed": "The secret is removed.",
    }.get(done or "")


@router.get("/admin/settings")
def settings_page(console: ConsoleDep) -> HTMLResponse:
    console.require(Role.ADMIN)
    return _page(console)


def _patch_from_form(values: dict[str, str]) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for key in FIELDS:
        text = values.get(key, "").strip()
        pairs[key] = text or None
    for section in WHOLE:
        fields = [k for k in FIELDS if k.startswith(section + ".")]
        if all(pairs[k] is None for k in fields):
            for k in fields:
                del pairs[k]
            pairs[section] = None
    return nest(pairs)


@router.post("/admin/settings")
async def save_settings(request: Request, console: ConsoleDep) -> Response:
    console.require(Role.ADMIN)
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in FIELDS}
    advanced = str(form.get("advanced", ""))
    errors = {key: NUL_MESSAGE for key, value in values.items() if "\x00" in value}
    patch = _patch_from_form(values)
    if advanced.strip():
        try:
            extra = json.loads(advanced)
        except ValueError as error:
            errors["advanced"] = f"not JSON: {error}"
        else:
            if not isinstance(extra, dict):
                errors["advanced"] = "a JSON Merge Patch is an object"
            else:
                patch = merge_patch(patch, extra) if patch else extra
                # merge_patch drops nulls: keep the patch's own removals
                patch = _with_removals(patch, extra)
    if not errors:
        actor = tenant_settings.Actor(label=console.user.email, user_id=console.user.user_id)
        try:
            with console.transaction() as conn:
                _, keys = tenant_settings.update_settings(conn, patch, actor)
        except ValidationFailed as failed:
            errors = dict(failed.errors)
        else:
            done = "saved" if keys else "unchanged"
            return RedirectResponse(f"/admin/settings?done={done}#settings-status", 303)
    return _page(console, status=422, form=values, errors=errors, advanced=advanced)


def _with_removals(patch: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    result = dict(patch)
    for key, value in extra.items():
        if value is None:
            result[key] = None
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _with_removals(result[key], value)
    return result


@router.post("/admin/settings/secrets")
def set_secret(
    console: ConsoleDep, name: FormText = "", value: FormText = "", remove: FormText = ""
) -> Response:
    """Sets a secret (its value never comes back: the page shows when it was set), or with
    `remove` removes one."""
    console.require(Role.ADMIN)
    actor = tenant_settings.Actor(label=console.user.email, user_id=console.user.user_id)
    errors: dict[str, str] = {}
    target = remove.strip() or name.strip()
    if not target:
        errors["name"] = "give the secret a name"
    elif not remove and not value:
        errors["value"] = "enter the secret's value"
    if not errors:
        patch = {"secrets": {target: None if remove else value}}
        try:
            with console.transaction() as conn:
                tenant_settings.update_settings(conn, patch, actor)
        except ValidationFailed as failed:
            for field, message in failed.errors:
                errors["name" if field.startswith("secrets.") else "remove"] = (
                    message if field.startswith("secrets.") else f"{field}: {message}"
                )
        else:
            done = "secret-removed" if remove else "secret-set"
            return RedirectResponse(f"/admin/settings?done={done}#secrets", 303)
    # the value is never put back in the page
    return _page(console, status=422, secret_form={"name": name}, secret_errors=errors)


@router.post("/admin/settings/test")
def run_test(console: ConsoleDep, channel: FormText = "", to: FormText = "") -> HTMLResponse:
    """Tests a channel (a real message) or the LLM (one tiny call); the answer is shown on the
    page, a failure included."""
    console.require(Role.ADMIN)
    if channel not in ("email", "webhook", "llm"):
        return _page(
            console,
            status=422,
            result={"channel": channel, "ok": False, "error": "choose email, webhook or llm"},
        )
    with console.transaction() as conn:  # closed before the server or the model is called
        current = tenant_settings.current_settings(conn)
    result: dict[str, Any]
    if channel == "llm":
        result = {
            "channel": "llm",
            **probe_llm(console.database, console.user.tenant_id, current).as_dict(),
        }
    else:
        kind: Literal["email", "webhook"] = "email" if channel == "email" else "webhook"
        result = probe_channel(current, kind, to.strip() or console.user.email).as_dict()
    return _page(console, result=result)
