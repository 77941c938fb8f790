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
    assert signed.client.get(f"/admin/people/{signed.user}").status_code == 403
    for path, data in (
        ("/admin/people/users", {"email": "new@vendor.example", "role": "admin"}),
        ("/admin/people/keys", {"user": str(signed.user)}),
        (f"/admin/people/keys/{key_id}/revoke", {}),
        (f"/admin/people/sessions/{uuid.uuid4()}/revoke", {}),
        (f"/admin/people/{signed.user}", {"role": "admin", "name": "Me"}),
        (f"/admin/people/{signed.user}/deactivate", {}),
        (f"/admin/people/{signed.user}/activate", {}),
        (f"/admin/people/{signed.user}/reassign", {"to": str(signed.user)}),
    ):
        refused = signed.client.post(path, data={"csrf": token, **data})
        assert refused.status_code == 403, path
    assert len(_users(database, signed.tenant)) == 2  # nobody was added
    me = next(u for u in _users(database, signed.tenant) if u["id"] == signed.user)
    assert (me["role"], me["name"], me["active"]) == (role, f"{role.title()} Person", True)
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


# --- a person: role, manager, time zone, deactivation, their work ---------------------------------


def _user(database: Database, tenant: uuid.UUID, user: uuid.UUID) -> dict[str, Any]:
    with database.tenant_transaction(tenant) as conn:
        return accounts.get_user(conn, user)


def _field_error(page: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field}-error">([^<]+)</p>', page)
    assert found, page
    return html.unescape(found.group(1))


def _edit(signed: SignedIn, user: uuid.UUID, **fields: str) -> httpx.Response:
    current = _user_form(signed, user)
    return signed.post(f"/admin/people/{user}", {**current, **fields})


def _user_form(signed: SignedIn, user: uuid.UUID) -> dict[str, str]:
    """What the person's form sends as it stands (the values it shows)."""
    page = signed.client.get(f"/admin/people/{user}").text

    def selected(select_id: str) -> re.Match[str] | None:
        options = page.split(f'id="{select_id}"', 1)[1].split("</select>", 1)[0]
        return re.search(r'<option value="([^"]*)" selected', options)

    name = re.search(r'id="person-name" name="name"[^>]*value="([^"]*)"', page)
    role, manager = selected("person-role"), selected("person-manager")
    zone = re.search(r'id="person-time-zone"[^>]*value="([^"]*)"', page)
    assert name
    assert zone
    form = {
        "name": html.unescape(name.group(1)),
        "manager": manager.group(1) if manager else "",
        "time_zone": zone.group(1),
    }
    if role and 'id="person-role" name="role" disabled' not in page:
        form["role"] = role.group(1)
    return form


def test_an_admin_edits_a_persons_role_manager_and_time_zone(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    admin = console_as("admin")
    casey = console_as("csm", tenant=admin.tenant)
    lead = console_as("manager", tenant=admin.tenant)
    listed = admin.client.get("/admin/people").text
    assert f'href="/admin/people/{casey.user}#person">Edit' in listed
    page = admin.client.get(f"/admin/people/{casey.user}")
    assert page.status_code == 200
    assert 'id="person-title"' in page.text
    assert f'<option value="{lead.user}">Manager Person · manager</option>' in page.text
    assert (
        f'<option value="{casey.user}">'
        not in page.text.split('id="person-manager"')[1].split("</select>")[0]
    )  # not their own manager
    saved = _edit(
        admin,
        casey.user,
        name="Casey Jones",
        role="manager",
        manager=str(lead.user),
        time_zone="europe/lisbon",
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/admin/people/{casey.user}?done=saved#person"
    assert "Saved the changes to Casey Jones." in admin.client.get(saved.headers["location"]).text
    user = _user(database, admin.tenant, casey.user)
    assert (user["name"], user["role"], user["manager_id"], user["time_zone"]) == (
        "Casey Jones",
        "manager",
        lead.user,
        "Europe/Lisbon",
    )
    listed = admin.client.get("/admin/people").text
    assert f"<td>{lead.email}</td>\n        <td>Europe/Lisbon</td>" in listed
    # emptied: no manager, the tenant's time zone
    cleared = _edit(admin, casey.user, manager="", time_zone="")
    assert cleared.status_code == 303
    user = _user(database, admin.tenant, casey.user)
    assert (user["manager_id"], user["time_zone"]) == (None, None)


def test_a_cycle_is_an_error_at_the_manager_and_changes_nothing(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    admin = console_as("admin")
    a = console_as("manager", tenant=admin.tenant)
    b = console_as("csm", tenant=admin.tenant)
    assert _edit(admin, b.user, manager=str(a.user)).status_code == 303
    answer = _edit(admin, a.user, manager=str(b.user), name="Renamed")
    assert answer.status_code == 422
    assert "reports to" in _field_error(answer.text, "person-manager")
    assert re.search(
        r'id="person-manager"[^>]*aria-invalid="true"[^>]*aria-describedby="[^"]*person-manager-error"',
        answer.text,
    )
    assert 'value="Renamed"' in answer.text  # the input is kept
    assert "Nothing was changed: 1 field to correct." in answer.text
    user = _user(database, admin.tenant, a.user)
    assert (user["manager_id"], user["name"]) == (None, "Manager Person")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "person-time-zone", "not an IANA time zone"),
        ({"time_zone": "Europe/Ber\x00lin"}, "person-time-zone", "NUL"),
        ({"role": "boss"}, "person-role", "must be one of"),
        ({"name": "N" * 300}, "person-name", "at most 255"),
        ({"manager": "not-an-id"}, "person-manager", "choose a manager"),
    ],
)
def test_the_person_form_names_the_field_and_keeps_the_input(
    database: Database,
    console_as: Callable[..., SignedIn],
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    admin = console_as("admin")
    casey = console_as("csm", tenant=admin.tenant)
    answer = _edit(admin, casey.user, **{"name": "Kept Name", **fields})
    assert answer.status_code == 422
    assert message in _field_error(answer.text, field)
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', answer.text)
    if field != "person-name":
        assert 'value="Kept Name"' in answer.text
    assert _user(database, admin.tenant, casey.user)["name"] == "Csm Person"


def test_another_tenants_person_is_not_found_nor_a_manager(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    mine, theirs = console_as("admin"), console_as("admin")
    casey = console_as("csm", tenant=mine.tenant)
    for path in (
        f"/admin/people/{theirs.user}",
        f"/admin/people/{uuid.uuid4()}",
        "/admin/people/not-an-id",
    ):
        assert mine.client.get(path).status_code == 404, path
        for action, data in (
            ("", {"name": "x"}),
            ("/deactivate", {}),
            ("/activate", {}),
            ("/reassign", {"to": str(casey.user)}),
        ):
            answer = mine.post(path + action, data)
            assert answer.status_code == 404, path + action
            assert "There is nothing here." in answer.text
    answers = []
    for stranger in (theirs.user, uuid.uuid4()):
        edited = _edit(mine, casey.user, manager=str(stranger))
        moved = mine.post(f"/admin/people/{casey.user}/reassign", {"to": str(stranger)})
        assert (edited.status_code, moved.status_code) == (422, 422)
        answers.append(
            (_field_error(edited.text, "person-manager"), _field_error(moved.text, "reassign-to"))
        )
    assert answers[0] == answers[1]
    assert _user(database, mine.tenant, casey.user)["manager_id"] is None
    assert _user(database, theirs.tenant, theirs.user)["active"] is True


def test_deactivating_stops_their_session_and_key_at_once(
    database: Database, console_as: Callable[..., SignedIn], make_key: Any, api_url: str
) -> None:
    admin = console_as("admin")
    leaver = console_as("csm", tenant=admin.tenant)
    with database.tenant_transaction(admin.tenant) as conn:
        key = accounts.issue_key(
            conn, user_id=leaver.user, tenant_id=admin.tenant, role=accounts.Role.CSM
        ).secret
    assert leaver.client.get("/today").status_code == 200
    page = admin.client.get(f"/admin/people/{leaver.user}").text
    assert re.search(
        rf'action="/admin/people/{leaver.user}/deactivate"\s+data-confirm="Deactivate Csm Person\?',
        page,
    )
    off = admin.post(f"/admin/people/{leaver.user}/deactivate")
    assert off.status_code == 303
    assert off.headers["location"] == f"/admin/people/{leaver.user}?done=deactivated#person"
    after = admin.client.get(off.headers["location"]).text
    assert "Deactivated Csm Person: their API keys and console sessions stopped working." in after
    assert f'action="/admin/people/{leaver.user}/activate"' in after
    kicked = leaver.client.get("/today")
    assert kicked.status_code == 303
    assert kicked.headers["location"].startswith("/sign-in")
    with httpx.Client(base_url=api_url) as api:
        assert api.get("/api/me", headers=bearer(key)).status_code == 401
    assert (
        leaver.email
        not in admin.client.get("/admin/people#sessions").text.split('id="sessions"')[1]
    )
    on = admin.post(f"/admin/people/{leaver.user}/activate")
    assert on.status_code == 303
    assert "Reactivated Csm Person" in admin.client.get(on.headers["location"]).text
    with httpx.Client(base_url=api_url) as api:
        assert api.get("/api/me", headers=bearer(key)).status_code == 200


def test_an_admin_cannot_deactivate_themselves_or_change_their_own_role(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    admin = console_as("admin")
    page = admin.client.get(f"/admin/people/{admin.user}").text
    assert 'id="person-role" name="role" disabled' in page
    assert "You cannot deactivate yourself: another admin can." in page
    assert f"/admin/people/{admin.user}/deactivate" not in page
    refused = admin.post(f"/admin/people/{admin.user}/deactivate")
    assert refused.status_code == 422
    assert "you cannot deactivate yourself" in refused.text
    assert _edit(admin, admin.user, role="csm").status_code == 422
    assert _edit(admin, admin.user, name="Still Admin").status_code == 303  # role not sent
    user = _user(database, admin.tenant, admin.user)
    assert (user["role"], user["active"], user["name"]) == ("admin", True, "Still Admin")


def test_reassigning_a_persons_work(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    from tests.tasks.helpers import make_world, new_task

    world = make_world(database, "Console")
    admin = console_as("admin", tenant=world.tenant_id)
    heir = console_as("csm", tenant=world.tenant_id)
    with database.tenant_transaction(world.tenant_id) as conn:
        for _ in range(2):
            new_task(conn, world, assigned_to=world.user_id)
    admin.post(f"/admin/people/{world.user_id}/deactivate")
    page = admin.client.get(f"/admin/people/{world.user_id}?done=deactivated").text
    assert "They still have 2 open tasks and 1 customer: reassign their work below." in page
    assert "<strong>2</strong> open tasks assigned to them" in page
    assert 'data-confirm="Hand the open tasks and customers of' in page
    nobody = admin.post(f"/admin/people/{world.user_id}/reassign", {"to": ""})
    assert nobody.status_code == 422
    assert _field_error(nobody.text, "reassign-to") == "choose who takes the work over"
    moved = admin.post(f"/admin/people/{world.user_id}/reassign", {"to": str(heir.user)})
    assert moved.status_code == 303
    done = admin.client.get(moved.headers["location"]).text
    assert "Handed the work of" in done
    assert "2 open tasks, 1 customer and 0 escalation overrides." in done
    assert "<strong>0</strong> open tasks assigned to them" in done
    with database.tenant_transaction(world.tenant_id) as conn:
        assert accounts.work_of(conn, heir.user) == accounts.Work(2, 1, 0, 0)
