"""People and keys, at the HTML level: admins only, CSRF, another tenant's keys and sessions
answered as missing, the user form's errors at their field with the input kept, a key's secret
shown exactly once, and a revoked key or session stopping at once."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from renewflow import accounts
from renewflow.db import Database
from tests.api.conftest import bearer
from tests.console.conftest import SignedIn

SECRET = re.compile(r'id="new-key"[^>]*value="(rf_[^"]+)"')


def _keys(database: Database, tenant: uuid.UUID) -> list[dict[str, Any]]:
    with database.tenant_transaction(tenant) as conn:
        return conn.execute(
            "SELECT id, user_id, key_prefix, name, role, revoked_at FROM api_keys ORDER BY created_at"
        ).fetchall()


def _users(database: Database, tenant: uuid.UUID) -> list[dict[str, Any]]:
    with database.tenant_transaction(tenant) as conn:
        return accounts.list_users(conn)


def _session_of(database: Database, tenant: uuid.UUID, user: uuid.UUID) -> uuid.UUID:
    with database.tenant_transaction(tenant) as conn:
        row = conn.execute("SELECT id FROM console_sessions WHERE user_id = %s", (user,)).fetchone()
    assert row is not None
    session_id: uuid.UUID = row["id"]
    return session_id


def _issue(
    signed: SignedIn, user_id: uuid.UUID, label: str = "CRM sync"
) -> tuple[httpx.Response, str]:
    answer = signed.post("/admin/people/keys", {"user": str(user_id), "label": label})
    assert answer.status_code == 201, answer.text
    found = SECRET.search(answer.text)
    assert found, "the new key is not on the page"
    return answer, found.group(1)


# --- who may use it ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["csm", "manager", "service"])
def test_only_admins_see_or_change_people(
    database: Database, console_as: Callable[..., SignedIn], make_key: Any, role: str
) -> None:
    signed = console_as(role)
    make_key(signed.tenant, "service")
    key_id = _keys(database, signed.tenant)[0]["id"]
    answer = signed.client.get("/admin/people")
    assert answer.status_code == 403
    assert "Not for your role" in answer.text
    assert "/admin/people" not in signed.client.get("/today").text
    token = signed.csrf()
    for path, data in (
        ("/admin/people/users", {"email": "new@vendor.example", "role": "admin"}),
        ("/admin/people/keys", {"user": str(signed.user)}),
        (f"/admin/people/keys/{key_id}/revoke", {}),
        (f"/admin/people/sessions/{uuid.uuid4()}/revoke", {}),
    ):
        refused = signed.client.post(path, data={"csrf": token, **data})
        assert refused.status_code == 403, path
    assert len(_users(database, signed.tenant)) == 2  # nobody was added
    keys = _keys(database, signed.tenant)
    assert len(keys) == 1
    assert keys[0]["revoked_at"] is None


def test_an_admin_sees_people_keys_and_sessions(
    database: Database, console_as: Callable[..., SignedIn], make_key: Any
) -> None:
    admin = console_as("admin")
    make_key(admin.tenant, "service", email="crm-sync@vendor.example")
    page = admin.client.get("/admin/people")
    assert page.status_code == 200
    assert admin.email in page.text
    assert "crm-sync@vendor.example" in page.text
    prefix = _keys(database, admin.tenant)[0]["key_prefix"]
    assert f"<code>{prefix}…</code>" in page.text
    assert "this session" in page.text  # the admin's own, not revocable from the list
    assert "a sign-in link" in page.text


# --- CSRF and tenants --------------------------------------------------------------------------------


def test_a_post_without_the_csrf_token_changes_nothing(
    database: Database, console_as: Callable[..., SignedIn], make_key: Any
) -> None:
    admin = console_as("admin")
    other = console_as("csm", tenant=admin.tenant)
    key_user, _ = make_key(admin.tenant, "service")
    key_id = _keys(database, admin.tenant)[0]["id"]
    session_id = _session_of(database, admin.tenant, other.user)
    for path, data in (
        ("/admin/people/users", {"email": "new@vendor.example", "role": "admin"}),
        ("/admin/people/keys", {"user": str(key_user)}),
        (f"/admin/people/keys/{key_id}/revoke", {}),
        (f"/admin/people/sessions/{session_id}/revoke", {}),
    ):
        refused = admin.client.post(path, data=data)
        assert refused.status_code == 403, path
        assert "security token" in refused.text
        forged = admin.client.post(path, data={**data, "csrf": "0" * 64})
        assert forged.status_code == 403, path
    assert len(_users(database, admin.tenant)) == 3
    keys = _keys(database, admin.tenant)
    assert len(keys) == 1
    assert keys[0]["revoked_at"] is None
    assert other.client.get("/today").status_code == 200  # still signed in


def test_another_tenants_keys_sessions_and_users_are_not_found(
    database: Database, console_as: Callable[..., SignedIn], make_key: Any, api_url: str
) -> None:
    mine, theirs = console_as("admin"), console_as("admin")
    their_user, their_key = make_key(theirs.tenant, "service")
    their_key_id = _keys(database, theirs.tenant)[0]["id"]
    their_session = _session_of(database, theirs.tenant, theirs.user)
    for path in (
        f"/admin/people/keys/{their_key_id}/revoke",
        f"/admin/people/keys/{uuid.uuid4()}/revoke",
        "/admin/people/keys/not-an-id/revoke",
        f"/admin/people/sessions/{their_session}/revoke",
        f"/admin/people/sessions/{uuid.uuid4()}/revoke",
        "/admin/people/sessions/not-an-id/revoke",
    ):
        answer = mine.post(path)
        assert answer.status_code == 404, path
        assert "There is nothing here." in answer.text
    for user in (str(their_user), str(uuid.uuid4()), "not-an-id"):
        answer = mine.post("/admin/people/keys", {"user": user})
        assert answer.status_code == 404, user
    assert len(_keys(database, mine.tenant)) == 0
    assert len(_keys(database, theirs.tenant)) == 1
    with httpx.Client(base_url=api_url) as api:
        assert api.get("/api/me", headers=bearer(their_key)).status_code == 200
    assert theirs.client.get("/today").status_code == 200
    page = mine.client.get("/admin/people").text
    assert theirs.email not in page
    assert _keys(database, theirs.tenant)[0]["key_prefix"] not in page


# --- users -------------------------------------------------------------------------------------------


def test_adding_a_person(database: Database, console_as: Callable[..., SignedIn]) -> None:
    admin = console_as("admin")
    added = admin.post(
        "/admin/people/users",
        {"email": "dana@vendor.example", "name": "Dana Scully", "role": "manager"},
    )
    assert added.status_code == 303
    page = admin.client.get(added.headers["location"])
    assert "Created dana@vendor.example (manager)." in page.text
    user = next(u for u in _users(database, admin.tenant) if u["email"] == "dana@vendor.example")
    assert user["name"] == "Dana Scully"
    assert user["role"] == "manager"


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"email": "not-an-email", "name": "Dana", "role": "csm"}, "email", "not an email address"),
        ({"email": "", "name": "Dana", "role": "csm"}, "email", "enter the person"),
        (
            {"email": "dana@vendor.example", "name": "Dana", "role": "boss"},
            "role",
            "must be one of",
        ),
        ({"email": "dana@vendor.example", "name": "D" * 300, "role": "csm"}, "name", "at most 255"),
        ({"email": "dana@vendor.example", "name": "Da\x00na", "role": "csm"}, "name", "NUL"),
    ],
)
def test_the_user_form_names_the_field_and_keeps_the_input(
    database: Database,
    console_as: Callable[..., SignedIn],
    form: dict[str, str],
    field: str,
    message: str,
) -> None:
    admin = console_as("admin")
    answer = admin.post("/admin/people/users", form)
    assert answer.status_code == 422
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]+)</p>', answer.text)
    assert error, answer.text
    assert message in html.unescape(error.group(1))
    assert re.search(
        rf'id="{field}"[^>]*aria-invalid="true"[^>]*aria-describedby="[^"]*{field}-error"',
        answer.text,
    )
    if "\x00" not in form["email"]:
        assert f'value="{html.escape(form["email"])}"' in answer.text
    assert len(_users(database, admin.tenant)) == 1


def test_a_duplicate_email_is_an_error_at_the_email(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    admin = console_as("admin")
    answer = admin.post(
        "/admin/people/users", {"email": admin.email, "name": "Again", "role": "csm"}
    )
    assert answer.status_code == 422
    assert re.search(
        r'<p class="field-error" id="email-error">a user with email [^<]+ already exists',
        answer.text,
    )
    assert 'value="Again"' in answer.text
    assert len(_users(database, admin.tenant)) == 1


# --- keys --------------------------------------------------------------------------------------------


def test_a_keys_secret_is_shown_exactly_once(
    database: Database, console_as: Callable[..., SignedIn], api_url: str
) -> None:
    admin = console_as("admin")
    integration = console_as("service", tenant=admin.tenant)
    answer, secret = _issue(admin, integration.user)
    assert answer.text.count(secret) == 1
    assert answer.headers["cache-control"] == "no-store"
    assert "Copy it now: it is shown this once." in answer.text
    key = _keys(database, admin.tenant)[0]
    assert key["role"] == "service"  # the user's role
    assert key["name"] == "CRM sync"
    assert secret.startswith(key["key_prefix"])
    later = admin.client.get("/admin/people")
    assert secret not in later.text
    assert f"<code>{key['key_prefix']}…</code>" in later.text
    assert "CRM sync" in later.text
    with httpx.Client(base_url=api_url) as api:
        me = api.get("/api/me", headers=bearer(secret))
        assert me.status_code == 200
        assert me.json()["role"] == "service"


def test_the_key_form_names_the_field(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    admin = console_as("admin")
    nobody = admin.post("/admin/people/keys", {"user": "", "label": "x"})
    assert nobody.status_code == 422
    assert '<p class="field-error" id="user-error">choose whose key it is</p>' in nobody.text
    assert 'value="x"' in nobody.text
    too_long = admin.post("/admin/people/keys", {"user": str(admin.user), "label": "L" * 300})
    assert too_long.status_code == 422
    assert 'id="label-error"' in too_long.text
    assert _keys(database, admin.tenant) == []


def test_revoking_a_key_makes_it_fail_on_the_api(
    database: Database, console_as: Callable[..., SignedIn], api_url: str
) -> None:
    admin = console_as("admin")
    _, secret = _issue(admin, admin.user, label="laptop")
    key_id = _keys(database, admin.tenant)[0]["id"]
    page = admin.client.get("/admin/people")
    assert f'action="/admin/people/keys/{key_id}/revoke" data-confirm="Revoke the key' in page.text
    revoked = admin.post(f"/admin/people/keys/{key_id}/revoke")
    assert revoked.status_code == 303
    after = admin.client.get(revoked.headers["location"])
    assert "every request with it is refused from now on" in after.text
    assert "badge-revoked" in after.text
    assert f'action="/admin/people/keys/{key_id}/revoke"' not in after.text
    with httpx.Client(base_url=api_url) as api:
        assert api.get("/api/me", headers=bearer(secret)).status_code == 401
    again = admin.post(f"/admin/people/keys/{key_id}/revoke")
    assert again.status_code == 404


def test_a_key_for_a_deactivated_person_is_refused(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    admin = console_as("admin")
    leaver = console_as("csm", tenant=admin.tenant)
    with database.service_transaction() as conn:
        conn.execute("UPDATE users SET active = false WHERE id = %s", (leaver.user,))
    answer = admin.post("/admin/people/keys", {"user": str(leaver.user)})
    assert answer.status_code == 422
    assert "is deactivated" in answer.text
    assert _keys(database, admin.tenant) == []


# --- sessions ----------------------------------------------------------------------------------------


def test_ending_someones_session_signs_them_out(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    admin = console_as("admin")
    other = console_as("manager", tenant=admin.tenant)
    session_id = _session_of(database, admin.tenant, other.user)
    page = admin.client.get("/admin/people")
    assert f'hx-post="/admin/people/sessions/{session_id}/revoke"' in page.text
    ended = admin.post(f"/admin/people/sessions/{session_id}/revoke")
    assert ended.status_code == 303
    assert "Ended the session" in admin.client.get(ended.headers["location"]).text
    kicked = other.client.get("/today")
    assert kicked.status_code == 303
    assert kicked.headers["location"].startswith("/sign-in")
    assert (
        f"/admin/people/sessions/{session_id}/revoke" not in admin.client.get("/admin/people").text
    )
    assert admin.client.get("/today").status_code == 200


def test_ending_your_own_session_signs_you_out(
    console_as: Callable[..., SignedIn], database: Database
) -> None:
    admin = console_as("admin")
    own = _session_of(database, admin.tenant, admin.user)
    ended = admin.post(f"/admin/people/sessions/{own}/revoke")
    assert ended.status_code == 303
    assert ended.headers["location"].startswith("/sign-in")
    assert admin.client.get("/today").status_code == 303
