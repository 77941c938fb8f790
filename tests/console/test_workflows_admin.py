"""The workflows admin, at the HTML level: who may see and change it, CSRF, another tenant's
workflows answered as missing, the draft editor's errors at their path with the text kept, and
publish, versions, diff, rollback and export through the workflows service."""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import yaml

from renewflow.db import Database
from renewflow.workflows import service
from tests.console.conftest import SignedIn
from tests.workflows.factory import config as sample_config

pytestmark = pytest.mark.usefixtures("core_library_seeded")

ETAG = re.compile(r'name="etag" value="([^"]+)"')
TEXTAREA = re.compile(r'<textarea id="draft"[^>]*>(.*?)</textarea>', re.S)


def _own(database: Database, signed: SignedIn, prefix: str = "acme") -> str:
    """A workflow of the signed-in user's tenant only (not an override), published as v1."""
    workflow_id = f"{prefix}-{uuid.uuid4().hex[:6]}"
    with database.tenant_transaction(signed.tenant, signed.user) as conn:
        service.create_workflow(
            conn,
            signed.tenant,
            signed.user,
            workflow_id=workflow_id,
            config=sample_config(id=workflow_id, name="Acme Special"),
        )
    return workflow_id


def _etag(page: httpx.Response) -> str:
    found = ETAG.search(page.text)
    assert found, "no ETag in the form"
    return html.unescape(found.group(1))


def _editor_text(page: httpx.Response) -> str:
    found = TEXTAREA.search(page.text)
    assert found, "no draft editor on the page"
    return html.unescape(found.group(1))


def _save(
    signed: SignedIn,
    workflow_id: str,
    text: str,
    *,
    fmt: str = "yaml",
    publish: bool = False,
    **extra: str,
) -> httpx.Response:
    page = signed.client.get(f"/admin/workflows/{workflow_id}")
    assert page.status_code == 200, page.text
    action = "publish" if publish else "draft"
    return signed.post(
        f"/admin/workflows/{workflow_id}/{action}",
        {"etag": _etag(page), "draft": text, "format": fmt, **extra},
    )


def _stored(database: Database, signed: SignedIn, workflow_id: str) -> dict[str, Any]:
    with database.tenant_transaction(signed.tenant) as conn:
        return service.get_workflow(conn, signed.tenant, workflow_id)


def _override(signed: SignedIn, workflow_id: str = "critical") -> httpx.Response:
    answer = signed.post(f"/admin/workflows/{workflow_id}/override")
    assert answer.status_code == 303, answer.text
    return signed.client.get(answer.headers["location"])


# --- who may use it ----------------------------------------------------------------------------------


def test_a_csm_gets_the_403_page_everywhere(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    csm = console_as("csm")
    own = _own(database, csm)
    before = _stored(database, csm, own)
    for path in (
        "/admin/workflows",
        f"/admin/workflows/{own}",
        f"/admin/workflows/{own}/diff",
        f"/admin/workflows/{own}/export?format=json",
        f"/admin/workflows/{own}/versions/1/rollback",
    ):
        answer = csm.client.get(path)
        assert answer.status_code == 403, path
        assert "Not for your role" in answer.text
    token = csm.csrf()
    for path, data in (
        (f"/admin/workflows/{own}/draft", {"etag": str(service.ETag.of(before)), "draft": "id: x"}),
        (f"/admin/workflows/{own}/publish", {"etag": str(service.ETag.of(before))}),
        (
            f"/admin/workflows/{own}/rollback",
            {"etag": str(service.ETag.of(before)), "version": "1"},
        ),
        ("/admin/workflows/critical/override", {}),
    ):
        answer = csm.client.post(path, data={"csrf": token, **data})
        assert answer.status_code == 403, path
    after = _stored(database, csm, own)
    assert after["revision"] == before["revision"]
    assert _stored(database, csm, "critical")["is_core"]  # no override was made
    assert "/admin/workflows" not in csm.client.get("/today").text  # not in the navigation


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_edit_workflows(console_as: Callable[..., SignedIn], role: str) -> None:
    signed = console_as(role)
    listing = signed.client.get("/admin/workflows")
    assert listing.status_code == 200
    assert 'href="/admin/workflows"' in signed.client.get("/today").text
    page = _override(signed)
    assert page.status_code == 200
    assert "Save and publish" in page.text


# --- the list ----------------------------------------------------------------------------------------


def test_the_list_shows_core_own_and_overrides_with_ranges_and_drafts(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager")
    own = _own(database, signed)
    broken = sample_config(id=own, name="Acme Special", cardTitle="x")
    assert _save(signed, own, json.dumps(broken), fmt="json").status_code == 200
    _override(signed, "critical")
    ready = _editor_text(_override(signed, "engage")).replace(
        "name: Engage\n", "name: Engage!\n", 1
    )
    assert _save(signed, "engage", ready).status_code == 200
    page = signed.client.get("/admin/workflows").text
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(
            r'<tr>\s*<th scope="row"><a href="/admin/workflows/([a-z0-9-]+)">.*?</tr>', page, re.S
        )
    }
    assert {
        "monitor",
        "prepare",
        "engage",
        "negotiate",
        "finalize",
        "critical",
        "emergency",
        "overdue",
        own,
    } <= set(rows)
    assert "badge-core" in rows["monitor"]
    assert "150 to 365 days before renewal" in rows["monitor"]
    assert "1 to 90 days overdue" in rows["overdue"]
    assert "override of core" in rows["critical"]
    assert "7 to 14 days before renewal" in rows["critical"]
    assert "draft, same as published" in rows["critical"]  # the override starts as a draft
    assert "draft, ready to publish" in rows["engage"]
    assert "draft: 1 error" in rows[own]
    assert "your own" in rows[own]
    assert "10 to 20 days before renewal" in rows[own]
    assert "v1" in rows[own]
    order = list(rows)
    assert order.index("monitor") < order.index("critical") < order.index("overdue")


def test_an_override_is_this_tenants_only(console_as: Callable[..., SignedIn]) -> None:
    first, second = console_as("manager"), console_as("manager")
    page = _override(first, "engage")
    assert "Your tenant now has its own copy" in page.text
    assert "override of core" in page.text
    assert "badge-core" in second.client.get("/admin/workflows/engage").text
    again = first.post("/admin/workflows/engage/override")
    assert again.status_code == 409
    assert "already has its own workflow" in again.text


# --- CSRF and tenants --------------------------------------------------------------------------------


def test_a_post_without_the_csrf_token_changes_nothing(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("admin")
    own = _own(database, signed)
    before = _stored(database, signed, own)
    etag = str(service.ETag.of(before))
    for path, data in (
        (f"/admin/workflows/{own}/draft", {"etag": etag, "draft": "id: changed"}),
        (f"/admin/workflows/{own}/publish", {"etag": etag, "draft": "id: changed"}),
        (f"/admin/workflows/{own}/rollback", {"etag": etag, "version": "1"}),
        ("/admin/workflows/negotiate/override", {}),
    ):
        refused = signed.client.post(path, data=data)
        assert refused.status_code == 403, path
        assert "security token" in refused.text
        forged = signed.client.post(path, data={**data, "csrf": "0" * 64})
        assert forged.status_code == 403, path
    after = _stored(database, signed, own)
    assert after["revision"] == before["revision"]
    assert after["draft_config"] is None
    assert _stored(database, signed, "negotiate")["is_core"]


def test_another_tenants_workflow_is_not_found_like_a_missing_one(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    mine, theirs = console_as("admin"), console_as("admin")
    hidden = _own(database, theirs, "theirs")
    their_row = _stored(database, theirs, hidden)
    etag = str(service.ETag.of(their_row))
    for workflow_id in (hidden, "no-such-workflow"):
        for path in (
            "",
            "/diff",
            "/diff?from=1&to=1",
            "/export?format=yaml",
            "/versions/1/rollback",
        ):
            answer = mine.client.get(f"/admin/workflows/{workflow_id}{path}")
            assert answer.status_code == 404, (workflow_id, path)
            assert "There is nothing here." in answer.text
            assert "Acme Special" not in answer.text
        for path, data in (
            ("/draft", {"etag": etag, "draft": "id: mine"}),
            ("/publish", {"etag": etag}),
            ("/rollback", {"etag": etag, "version": "1"}),
            ("/override", {}),
        ):
            answer = mine.post(f"/admin/workflows/{workflow_id}{path}", data)
            assert answer.status_code == 404, (workflow_id, path)
    assert hidden not in mine.client.get("/admin/workflows").text
    assert _stored(database, theirs, hidden)["revision"] == their_row["revision"]
    # their override of a core workflow does not change what we see
    _override(theirs, "finalize")
    assert "badge-core" in mine.client.get("/admin/workflows/finalize").text


def test_a_core_workflow_is_read_only_and_says_why(console_as: Callable[..., SignedIn]) -> None:
    signed = console_as("manager")
    page = signed.client.get("/admin/workflows/monitor")
    assert page.status_code == 200
    assert "Read-only for your tenant" in page.text
    assert "Create an override" in page.text
    assert 'id="draft"' not in page.text  # no editor for a core workflow
    assert "Roll back to this" not in page.text
    refused = signed.post(
        "/admin/workflows/monitor/draft",
        {"etag": '"00000000-0000-0000-0000-000000000000:1"', "draft": "id: monitor"},
    )
    assert refused.status_code == 403
    assert "core workflow and read-only" in refused.text  # the service's reason


# --- the draft editor --------------------------------------------------------------------------------


def test_a_draft_with_errors_comes_back_with_each_error_at_its_path(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager")
    own = _own(database, signed)
    config = sample_config(id=own, name="Acme Special")
    del config["steps"][1]["name"]
    config["steps"][0]["cardTitle"] = "Look here"
    text = "# my notes stay\n" + yaml.safe_dump(config, sort_keys=False)
    saved = _save(signed, own, text)
    assert saved.status_code == 200  # a draft may be invalid: it is saved
    assert "Draft saved. Publishing it would fail" in saved.text
    assert _editor_text(saved).replace("\r\n", "\n") == text  # as written, comment and all
    errors = re.findall(
        r'<li><a href="#draft"><code>([^<]+)</code></a> <span class="muted">\(line (\d+)\)</span>: ([^<]+)</li>',
        saved.text,
    )
    by_path = {path: (int(line), message) for path, line, message in errors}
    assert "steps[1].name" in by_path
    assert by_path["steps[1].name"][1] == "required"
    lines = text.splitlines()
    assert "- id: act" in lines[by_path["steps[1].name"][0] - 1]  # the step that lacks it
    assert by_path["steps[0].cardTitle"][1].startswith("UI-only key")
    assert "cardTitle" in lines[by_path["steps[0].cardTitle"][0] - 1]
    assert 'aria-invalid="true"' in saved.text
    assert 'aria-describedby="draft-help draft-errors"' in saved.text
    stored = _stored(database, signed, own)
    assert stored["draft_config"]["steps"][0]["cardTitle"] == "Look here"
    assert stored["current_version"] == 1

    published = _save(signed, own, text, publish=True)
    assert published.status_code == 422
    assert "Not published" in published.text
    assert "steps[1].name" in published.text
    assert _editor_text(published).replace("\r\n", "\n") == text
    assert _stored(database, signed, own)["current_version"] == 1

    # a later visit shows the stored draft and what publishing it would reject
    later = signed.client.get(f"/admin/workflows/{own}")
    assert "What publishing this draft would reject" in later.text
    assert "steps[1].name" in later.text


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("id: [unclosed", "yaml", "not valid YAML"),
        ('{"id": ', "json", "not valid JSON"),
        ("- just\n- a list\n", "yaml", "must be a mapping"),
        ("a: &x [1]\nb: *x\n", "yaml", "aliases"),
        ("id: x\nwhen: 2024-01-01\n", "yaml", "reads as a date"),
        ('{"id": "a\\u0000b"}', "json", "NUL"),
        ("   ", "yaml", "the draft is empty"),
    ],
)
def test_a_draft_that_cannot_be_read_is_refused_and_kept(
    database: Database, console_as: Callable[..., SignedIn], text: str, fmt: str, message: str
) -> None:
    signed = console_as("manager")
    own = _own(database, signed)
    answer = _save(signed, own, text, fmt=fmt)
    assert answer.status_code == 422
    assert "Not saved" in answer.text
    assert message in html.unescape(answer.text)
    assert _editor_text(answer).strip() == text.strip()
    assert _stored(database, signed, own)["draft_config"] is None


def test_the_spec_key_names_come_back_as_warnings(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager")
    own = _own(database, signed)
    config = sample_config(id=own, name="Acme Special")
    config["steps"][1]["conditional"] = "{{gte intelligence.riskScore 70}}"
    answer = _save(signed, own, json.dumps(config, indent=2), fmt="json")
    assert answer.status_code == 200
    assert "Warnings" in answer.text
    assert "steps[1].conditional" in answer.text
    assert "It is valid" in answer.text
    stored = _stored(database, signed, own)["draft_config"]
    assert stored["steps"][1]["condition"] == "{{gte intelligence.riskScore 70}}"
    published = _save(signed, own, json.dumps(config), fmt="json", publish=True)
    assert published.status_code == 303
    assert "mapped=1" in published.headers["location"]
    assert (
        "spec&#39;s key names were read as ours"
        in signed.client.get(published.headers["location"]).text
    )


def test_a_stale_form_is_a_conflict_that_keeps_the_text(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("admin")
    own = _own(database, signed)
    page = signed.client.get(f"/admin/workflows/{own}")
    etag = _etag(page)
    first = signed.post(
        f"/admin/workflows/{own}/draft", {"etag": etag, "draft": f"id: {own}\nname: First\n"}
    )
    assert first.status_code == 200
    second = signed.post(
        f"/admin/workflows/{own}/draft", {"etag": etag, "draft": f"id: {own}\nname: Second\n"}
    )
    assert second.status_code == 409
    assert "someone changed this workflow" in second.text
    assert "name: Second" in _editor_text(second)
    assert _stored(database, signed, own)["draft_config"]["name"] == "First"


def test_the_editor_holds_yaml_or_json(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager")
    own = _own(database, signed)
    as_yaml = _editor_text(signed.client.get(f"/admin/workflows/{own}"))
    assert yaml.safe_load(as_yaml)["id"] == own
    assert as_yaml.startswith(f"id: {own}\nname: Acme Special\n")  # the authoring order
    as_json = _editor_text(signed.client.get(f"/admin/workflows/{own}?format=json"))
    assert json.loads(as_json) == yaml.safe_load(as_yaml)


# --- publish, versions, diff, rollback, export -------------------------------------------------------


def test_publish_then_versions_then_diff_then_rollback(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager")
    editor = _override(signed, "critical")
    text = _editor_text(editor)
    assert "name: Critical" in text
    edited = text.replace("name: Escalation\n", "name: Leadership Escalation\n", 1)
    assert edited != text
    published = _save(
        signed, "critical", edited, publish=True, change_description="Clearer step name"
    )
    assert published.status_code == 303
    page = signed.client.get(published.headers["location"])
    assert "Published version 2 (Clearer step name)." in page.text
    assert 'href="/admin/workflows/critical/diff?from=1&amp;to=2">See what changed' in page.text
    stored = _stored(database, signed, "critical")
    assert stored["current_version"] == 2
    assert stored["draft_config"] is None
    assert stored["config"]["steps"][1]["name"] == "Leadership Escalation"

    versions = re.findall(r'<th scope="row">(\d+)', page.text.split('id="versions-title"')[1])
    assert versions == ["2", "1"]
    assert "Clearer step name" in page.text

    diff = signed.client.get("/admin/workflows/critical/diff?from=1&to=2")
    assert diff.status_code == 200
    assert re.search(
        r'<td class="code del"><del>.*?<code>    name: Escalation</code></del>', diff.text
    )
    assert re.search(
        r'<td class="code add"><ins>.*?<code>    name: Leadership Escalation</code></ins>',
        diff.text,
    )
    assert "1 line removed, 1 added; 1 JSON Patch operation." in diff.text
    assert "<code>/steps/1/name</code>" in diff.text
    assert "unchanged lines" in diff.text  # the rest is folded
    every = signed.client.get("/admin/workflows/critical/diff?from=1&to=2&lines=all")
    assert "unchanged lines" not in every.text
    default = signed.client.get("/admin/workflows/critical/diff")
    assert "Version 1 → version 2" in default.text  # the latest two by default
    same = signed.client.get("/admin/workflows/critical/diff?from=2&to=2")
    assert "compared with itself: nothing differs" in same.text
    assert signed.client.get("/admin/workflows/critical/diff?from=9&to=2").status_code == 404
    assert signed.client.get("/admin/workflows/critical/diff?from=x&to=2").status_code == 404

    confirm = signed.client.get("/admin/workflows/critical/versions/1/rollback")
    assert confirm.status_code == 200
    assert "Roll back Critical to version 1?" in confirm.text
    assert "as a new version (3)" in confirm.text
    assert "<code>    name: Leadership Escalation</code></del>" in confirm.text  # what it undoes
    rolled = signed.post(
        "/admin/workflows/critical/rollback", {"etag": _etag(confirm), "version": "1"}
    )
    assert rolled.status_code == 303
    after = signed.client.get(rolled.headers["location"])
    assert "Rolled back: published version 3 (rolled back to version 1)." in after.text
    stored = _stored(database, signed, "critical")
    assert stored["current_version"] == 3
    assert stored["config"]["steps"][1]["name"] == "Escalation"
    again = signed.post(
        "/admin/workflows/critical/rollback", {"etag": _etag(after), "version": "1"}
    )
    assert again.status_code == 409
    assert "already the published config" in again.text
    current = signed.client.get("/admin/workflows/critical/versions/3/rollback")
    assert "is the published version" in current.text
    assert 'action="/admin/workflows/critical/rollback"' not in current.text


def test_publishing_an_unchanged_draft_writes_no_version(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager")
    editor = _override(signed, "prepare")
    answer = _save(signed, "prepare", _editor_text(editor), publish=True)
    assert answer.status_code == 303
    assert "done=unchanged" in answer.headers["location"]
    assert "no version was written" in signed.client.get(answer.headers["location"]).text
    assert _stored(database, signed, "prepare")["current_version"] == 1


def test_a_change_description_with_a_nul_is_refused(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager")
    own = _own(database, signed)
    answer = _save(signed, own, f"id: {own}\n", publish=True, change_description="a\x00b")
    assert answer.status_code == 422
    assert 'id="change_description-error"' in answer.text
    assert _stored(database, signed, own)["draft_config"] is None


def test_export_downloads_the_published_config(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager")
    own = _own(database, signed)
    as_yaml = signed.client.get(f"/admin/workflows/{own}/export?format=yaml")
    assert as_yaml.status_code == 200
    assert as_yaml.headers["content-disposition"] == f'attachment; filename="{own}.yaml"'
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    as_json = signed.client.get(f"/admin/workflows/{own}/export?format=json")
    assert as_json.headers["content-disposition"] == f'attachment; filename="{own}.json"'
    assert yaml.safe_load(as_yaml.text) == json.loads(as_json.text)
    assert json.loads(as_json.text) == _stored(database, signed, own)["config"]
    core = signed.client.get("/admin/workflows/monitor/export?format=json")
    assert json.loads(core.text)["id"] == "monitor"


def test_the_compare_form_updates_the_diff_in_place(console_as: Callable[..., SignedIn]) -> None:
    signed = console_as("manager")
    editor = _override(signed, "negotiate")
    _save(
        signed,
        "negotiate",
        _editor_text(editor).replace("name: Negotiate\n", "name: Negotiate Now\n", 1),
        publish=True,
    )
    partial = signed.client.get(
        "/admin/workflows/negotiate/diff?from=1&to=2", headers={"HX-Request": "true"}
    )
    assert "<!doctype html>" not in partial.text
    assert 'id="diff-result"' in partial.text
    assert 'id="diff-status" role="status"' in partial.text
    assert 'hx-push-url="true"' in partial.text


def test_the_pages_need_no_inline_script_or_style(console_as: Callable[..., SignedIn]) -> None:
    signed = console_as("admin")
    editor = _override(signed, "overdue")
    _save(
        signed,
        "overdue",
        _editor_text(editor).replace("name: Overdue\n", "name: Late\n", 1),
        publish=True,
    )
    for path in (
        "/admin/workflows",
        "/admin/workflows/overdue",
        "/admin/workflows/monitor",
        "/admin/workflows/overdue/diff",
        "/admin/workflows/overdue/versions/1/rollback",
        "/admin/people",
    ):
        page = signed.client.get(path)
        assert page.status_code == 200, path
        assert "unsafe-inline" not in page.headers["content-security-policy"]
        assert re.search(r"<script(?![^>]*\ssrc=)[^>]*>", page.text) is None, path
        assert re.search(r"\son[a-z]+\s*=", page.text) is None, path
        assert re.search(r'\sstyle\s*=\s*"', page.text) is None, path
