"""`renewflow knowledge` as a user runs it: a real process against the test database."""

from __future__ import annotations

import uuid
from pathlib import Path

from renewflow import accounts
from renewflow.db import Database
from tests.knowledge.helpers import MARKDOWN
from tests.test_cli import run


def _tenant(database: Database) -> uuid.UUID:
    with database.service_transaction() as conn:
        tenant_id: uuid.UUID = accounts.create_tenant(conn, f"CLI {uuid.uuid4().hex[:6]}")["id"]
    return tenant_id


def _documents(database: Database, tenant_id: uuid.UUID) -> int:
    with database.tenant_transaction(tenant_id) as conn:
        row = conn.execute("SELECT count(*) AS n FROM knowledge_documents").fetchone()
    assert row is not None
    return int(row["n"])


def test_add_list_and_search(migrated_url: str, database: Database, tmp_path: Path, index) -> None:
    tenant = _tenant(database)
    (tmp_path / "playbook.md").write_bytes(MARKDOWN)
    (tmp_path / "faq.txt").write_text("Escalate a P1 ticket to the war room within an hour.")
    files = [str(tmp_path / "playbook.md"), str(tmp_path / "faq.txt")]
    added = run(
        migrated_url, "knowledge", "add", "Playbooks", *files, "--tenant", str(tenant), "--create"
    )
    assert added.returncode == 0, added.stderr
    assert "2 document(s) added" in added.stdout
    assert index() == 2
    listed = run(migrated_url, "knowledge", "list", "--tenant", str(tenant))
    assert "Playbooks  2 document(s)" in listed.stdout
    found = run(
        migrated_url,
        "knowledge",
        "search",
        "war room",
        "--tenant",
        str(tenant),
        "--base",
        "Playbooks",
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith(" 1. ")
    assert "war room" in found.stdout
    nothing = run(migrated_url, "knowledge", "search", "the of", "--tenant", str(tenant))
    assert "no results: the query has only stop words" in nothing.stdout


def test_bad_input_is_one_line_non_zero_and_writes_nothing(
    migrated_url: str, database: Database, tmp_path: Path
) -> None:
    tenant = _tenant(database)
    good = tmp_path / "good.md"
    good.write_bytes(MARKDOWN)
    (tmp_path / "tool.exe").write_bytes(b"MZ")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    cases = [
        (["Playbooks", str(good), "--tenant", str(tenant)], "knowledge base 'Playbooks' not found"),
        (
            [
                "Playbooks",
                str(good),
                str(tmp_path / "tool.exe"),
                "--tenant",
                str(tenant),
                "--create",
            ],
            "tool.exe: unsupported file type",
        ),
        (
            [
                "Playbooks",
                str(good),
                str(tmp_path / "latin.txt"),
                "--tenant",
                str(tenant),
                "--create",
            ],
            "latin.txt: not UTF-8 text",
        ),
        (
            ["Playbooks", str(tmp_path / "missing.md"), "--tenant", str(tenant), "--create"],
            "missing.md: no such file",
        ),
        (["Playbooks", str(good), "--tenant", "acme"], "--tenant: not a UUID"),
    ]
    for args, message in cases:
        result = run(migrated_url, "knowledge", "add", *args)
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert message in lines[0], (args, result.stderr)
    assert _documents(database, tenant) == 0
