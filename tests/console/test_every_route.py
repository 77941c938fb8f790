"""Every console route, found from the screen modules themselves (so a new screen cannot be
forgotten): without a session it leads to sign-in; a state-changing one refuses a request
without the CSRF token, changing nothing; an unknown id answers the 404 page, never a 500. (Each
screen's own tests check that another tenant's real ids answer exactly like unknown ones.)"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from fastapi.routing import APIRoute

from renewflow import console
from renewflow.console.web import ConsoleRoute
from renewflow.db import Database
from tests.console.conftest import SignedIn

PUBLIC = {"/sign-in", "/sign-in/link/{token}"}
PARAM = re.compile(r"\{([^}]+)\}")


def _routes(database: Database) -> list[tuple[str, str]]:
    """(method, path) of every route of every console screen module (what `install` mounts)."""
    found: list[tuple[str, str]] = []
    for router in console.routers():
        for route in router.routes:
            assert isinstance(route, APIRoute)
            assert isinstance(route, ConsoleRoute), f"{route.path} answers errors as JSON"
            methods = route.methods or set()
            found.extend((method, route.path) for method in sorted(methods - {"HEAD"}))
    return found


def _fill(path: str, value: str) -> str:
    """Path parameters filled with `value` (ids) or an unknown slug (workflow ids, step ids)."""
    slug = f"no-such-{value[:8]}"
    return PARAM.sub(
        lambda m: (
            value
            if m.group(1).endswith("_id")
            and m.group(1) != "workflow_id"
            and m.group(1) != "step_id"
            else slug
        ),
        path,
    )


def test_the_console_has_routes(database: Database) -> None:
    paths = {path for _, path in _routes(database)}
    assert {"/today", "/book", "/sign-in"} <= paths


def test_every_route_needs_a_session(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("admin")
    anonymous = signed.client.__class__(base_url=signed.client.base_url, follow_redirects=False)
    with anonymous:
        for method, path in _routes(database):
            if path in PUBLIC or path == "/":
                continue
            answer = anonymous.request(method, _fill(path, str(uuid.uuid4())))
            assert answer.status_code in (303, 403), (method, path, answer.status_code)
            if answer.status_code == 303:
                assert answer.headers["location"].startswith("/sign-in"), (method, path)


def test_every_state_change_refuses_a_missing_csrf_token(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("admin")
    for method, path in _routes(database):
        if method != "POST" or path in PUBLIC or path.startswith("/sign-in"):
            continue
        answer = signed.client.post(_fill(path, str(uuid.uuid4())), data={"reason": "x"})
        assert answer.status_code == 403, (path, answer.status_code)
        assert "security token" in answer.text, path


def test_every_unknown_id_answers_the_404_page(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("admin")
    csrf = signed.csrf()
    for method, path in _routes(database):
        if "{" not in path or path in PUBLIC:
            continue
        random_id = _fill(path, str(uuid.uuid4()))
        if method == "GET":  # a partial's plain-browser redirect ends on the page it belongs to
            answer = signed.client.get(random_id, follow_redirects=True)
            assert answer.status_code == 404, (method, path, answer.status_code)
        else:  # a form may be refused for its fields before its object is looked up: either way
            # nothing happens, and the answer does not depend on whose the id is
            answer = signed.client.post(random_id, data={"csrf": csrf, "reason": "x"})
            assert answer.status_code in (404, 422), (method, path, answer.status_code)
        assert "<!doctype html>" in answer.text, (method, path)


@pytest.mark.parametrize("role", ["csm", "manager"])
def test_admin_pages_are_refused_to_the_roles_they_are_not_for(
    database: Database, console_as: Callable[..., SignedIn], role: str
) -> None:
    signed = console_as(role)
    for method, path in _routes(database):
        if method != "GET" or not path.startswith("/admin/") or "{" in path:
            continue
        if role == "manager" and not path.startswith("/admin/people"):
            continue  # managers run workflows, executions and notifications
        answer = signed.client.get(path)
        assert answer.status_code == 403, (role, path, answer.status_code)
