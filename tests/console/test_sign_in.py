"""Signing in to the console (a one-time link, or an API key), its session cookie, CSRF, and the
page's security headers; the vendored browser libraries are what we pinned."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from renewflow import accounts, console
from renewflow.accounts.sessions import issue_login_link
from renewflow.db import Database
from tests.console.conftest import FORM_TOKEN, SignedIn


def test_vendored_libraries_match_their_checksums() -> None:
    for name, (_, sha256) in console.VENDORED.items():
        data = (console.static_dir() / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha256, name


def test_a_page_needs_a_session(client: httpx.Client) -> None:
    answer = client.get("/today", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=%2Ftoday"
    htmx = client.get("/today", headers={"HX-Request": "true"})
    assert htmx.status_code == 204
    assert htmx.headers["HX-Redirect"].startswith("/sign-in?next=")


def test_a_link_signs_in_once(
    api_url: str, database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("csm")
    cookie = next(c for c in signed.client.cookies.jar if c.name == "rf_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert signed.client.get("/today").status_code == 200
    with database.service_transaction() as conn:
        token = issue_login_link(conn, signed.email)
    with httpx.Client(base_url=api_url, follow_redirects=False) as other:
        confirm = other.get(f"/sign-in/link/{token}")
        assert "This link signs you in once" in confirm.text
        form_token = FORM_TOKEN.search(confirm.text)
        assert form_token
        first = other.post(f"/sign-in/link/{token}", data={"form_token": form_token.group(1)})
        assert first.status_code == 303
        again = other.post(f"/sign-in/link/{token}", data={"form_token": form_token.group(1)})
        assert again.status_code == 410
        assert "expired or was already used" in again.text


@pytest.mark.parametrize("problem", ["expired", "forged", "no form token"])
def test_a_bad_link_goes_back_to_sign_in(
    api_url: str, database: Database, tenant_factory: Any, problem: str
) -> None:
    tenant = tenant_factory()
    email = f"csm-{uuid.uuid4().hex[:6]}@vendor.example"
    with database.tenant_transaction(tenant) as conn:
        accounts.create_user(conn, email=email, role=accounts.Role.CSM)
    with database.service_transaction() as conn:
        token = issue_login_link(conn, email)
        if problem == "expired":
            conn.execute(
                "UPDATE console_login_links SET created_at = now() - interval '1 hour', "
                "expires_at = now() - interval '1 minute'"
                " WHERE tenant_id = %s",
                (tenant,),
            )
    if problem == "forged":
        token = token[:-4] + "AAAA"
    with httpx.Client(base_url=api_url, follow_redirects=False) as browser:
        confirm = browser.get(f"/sign-in/link/{token}")
        form_token = browser.cookies["rf_signin"]
        data = {} if problem == "no form token" else {"form_token": form_token}
        answer = browser.post(f"/sign-in/link/{token}", data=data)
        assert "rf_session" not in answer.cookies
        if problem == "no form token":
            assert answer.status_code == 200  # the confirm page again: nothing was used
        else:
            assert confirm.status_code == 410
            assert answer.status_code == 410


def test_an_api_key_signs_in(api_url: str, make_key: Any, tenant_factory: Any) -> None:
    _, key = make_key(tenant_factory(), "manager")
    with httpx.Client(base_url=api_url, follow_redirects=False) as browser:
        form = browser.get("/sign-in?next=/book")
        form_token = FORM_TOKEN.search(form.text)
        assert form_token
        wrong = browser.post(
            "/sign-in", data={"api_key": "rf_nope", "form_token": form_token.group(1)}
        )
        assert wrong.status_code == 401
        assert "That API key is unknown" in wrong.text
        assert 'aria-invalid="true"' in wrong.text
        right = browser.post(
            "/sign-in",
            data={"api_key": key, "next": "/today", "form_token": form_token.group(1)},
        )
        assert right.status_code == 303
        assert right.headers["location"] == "/today"
        assert browser.get("/today").status_code == 200
        # the API stays bearer-only: the console's cookie opens nothing there
        assert browser.get("/api/me").status_code == 401


def test_an_open_redirect_is_refused(api_url: str, make_key: Any, tenant_factory: Any) -> None:
    _, key = make_key(tenant_factory(), "csm")
    with httpx.Client(base_url=api_url, follow_redirects=False) as browser:
        form_token = FORM_TOKEN.search(browser.get("/sign-in").text)
        assert form_token
        answer = browser.post(
            "/sign-in",
            data={"api_key": key, "next": "//evil.example/x", "form_token": form_token.group(1)},
        )
        assert answer.headers["location"] == "/today"


def test_a_post_without_the_csrf_token_changes_nothing(
    console_as: Callable[..., SignedIn],
) -> None:
    signed = console_as("csm")
    refused = signed.client.post("/sign-out", data={})
    assert refused.status_code == 403
    assert "security token" in refused.text
    forged = signed.client.post("/sign-out", data={"csrf": "0" * 64})
    assert forged.status_code == 403
    assert signed.client.get("/today").status_code == 200  # still signed in
    out = signed.post("/sign-out")
    assert out.status_code == 303
    after = signed.client.get("/today")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/sign-in")


@pytest.mark.parametrize("how", ["revoked", "deactivated", "expired"])
def test_a_session_ends_at_once(
    database: Database, console_as: Callable[..., SignedIn], how: str
) -> None:
    signed = console_as("csm")
    assert signed.client.get("/today").status_code == 200
    with database.service_transaction() as conn:
        if how == "revoked":
            conn.execute(
                "UPDATE console_sessions SET revoked_at = now() WHERE user_id = %s",
                (signed.user,),
            )
        elif how == "deactivated":
            conn.execute("UPDATE users SET active = false WHERE id = %s", (signed.user,))
        else:
            conn.execute(
                "UPDATE console_sessions SET created_at = now() - interval '13 hours', "
                "expires_at = now() - interval '1 hour' WHERE user_id = %s",
                (signed.user,),
            )
    answer = signed.client.get("/today")
    assert answer.status_code == 303
    assert "message=" in answer.headers["location"]


def test_pages_carry_a_strict_content_security_policy(
    console_as: Callable[..., SignedIn], client: httpx.Client
) -> None:
    signed = console_as("admin")
    for page in (signed.client.get("/today"), client.get("/sign-in")):
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert page.headers["x-frame-options"] == "DENY"
        html = page.text
        assert re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html) is None  # no inline script
        assert re.search(r"\son[a-z]+\s*=", html) is None  # no inline event handler
        assert re.search(r'\sstyle\s*=\s*"', html) is None  # no inline style


def test_an_htmx_request_gets_only_the_main_block(console_as: Callable[..., SignedIn]) -> None:
    signed = console_as("csm")
    full = signed.client.get("/today")
    partial = signed.client.get("/today", headers={"HX-Request": "true"})
    restore = signed.client.get(
        "/today", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<!doctype html>" in full.text
    assert "<!doctype html>" not in partial.text
    assert "<h1>Today</h1>" in partial.text
    assert "<!doctype html>" in restore.text  # the back button gets a whole page


def test_the_cli_prints_a_working_link(
    api_url: str, database: Database, migrated_url: str, tenant_factory: Any
) -> None:
    import os
    import subprocess
    import sys

    tenant = tenant_factory()
    email = f"lead-{uuid.uuid4().hex[:6]}@vendor.example"
    with database.tenant_transaction(tenant) as conn:
        accounts.create_user(conn, email=email, role=accounts.Role.ADMIN)
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "renewflow",
            "console",
            "login-link",
            "--email",
            email,
            "--base-url",
            api_url,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": migrated_url},
        check=True,
    )
    url = printed.stdout.strip().splitlines()[-1]
    assert url.startswith(f"{api_url}/sign-in/link/rfl_")
    with httpx.Client(base_url=api_url, follow_redirects=False) as browser:
        confirm = browser.get(url.removeprefix(api_url))
        assert confirm.status_code == 200
    unknown = subprocess.run(
        [sys.executable, "-m", "renewflow", "console", "login-link", "--email", "no@x.example"],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": migrated_url},
    )
    assert unknown.returncode != 0
    assert unknown.stderr.count("\n") == 1
    assert "no user with the email" in unknown.stderr


def test_a_malformed_parameter_is_a_422_page_not_a_500(
    console_as: Callable[..., SignedIn],
) -> None:
    signed = console_as("manager")
    answer = signed.client.get("/customers/not-a-uuid")
    assert answer.status_code in (404, 422)  # a page either way, never an error of ours
    assert "<!doctype html>" in answer.text
