"""The workflows admin and people and keys in a real browser: publish a draft and view its diff,
create and revoke an API key, end a session in place, edit a person's role, manager and time
zone, deactivate them after a confirmation and hand their work over; configure the tenant's
settings and a secret, test the channels against local servers and see the audit trail; every
screen in both themes, with no serious or critical accessibility violation."""

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
from tests.notify.conftest import certificate, certificate_or_none, smtp_server
from tests.settings.conftest import secret_key, webhook

pytestmark = pytest.mark.usefixtures("core_library_seeded")
# fixtures of the settings screen's test: a local SMTP server, a local webhook, an envelope key
__all__ = ["certificate", "certificate_or_none", "secret_key", "smtp_server", "webhook"]


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
    page.get_by_role("link", name="People", exact=True).click()
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


def test_edit_deactivate_and_reassign_a_person(
    page: Any,
    api_url: str,
    database: Database,
    axe_source: str,
    screenshots: Path,
) -> None:
    from tests.tasks.helpers import make_world, new_task

    world = make_world(database, "People")
    tenant = world.tenant_id
    with database.tenant_transaction(tenant) as conn:
        leaver = accounts.update_user(conn, world.user_id, accounts.UserChange(name="Casey Csm"))
        new_task(conn, world, assigned_to=world.user_id)
    _, email = _user(database, tenant, "admin", "Ada Admin")
    lead, _ = _user(database, tenant, "manager", "Lee Lead")
    heir, _ = _user(database, tenant, "csm", "Harper Heir")
    _sign_in(page, api_url, database, email)
    page.goto(f"{api_url}/admin/people")
    page.get_by_role("link", name="Edit Casey Csm").click()
    page.wait_for_url(f"{api_url}/admin/people/{leaver['id']}#person")
    panel = page.locator("#person")
    assert panel.get_by_role("heading", name="Casey Csm").is_visible()
    check_both_themes(page, axe_source, screenshots, "person")

    # role, manager and time zone in one save
    panel.get_by_label("Role", exact=True).select_option("manager")
    panel.get_by_label("Manager", exact=True).select_option(str(lead))
    panel.get_by_label("Time zone", exact=True).fill("Europe/Lisbon")
    panel.get_by_role("button", name="Save the changes").click()
    page.wait_for_url(re.compile(r".*done=saved#person$"))
    assert "Saved the changes to Casey Csm." in page.locator("#people-status").inner_text()
    row = page.locator("#users").get_by_role("row").filter(has_text="Casey Csm")
    assert "Lee Lead" not in row.inner_text()  # the table shows emails
    assert "Europe/Lisbon" in row.inner_text()

    # deactivate, after a confirmation; a dismissed one changes nothing
    page.goto(f"{api_url}/admin/people/{leaver['id']}")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Deactivate Casey Csm").click()
    page.wait_for_timeout(300)
    with database.tenant_transaction(tenant) as conn:
        assert accounts.get_user(conn, leaver["id"])["active"] is True
    messages: list[str] = []

    def accept(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Deactivate Casey Csm").click()
    page.wait_for_url(re.compile(r".*done=deactivated#person$"))
    assert "stay theirs until you reassign them" in messages[0]
    status = page.locator("#people-status").inner_text()
    assert "They still have 1 open task and 1 customer" in status
    assert page.get_by_role("button", name="Reactivate Casey Csm").is_visible()

    # hand their work over
    page.locator("#person").get_by_label("To", exact=True).select_option(str(heir))
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Reassign their work of Casey Csm").click()
    page.wait_for_url(re.compile(r".*done=reassigned.*#person$"))
    assert "1 open task, 1 customer and 0 escalation overrides" in (
        page.locator("#people-status").inner_text()
    )
    assert accessibility_violations(page, axe_source) == []
    with database.tenant_transaction(tenant) as conn:
        assert accounts.work_of(conn, heir) == accounts.Work(1, 1, 0, 0)


def test_a_cycle_of_managers_is_shown_at_the_field(
    chromium: Any, api_url: str, database: Database, tenant_factory: Any, axe_source: str
) -> None:
    """The refused form comes back 422, which the browser reports as a failed load: so this test
    has its own page, and expects exactly that one error."""
    tenant = tenant_factory()
    _, email = _user(database, tenant, "admin", "Ada Admin")
    lead, _ = _user(database, tenant, "manager", "Lee Lead")
    csm, _ = _user(database, tenant, "csm", "Casey Csm")
    with database.tenant_transaction(tenant) as conn:
        accounts.update_user(conn, csm, accounts.UserChange(manager_id=lead))
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        _sign_in(page, api_url, database, email)
        page.goto(f"{api_url}/admin/people/{lead}")
        panel = page.locator("#person")
        panel.get_by_label("Manager", exact=True).select_option(str(csm))
        panel.get_by_label("Time zone", exact=True).fill("Asia/Tokyo")
        panel.get_by_role("button", name="Save the changes").click()
        error = page.locator("#person-manager-error")
        error.wait_for()
        assert "reports to" in error.inner_text()
        assert page.evaluate("document.activeElement.id") == "person-manager"
        assert page.locator("#person-time-zone").input_value() == "Asia/Tokyo"  # input kept
        assert accessibility_violations(page, axe_source) == []
    finally:
        context.close()
    assert [e for e in errors if "status of 422" not in e] == []
    assert len(errors) == 1
    with database.tenant_transaction(tenant) as conn:
        assert accounts.get_user(conn, lead)["time_zone"] is None


def test_configure_settings_test_the_channels_and_see_the_audit_trail(
    page: Any,
    api_url: str,
    database: Database,
    tenant_factory: Any,
    axe_source: str,
    screenshots: Path,
    smtp_server: Any,
    webhook: Any,
    secret_key: str,
) -> None:
    tenant = tenant_factory("Admin settings")
    _, email = _user(database, tenant, "admin", "Ada Admin")
    inbox, port = smtp_server()
    _sign_in(page, api_url, database, email)
    page.goto(f"{api_url}/admin/settings")
    assert page.get_by_role("heading", name="Settings", exact=True).is_visible()
    check_both_themes(page, axe_source, screenshots, "settings")

    # a secret first: write-only, the page shows only that it is set
    secrets = page.locator("#secrets")
    secrets.get_by_label("Name", exact=True).fill("slack-url")
    secrets.get_by_label("Value", exact=True).fill(webhook.url)
    secrets.get_by_role("button", name="Set the secret").click()
    page.wait_for_url(re.compile(r".*done=secret-set.*"))
    assert "The secret is set" in page.locator("#settings-status").inner_text()
    assert "SLACKPATHSECRET" not in page.content()

    # the contacts, SMTP and the Slack-style webhook, in one save
    form = page.locator("#settings-form")
    form.get_by_label("VP Customer Success", exact=True).fill("vp@acme.example")
    form.get_by_label("CEO", exact=True).fill("ceo@acme.example")
    form.get_by_label("War room", exact=True).fill("#renewals-war-room")
    form.get_by_label("Host", exact=True).fill("127.0.0.1")
    form.get_by_label("Port", exact=True).fill(str(port))
    form.get_by_label("TLS", exact=True).select_option("none")
    form.get_by_label("From address", exact=True).fill("renewals@acme.example")
    form.get_by_label("Format", exact=True).select_option("slack")
    form.get_by_label("URL secret", exact=True).select_option("slack-url")
    form.get_by_role("button", name="Save the settings").click()
    page.wait_for_url(re.compile(r".*done=saved.*"))
    assert "Saved." in page.locator("#settings-status").inner_text()
    with database.tenant_transaction(tenant) as conn:
        stored = conn.execute("SELECT settings FROM tenants").fetchone()
    assert stored is not None
    assert stored["settings"]["company"] == {
        "vp_customer_success": "vp@acme.example",
        "ceo": "ceo@acme.example",
        "war_room": "#renewals-war-room",
    }
    assert stored["settings"]["notifications"]["smtp"]["port"] == port
    assert stored["settings"]["notifications"]["webhook"] == {
        "format": "slack",
        "url_secret": "slack-url",
    }

    # the audit trail: who and which keys, never a value
    audit = page.locator("#audit")
    rows = audit.get_by_role("row")
    assert rows.count() == 3  # the header, the save, the secret
    newest = rows.nth(1).inner_text()
    assert email in newest
    assert "company.ceo" in newest
    assert "notifications.smtp.port" in newest
    assert "secrets.slack-url" in rows.nth(2).inner_text()
    assert "ceo@acme.example" not in audit.inner_text()

    # test email: a real message through the local server, and its answer on the page
    page.get_by_label("Send a test email to").fill("ops@acme.example")
    page.get_by_role("button", name="Test email").click()
    result = page.locator("#test-result")
    result.get_by_text("email: accepted").wait_for()
    assert f"smtp://127.0.0.1:{port}" in result.inner_text()
    assert [m["to"] for m in inbox.messages] == [["ops@acme.example"]]

    # the webhook, accepted and then refused: the receiver's answer either way
    page.get_by_role("button", name="Test the webhook").click()
    result.get_by_text("webhook: accepted").wait_for()
    assert len(webhook.received) == 1
    webhook.statuses.append(404)
    page.get_by_role("button", name="Test the webhook").click()
    result.get_by_text("webhook: failed").wait_for()
    assert "no_service" in result.inner_text()
    assert "SLACKPATHSECRET" not in page.content()
    check_both_themes(page, axe_source, screenshots, "settings-tested")
