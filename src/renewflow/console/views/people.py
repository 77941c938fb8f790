"""People and keys (admins only): the tenant's users and their roles, API keys (the secret shown
once, on the page that answers the POST creating it), and live console sessions. A person's own
panel (`/admin/people/{id}`) changes their name, role, manager and time zone, deactivates or
reactivates them (after a confirmation) and hands their work to someone else.

Every change is the accounts package's (`create_user`, `update_user`, `reassign_work`,
`issue_key`, `revoke_key`, `revoke_session`); another tenant's user, key or session is not
found, exactly like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from renewflow import accounts
from renewflow.accounts import Role
from renewflow.accounts.sessions import list_sessions, revoke_session
from renewflow.console.web import COOKIE, Console, ConsoleDep, ConsoleRoute
from renewflow.db import load_queries
from renewflow.errors import ConflictError, InvalidInputError, NotFoundError
from renewflow.nul import MESSAGE as NUL_MESSAGE

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_Q = load_queries("renewflow.console", "people.sql")

ROLES = (
    (Role.ADMIN, "everything, including people and keys"),
    (Role.MANAGER, "the whole team's book, workflows, executions and notifications"),
    (Role.CSM, "their own book and action plan"),
    (Role.SERVICE, "an integration: API keys, no console screens of its own"),
)
# api_keys.name is varchar(255); issue_key does not check it (see the module's notes)
MAX_LABEL = 255
MAX_USERS = 1000

FormText = Annotated[str, Form()]


def _id(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def _found(value: str) -> UUID:
    """An id from a URL or a form: one that is not an id is as missing as an unknown one."""
    parsed = _id(value)
    if parsed is None:
        raise NotFoundError(f"not found: {value!r}")
    return parsed


# The accounts package names a field as the API's body does; the person panel's forms name theirs.
_PERSON_FIELDS = {
    "name": "person-name",
    "role": "person-role",
    "manager_id": "person-manager",
    "time_zone": "person-time-zone",
    "to": "reassign-to",
}


def _count(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 10 else None


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def _person_notice(console: Console, person: dict[str, Any], work: accounts.Work) -> str | None:
    query = console.request.query_params
    who = person["name"] or person["email"]
    done = query.get("done")
    if done == "saved":
        return f"Saved the changes to {who}."
    if done == "activated":
        return f"Reactivated {who}: their API keys work again; they sign in to the console anew."
    if done == "deactivated":
        left = ""
        if not work.empty:
            left = (
                f" They still have {_plural(work.open_tasks, 'open task')} and "
                f"{_plural(work.customers, 'customer')}: reassign their work below."
            )
        return f"Deactivated {who}: their API keys and console sessions stopped working.{left}"
    if done == "reassigned":
        tasks, customers = _count(query.get("tasks")), _count(query.get("customers"))
        escalations = _count(query.get("escalations"))
        if tasks is None or customers is None or escalations is None:
            return f"Handed the work of {who} over."
        return (
            f"Handed the work of {who} over: {_plural(tasks, 'open task')}, "
            f"{_plural(customers, 'customer')} and "
            f"{_plural(escalations, 'escalation override')}."
        )
    return None


def _notice(
    console: Console,
    users: list[dict[str, Any]],
    keys: list[dict[str, Any]],
) -> str | None:
    query = console.request.query_params
    done, which = query.get("done"), _id(query.get("id"))
    if done == "user-created":
        user = next((u for u in users if u["id"] == which), None)
        if user:
            return (
                f"Created {user['email']} ({user['role']}). They sign in with a link "
                f"(renewflow console login-link --email {user['email']}) or an API key "
                "you create for them below."
            )
    if done == "key-revoked":
        key = next((k for k in keys if k["id"] == which), None)
        if key:
            return (
                f"Revoked the key {key['key_prefix']}… of {key['user_name']}: every request with "
                "it is refused from now on."
            )
    if done == "session-revoked":
        return "Ended the session: its browser is signed out at its next request."
    return None


def _page(
    console: Console,
    *,
    status: int = 200,
    user_form: dict[str, str] | None = None,
    user_errors: dict[str, str] | None = None,
    key_form: dict[str, str] | None = None,
    key_errors: dict[str, str] | None = None,
    issued: dict[str, Any] | None = None,
    person_id: UUID | None = None,
    person_form: dict[str, str] | None = None,
    person_errors: dict[str, str] | None = None,
) -> HTMLResponse:
    person: dict[str, Any] | None = None
    work: accounts.Work | None = None
    with console.transaction() as conn:
        if person_id is not None:
            person = accounts.get_user(conn, person_id)
            work = accounts.work_of(conn, person_id)
        users = accounts.list_users(conn, limit=MAX_USERS)
        keys = conn.execute(_Q["list_keys"]).fetchall()
        sessions = list_sessions(conn)
    notice = None
    if person is not None and work is not None:
        notice = _person_notice(console, person, work)
    elif not issued:
        notice = _notice(console, users, keys)
    return console.page(
        "people.html",
        status=status,
        users=users,
        keys=keys,
        sessions=sessions,
        roles=ROLES,
        user_form=user_form or {"email": "", "name": "", "role": Role.CSM.value},
        user_errors=user_errors or {},
        key_form=key_form or {"user": "", "label": ""},
        key_errors=key_errors or {},
        issued=issued,
        notice=notice,
        this_session=console.user.session_id,
        person=person,
        work=work,
        person_form={**(_form_of(person) if person else {}), **(person_form or {})},
        person_errors=person_errors or {},
        time_zones=accounts.time_zone_names() if person else [],
    )


def _form_of(person: dict[str, Any]) -> dict[str, str]:
    return {
        "name": person["name"] or "",
        "role": person["role"],
        "manager": str(person["manager_id"] or ""),
        "time_zone": person["time_zone"] or "",
        "to": "",
    }


@router.get("/admin/people")
def people(console: ConsoleDep) -> HTMLResponse:
    console.require(Role.ADMIN)
    return _page(console)


@router.post("/admin/people/users")
def create_user(
    console: ConsoleDep, email: FormText = "", name: FormText = "", role: FormText = ""
) -> Response:
    console.require(Role.ADMIN)
    form = {"email": email, "name": name, "role": role}
    errors: dict[str, str] = {
        field: NUL_MESSAGE for field, value in form.items() if "\x00" in value
    }
    if not email.strip() and "email" not in errors:
        errors["email"] = "enter the person's email address"
    parsed_role: Role | None = None
    if "role" not in errors:
        try:
            parsed_role = accounts.parse_role(role)
        except InvalidInputError as error:
            errors["role"] = error.reason
    if not errors and parsed_role is not None:
        try:
            with console.transaction() as conn:
                user = accounts.create_user(
                    conn, email=email, role=parsed_role, name=name.strip() or None
                )
        except InvalidInputError as error:
            errors[error.field if error.field in form else "email"] = error.reason
        except ConflictError as error:
            errors["email"] = error.message
        else:
            return RedirectResponse(
                f"/admin/people?done=user-created&id={user['id']}#users", status_code=303
            )
    return _page(console, status=422, user_form=form, user_errors=errors)


@router.post("/admin/people/keys")
def create_key(console: ConsoleDep, user: FormText = "", label: FormText = "") -> Response:
    """A new API key for a user of the tenant, with the user's role. Its secret is on this
    response only (never stored, never cached): the list shows the prefix from then on."""
    console.require(Role.ADMIN)
    form = {"user": user, "label": label}
    errors: dict[str, str] = {}
    if not user:
        errors["user"] = "choose whose key it is"
    if "\x00" in label:
        errors["label"] = NUL_MESSAGE
    elif len(label.strip()) > MAX_LABEL:
        errors["label"] = f"must be at most {MAX_LABEL} characters"
    if errors:
        return _page(console, status=422, key_form=form, key_errors=errors)
    user_id = _found(user)
    tenant = console.user.tenant_id
    with console.transaction() as conn:
        owner = accounts.get_user(conn, user_id)
        if not owner["active"]:
            errors["user"] = f"{owner['email']} is deactivated: a key of theirs would not work"
        else:
            key = accounts.issue_key(
                conn,
                user_id=user_id,
                tenant_id=tenant,
                role=Role(owner["role"]),
                name=label.strip() or None,
            )
    if errors:
        return _page(console, status=422, key_form=form, key_errors=errors)
    response = _page(
        console,
        status=201,
        issued={
            "secret": key.secret,
            "key_id": key.key_id,
            "email": owner["email"],
            "role": key.role.value,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/admin/people/keys/{key_id}/revoke")
def revoke_key(console: ConsoleDep, key_id: str) -> RedirectResponse:
    console.require(Role.ADMIN)
    found = _found(key_id)
    with console.transaction() as conn:
        accounts.revoke_key(conn, found)
    return RedirectResponse(f"/admin/people?done=key-revoked&id={found}#keys", status_code=303)


@router.post("/admin/people/sessions/{session_id}/revoke")
def end_session(console: ConsoleDep, session_id: str) -> RedirectResponse:
    console.require(Role.ADMIN)
    found = _found(session_id)
    with console.transaction() as conn:
        revoke_session(conn, found)
    if found == console.user.session_id:
        response = RedirectResponse("/sign-in?message=You+ended+your+own+session.", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response
    return RedirectResponse("/admin/people?done=session-revoked#sessions", status_code=303)


# --- a person: role, manager, time zone, deactivation, their work --------------------------------


def _person_page(
    console: Console, person_id: UUID, form: dict[str, str], errors: dict[str, str]
) -> HTMLResponse:
    return _page(console, status=422, person_id=person_id, person_form=form, person_errors=errors)


@router.get("/admin/people/{user_id}")
def person(console: ConsoleDep, user_id: str) -> HTMLResponse:
    console.require(Role.ADMIN)
    return _page(console, person_id=_found(user_id))


@router.post("/admin/people/{user_id}")
def edit_person(
    console: ConsoleDep,
    user_id: str,
    *,
    name: FormText = "",
    role: FormText = "",
    manager: FormText = "",
    time_zone: FormText = "",
) -> Response:
    """Name, role, manager and time zone in one change: all of it, or (with each error at its
    field and the input kept) none. An empty manager is none; an empty time zone the tenant's.
    The role is left out of the form for one's own row (nobody changes their own role)."""
    console.require(Role.ADMIN)
    found = _found(user_id)
    form = {"name": name, "role": role, "manager": manager, "time_zone": time_zone, "to": ""}
    errors: dict[str, str] = {
        _PERSON_FIELDS[field]: NUL_MESSAGE
        for field, value in (("name", name), ("time_zone", time_zone))
        if "\x00" in value
    }
    parsed_role: Role | accounts.Unchanged = accounts.UNCHANGED
    if role:
        try:
            parsed_role = accounts.parse_role(role)
        except InvalidInputError as error:
            errors["person-role"] = error.reason
    manager_id: UUID | None = None
    if manager:
        manager_id = _id(manager)
        if manager_id is None:
            errors["person-manager"] = "choose a manager from the list"
    if errors:
        return _person_page(console, found, form, errors)
    change = accounts.UserChange(
        name=name,
        role=parsed_role,
        manager_id=manager_id,
        time_zone=time_zone.strip() or None,
    )
    try:
        with console.transaction() as conn:
            accounts.update_user(conn, found, change, acting_user_id=console.user.user_id)
    except NotFoundError as error:
        if not isinstance(error, accounts.NoSuchUser):
            raise
        errors["person-manager"] = "no such person: choose a manager from the list"
    except InvalidInputError as error:
        errors[_PERSON_FIELDS.get(error.field, "person-name")] = error.reason
    if errors:
        return _person_page(console, found, form, errors)
    return RedirectResponse(f"/admin/people/{found}?done=saved#person", status_code=303)


def _set_active(console: Console, user_id: str, active: bool) -> RedirectResponse:
    console.require(Role.ADMIN)
    found = _found(user_id)
    with console.transaction() as conn:
        accounts.update_user(
            conn, found, accounts.UserChange(active=active), acting_user_id=console.user.user_id
        )
    done = "activated" if active else "deactivated"
    return RedirectResponse(f"/admin/people/{found}?done={done}#person", status_code=303)


@router.post("/admin/people/{user_id}/deactivate")
def deactivate_person(console: ConsoleDep, user_id: str) -> RedirectResponse:
    """Their API keys and console sessions stop at once; their work stays theirs until it is
    reassigned (the page says how much)."""
    return _set_active(console, user_id, False)


@router.post("/admin/people/{user_id}/activate")
def activate_person(console: ConsoleDep, user_id: str) -> RedirectResponse:
    return _set_active(console, user_id, True)


@router.post("/admin/people/{user_id}/reassign")
def reassign_person(console: ConsoleDep, user_id: str, to: FormText = "") -> Response:
    """Their open tasks, the customers they are the CSM of and the escalations they receive
    as a manager override go to `to`, in one transaction."""
    console.require(Role.ADMIN)
    found = _found(user_id)
    target = _id(to)
    if target is None:
        return _person_page(
            console, found, {"to": to}, {"reassign-to": "choose who takes the work over"}
        )
    try:
        with console.transaction() as conn:
            moved = accounts.reassign_work(conn, found, target)
    except NotFoundError as error:
        if not isinstance(error, accounts.NoSuchUser):
            raise
        message = "no such person: choose someone from the list"
        return _person_page(console, found, {"to": to}, {"reassign-to": message})
    except InvalidInputError as error:
        return _person_page(console, found, {"to": to}, {"reassign-to": error.reason})
    return RedirectResponse(
        f"/admin/people/{found}?done=reassigned&tasks={moved.tasks}&customers={moved.customers}"
        f"&escalations={moved.escalations}#person",
        status_code=303,
    )
