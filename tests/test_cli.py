"""The CLI as a user runs it: a real process against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from renewflow import accounts
from renewflow.db import Database


def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "renewflow", *args],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_create_tenant_user_and_key_then_revoke(migrated_url: str, database: Database) -> None:
    created = run(migrated_url, "tenants", "create", "Acme CS", "--time-zone", "Europe/Berlin")
    assert created.returncode == 0, created.stderr
    tenant_id = uuid.UUID(created.stdout.strip().splitlines()[-1])

    user = run(
        migrated_url,
        "users",
        "create",
        "--tenant",
        str(tenant_id),
        "--email",
        "lead@acme.example",
        "--role",
        "manager",
    )
    assert user.returncode == 0, user.stderr
    key = user.stdout.strip().splitlines()[-1]
    with database.app_connection() as conn, conn.transaction():
        principal = accounts.authenticate(conn, key)
    assert principal is not None
    assert (principal.tenant_id, principal.role, principal.email) == (
        tenant_id,
        accounts.Role.MANAGER,
        "lead@acme.example",
    )

    revoked = run(migrated_url, "keys", "revoke", str(principal.key_id), "--tenant", str(tenant_id))
    assert revoked.returncode == 0, revoked.stderr
    with database.app_connection() as conn, conn.transaction():
        assert accounts.authenticate(conn, key) is None


def test_errors_are_one_line_and_non_zero(migrated_url: str) -> None:
    def create_user(tenant: str, role: str) -> tuple[str, ...]:
        return ("users", "create", "--tenant", tenant, "--email", "a@b.example", "--role", role)

    cases = [
        (create_user(str(uuid.uuid4()), "csm"), "tenant not found"),
        (create_user("acme", "csm"), "--tenant: not a UUID"),
        (create_user(str(uuid.uuid4()), "king"), "--role: must be one of"),
        (("tenants", "create", "X", "--time-zone", "Mars/Olympus"), "time_zone: unknown time zone"),
        (("tenants", "create", "  "), "name: must not be empty"),
        (("db", "rollback", "--to", "-1"), "--to: must be 0"),
        # usage errors, which typer raises from its own copy of click
        (("tenants", "create"), "Missing argument 'name'. (see "),
        (("serve", "--port", "70000"), "Invalid value for '--port'"),
        (("serve", "--processes", "0"), "Invalid value for '--processes'"),
        (("db", "rollback", "--to", "x"), "Invalid value for '--to'"),
        (("no-such-command",), "No such command 'no-such-command'"),
        (("worker", "--log-level", "bogus"), "Invalid value for '--log-level'"),
        (("worker", "--metrics-port", "70000"), "Invalid value for '--metrics-port'"),
    ]
    for args, message in cases:
        result = run(migrated_url, *args)
        assert result.returncode != 0, args
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RENEWFLOW_PORT", "eighty", "RENEWFLOW_PORT: Input should be a valid integer"),
        ("RENEWFLOW_HTTP_PROCESSES", "0", "RENEWFLOW_HTTP_PROCESSES: Input should be greater"),
        ("RENEWFLOW_LOG_LEVEL", "loud", "RENEWFLOW_LOG_LEVEL: Input should be 'debug', 'info'"),
        ("RENEWFLOW_POOL_MAX_SIZE", "0", "RENEWFLOW_POOL_MAX_SIZE: Input should be greater"),
    ],
)
def test_a_bad_environment_variable_is_named_in_one_line(
    migrated_url: str, variable: str, value: str, message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "renewflow", "db", "status"],
        env={**os.environ, "DATABASE_URL": migrated_url, variable: value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith(f"renewflow: error: {message}"), result.stderr


def test_duplicate_user_is_a_conflict(migrated_url: str) -> None:
    tenant_id = run(migrated_url, "tenants", "create", "Dup").stdout.strip().splitlines()[-1]
    args = ("users", "create", "--tenant", tenant_id, "--email", "same@x.example", "--role", "csm")
    assert run(migrated_url, *args).returncode == 0
    again = run(migrated_url, *args)
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_a_commands_exit_code_reaches_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import typer

    cli = importlib.import_module("renewflow.cli.app")  # the package's `app` is the Typer object

    @cli.app.command("exit-three", hidden=True)  # type: ignore[untyped-decorator]
    def exit_three() -> None:
        raise typer.Exit(3)

    monkeypatch.setattr(sys, "argv", ["renewflow", "exit-three"])
    try:
        with pytest.raises(SystemExit) as exited:
            cli.main()
    finally:
        cli.app.registered_commands = [
            c for c in cli.app.registered_commands if c.name != "exit-three"
        ]
    assert exited.value.code == 3
