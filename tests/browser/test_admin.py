"""The workflows admin and people and keys in a real browser: publish a draft and view its diff,
create and revoke an API key, end a session in place; every screen in both themes, with no
serious or critical accessibility violation."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from renewflow import accounts
from renewflow.accounts.sessions import issue_login_link
from renewflow.db import Database
from tests.api.conftest import bearer
from tests.browser.conftest import accessibility_violations, check_both_themes

pytestmark = pytest.mark.usefixtures("core_library_seeded")


def _user(database: Database, tenant: uuid.UUID, role: str, name: str) -> tuple[uuid.UUID, str]:
    email = f"{role}-{uuid.uuid4().hex[:6]}@vendor.example"
    with database.tenant_transaction(tenant) as conn:
        user = accounts.create_user(conn, email=email, role=accounts.parse_role(role), name=name)
    return user["id"], email


def _sign_in(page: Any, api_url: str, database: Database, email: str) -> None:
    with database.service_transaction() as conn:
        token = issue_login_link(conn, email)
    page.goto(f"{api_url}/sign-in/link/{token}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{api_url}/today")


def test_publish_a_draft_and_view_its_diff(
    page: Any,
    api_url: str,
    database: Database,
    tenant_factory: Any,
    axe_source: str,
    screenshots: Path,
) -> None:
    tenant = tenant_factory()
    _, email = _user(database, tenant, "manager", "Morgan Manager")
    _sign_in(page, api_url, database, email)
    page.get_by_role("link", name="Workflows").click()
    page.wait_for_url(f"{api_url}/admin/workflows")
    assert page.get_by_role("heading", name="Workflows", level=1).is_visible()
    check_both_themes(page, axe_source, screenshots, "workflows")

    page.get_by_role("link", name="Critical", exact=True).click()
    page.wait_for_url(f"{api_url}/admin/workflows/critical")
    assert page.get_by_text("Read-only for your tenant").is_visible()
    assert accessibility_violations(page, axe_source) == []
    page.get_by_role("button", name="Create an override").click()
    page.wait_for_url(re.compile(r".*/admin/workflows/critical\?done=override#editor$"))
    assert (
        page.get_by_role("status").filter(has_text="Your tenant now has its own copy").is_visible()
    )

    editor = page.locator("#draft")
    text = editor.input_value()
    assert "name: Escalation\n" in text
    editor.fill(text.replace("name: Escalation\n", "name: Leadership Escalation\n", 1))
    page.get_by_role("textbox", name="Change description").fill("Clearer step name")
    check_both_themes(page, axe_source, screenshots, "workflow")

    page.get_by_role("button", name="Save and publish").click()
    page.wait_for_url(re.compile(r".*done=published"))
    status = page.locator("#workflow-status")
    assert "Published version 2 (Clearer step name)." in status.inner_text()
    status.get_by_role("link", name="See what changed").click()
    page.wait_for_url(f"{api_url}/admin/workflows/critical/diff?from=1&to=2")
    removed = page.locator("td.del").filter(has_text="name: Escalation")
    added = page.locator("td.add").filter(has_text="name: Leadership Escalation")
    assert removed.count() == 1
    assert added.count() == 1
    assert added.is_visible()
    # side by side: the removed line on the left, the added one on the right of the same row
    assert removed.bounding_box()["x"] < added.bounding_box()["x"]
    assert "1 line removed, 1 added" in page.locator("#diff-status").inner_text()
    check_both_themes(page, axe_source, screenshots, "diff")

    # choosing another pair updates the diff in place, in the URL too (the back button works)
    page.get_by_label("From").select_option("2")
    page.get_by_label("To").select_option("1")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(f"{api_url}/admin/workflows/critical/diff?from=2&to=1")
    page.locator("#diff-status", has_text="Version 2 to version 1").wait_for()
    assert page.locator("td.add").filter(has_text="name: Escalation").count() == 1
    assert page.evaluate("document.activeElement.id") == "diff-title"  # focus kept in content
    assert accessibility_violations(page, axe_source) == []
    page.go_back()
    page.wait_for_url(f"{api_url}/admin/workflows/critical/diff?from=1&to=2")
    page.locator("#diff-status", has_text="Version 1 to version 2").wait_for()


def test_create_then_revoke_a_key(
    page: Any,
    api_url: str,
    database: Database,
    tenant_factory: Any,
    axe_source: str,
    screenshots: Path,
) -> None:
    tenant = tenant_factory()
    _, email = _user(database, tenant, "admin", "Ada Admin")
    integration, _ = _user(database, tenant, "service", "CRM Sync")
    _sign_in(page, api_url, database, email)
    page.get_by_role("link", name="People and keys").click()
    page.wait_for_url(f"{api_url}/admin/people")

    page.get_by_label("For").select_option(str(integration))
    page.get_by_label("Label").fill("nightly import")
    page.get_by_role("button", name="Create the key").click()
    secret_box = page.get_by_role("textbox", name="API key")
    secret_box.wait_for()
    secret = secret_box.input_value()
    assert secret.startswith("rf_")
    assert page.evaluate("document.activeElement.id") == "new-key"
    assert accessibility_violations(page, axe_source) == []
    with httpx.Client(base_url=api_url) as api:
        assert api.get("/api/me", headers=bearer(secret)).status_code == 200

    page.goto(f"{api_url}/admin/people")
    assert secret not in page.content()  # shown once: never again
    prefix = secret[:9]
    row = page.get_by_role("row").filter(has_text=f"{prefix}…")
    assert "active" in row.inner_text()
    check_both_themes(page, axe_source, screenshots, "people")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Revoke key {prefix}").click()
    page.wait_for_url(re.compile(r".*/admin/people\?done=key-revoked"))
    assert "every request with it is refused" in page.locator("#people-status").inner_text()
    assert "revoked" in page.get_by_role("row").filter(has_text=f"{prefix}…").inner_text()
    with httpx.Client(base_url=api_url) as api:
        assert api.get("/api/me", headers=bearer(secret)).status_code == 401


def test_a_dismissed_confirmation_revokes_nothing(
    page: Any, api_url: str, database: Database, tenant_factory: Any, make_key: Any
) -> None:
    tenant = tenant_factory()
    _, email = _user(database, tenant, "admin", "Ada Admin")
    _, secret = make_key(tenant, "service")
    _sign_in(page, api_url, database, email)
    page.goto(f"{api_url}/admin/people")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name=f"Revoke key {secret[:9]}").click()
    page.wait_for_timeout(300)
    assert page.url == f"{api_url}/admin/people"
    with httpx.Client(base_url=api_url) as api:
        assert api.get("/api/me", headers=bearer(secret)).status_code == 200


def test_end_a_session_in_place(
    page: Any, api_url: str, database: Database, tenant_factory: Any, axe_source: str
) -> None:
    tenant = tenant_factory()
    _, email = _user(database, tenant, "admin", "Ada Admin")
    _, other_email = _user(database, tenant, "csm", "Casey Csm")
    with httpx.Client(base_url=api_url, follow_redirects=False) as other:
        with database.service_transaction() as conn:
            token = issue_login_link(conn, other_email)
        confirm = other.get(f"/sign-in/link/{token}")
        form_token = re.search(r'name="form_token" value="([^"]+)"', confirm.text)
        assert form_token
        other.post(f"/sign-in/link/{token}", data={"form_token": form_token.group(1)})
        assert other.get("/today").status_code == 200
        _sign_in(page, api_url, database, email)
        page.goto(f"{api_url}/admin/people")
        sessions = page.locator("#sessions")
        assert sessions.get_by_role("row").filter(has_text="Casey Csm").count() == 1
        page.once("dialog", lambda dialog: dialog.accept())
        sessions.get_by_role("button", name="End the session of Casey Csm").click()
        page.locator("#people-status", has_text="Ended the session").wait_for()
        assert sessions.get_by_role("row").filter(has_text="Casey Csm").count() == 0
        assert page.url == f"{api_url}/admin/people"  # updated in place
        assert accessibility_violations(page, axe_source) == []
        assert other.get("/today").status_code == 303  # signed out
