"""Secrets are sealed at rest and never shown: after an admin sets them, their plaintext is in
no table of the database, no log line and no API response, yet the service uses them (an SMTP
login, an LLM key, a Slack URL). Rotating the envelope key re-seals every secret and they stay
readable; without the key that sealed them they cannot be opened."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from renewflow import accounts
from renewflow.db import Database, Migrator
from renewflow.settings import SecretUnreadable, current_settings, read_settings
from renewflow.settings.secrets import KEY_ENV, KEY_FILE_ENV, Keyring, key_id, new_key
from tests.api.conftest import bearer, serve_in_thread
from tests.llm.wire import Reply, WireServer
from tests.notify.conftest import PASSWORD, USER, SmtpServer
from tests.settings.conftest import Hook

ROOT = Path(__file__).resolve().parents[2]
LLM_KEY = "sk-live-PLAINTEXT-llm-key-7c1d"
SIGNING = "whsec-PLAINTEXT-signing-3f9a"


@pytest.fixture
def own_db(make_database: Callable[[], str]) -> Iterator[tuple[str, Database, str]]:
    url = make_database()
    Migrator(url).migrate()
    with Database(url, max_size=4) as db:
        for api in serve_in_thread(db):
            yield url, db, api


def _everything_in(url: str) -> str:
    """Every row of every table of the database, as text (as the owner sees them)."""
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        return "\n".join(
            str(row[0])
            for table in tables
            for row in conn.execute(f"SELECT t::text FROM {table} t")
        )


def _openai_reply() -> Reply:
    return Reply(
        200,
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_767_000_000,
            "model": "fake-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
        },
    )


def test_secrets_are_nowhere_in_plaintext_and_survive_a_key_rotation(
    own_db: tuple[str, Database, str],
    smtp_server: SmtpServer,
    webhook: Hook,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url, db, api = own_db
    old_key = new_key()
    monkeypatch.setenv(KEY_ENV, old_key)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    caplog.set_level(logging.DEBUG)
    plaintexts = (PASSWORD, LLM_KEY, SIGNING, webhook.url, "SLACKPATHSECRET")
    with db.service_transaction() as conn:
        tenant: uuid.UUID = accounts.create_tenant(conn, "Sealed")["id"]
    with db.tenant_transaction(tenant) as conn:
        admin = accounts.create_user(conn, email="ada@vendor.example", role=accounts.Role.ADMIN)
        key = accounts.issue_key(
            conn, user_id=admin["id"], tenant_id=tenant, role=accounts.Role.ADMIN
        )
    responses: list[httpx.Response] = []
    inbox, smtp_port = smtp_server("plain", auth_require_tls=False)

    with WireServer() as llm, httpx.Client(base_url=api, headers=bearer(key.secret)) as http:

        def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
            answer = http.request(method, path, **kwargs)
            responses.append(answer)
            return answer

        patch = {
            "secrets": {
                "smtp-password": PASSWORD,
                "openai": LLM_KEY,
                "slack-url": webhook.url,
                "signing": SIGNING,
            },
            "notifications": {
                "smtp": {
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "security": "none",
                    "from_address": "rf@vendor.example",
                    "username": USER,
                    "password_secret": "smtp-password",
                },
                "webhook": {
                    "url_secret": "slack-url",
                    "format": "slack",
                    "signing_secret": "signing",
                },
            },
            "llm": {
                "provider": "openai-compatible",
                "base_url": f"{llm.url}/v1",
                "model": "fake-model",
                "api_key_secret": "openai",
            },
        }
        assert call("PATCH", "/api/tenant", json=patch).status_code == 200
        # a refused patch with a secret in it: the error does not repeat it
        assert (
            call("PATCH", "/api/tenant", json={"secrets": {"bad name": LLM_KEY}}).status_code == 422
        )
        assert call("GET", f"/api/tenant?api_key={LLM_KEY}").status_code == 400
        call("GET", "/api/tenant")
        call("GET", "/api/tenant/audit")

        def use_them() -> None:
            email = call("POST", "/api/tenant/notifications/test", json={"channel": "email"})
            assert email.json()["ok"] is True, email.text  # the server checked the password
            hook = call("POST", "/api/tenant/notifications/test", json={"channel": "webhook"})
            assert hook.json()["ok"] is True, hook.text
            llm.script(_openai_reply())
            answer = call("POST", "/api/tenant/llm/test")
            assert answer.json()["ok"] is True, answer.text
            assert llm.received[-1].headers["authorization"] == f"Bearer {LLM_KEY}"

        use_them()
        assert all(m["authenticated"] for m in inbox.messages)

        for response in responses:
            for plaintext in plaintexts:
                assert plaintext not in response.text, (response.request.url, plaintext)
        stored = _everything_in(url)
        for plaintext in plaintexts:
            assert plaintext not in stored
        for record in caplog.records:
            line = record.getMessage() + str(record.args or "") + str(record.exc_text or "")
            for plaintext in plaintexts:
                assert plaintext not in line, record

        # rotation: the new key first, the old one after it, then the rotate command
        new = new_key()
        key_file = tmp_path / "secret.key"
        key_file.write_text(f"# rotated\n{new}\n{old_key}\n")
        monkeypatch.delenv(KEY_ENV)
        monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
        use_them()  # both keys held: the old seals still open
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT / "src")}
        rotated = subprocess.run(
            [sys.executable, "-m", "renewflow", "tenants", "secrets", "rotate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert rotated.returncode == 0, rotated.stderr
        assert "re-sealed 4 secret(s) of 1 tenant(s)" in rotated.stdout
        for plaintext in plaintexts:
            assert plaintext not in rotated.stdout + rotated.stderr
        key_file.write_text(new + "\n")  # the old key is gone
        use_them()
        audit = call("GET", "/api/tenant/audit").json()["changes"]
        assert audit[0]["action"] == "rotate-key"
        assert audit[0]["keys"] == [
            "secrets.openai",
            "secrets.signing",
            "secrets.slack-url",
            "secrets.smtp-password",
        ]

    with db.tenant_transaction(tenant) as conn:
        settings = current_settings(conn)
    new_id = key_id(Keyring((__import__("base64").urlsafe_b64decode(new),)).keys[0])
    assert {sealed.kid for sealed in settings.secrets.values()} == {new_id}
    # the old key alone no longer opens anything
    monkeypatch.setenv(KEY_ENV, old_key)
    monkeypatch.delenv(KEY_FILE_ENV)
    with pytest.raises(SecretUnreadable, match="sealed with the key"):
        read_settings(
            {"secrets": {k: v.model_dump(mode="json") for k, v in settings.secrets.items()}}
        ).secret("openai")
