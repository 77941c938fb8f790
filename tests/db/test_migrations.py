"""Migrations: up from empty, down to empty, up again; concurrency; failures leave nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from renewflow.db import Migration, MigrationError, Migrator, connect
from renewflow.db.migrator import discover


def _public_objects(url: str) -> dict[str, int]:
    with connect(url) as conn:
        row = conn.execute(
            """SELECT
                 (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'public') AS relations,
                 (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                  WHERE n.nspname = 'public'
                    -- an extension's own functions (pgvector's, where 0023 created it) are not
                    -- ours: the extension stays after a rollback, as other databases may use it
                    AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                      AND d.deptype = 'e')) AS functions,
                 (SELECT count(*) FROM pg_policy) AS policies"""
        ).fetchone()
    assert row is not None
    return dict(row)


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "renewflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_up_down_up(make_database: Callable[[], str]) -> None:
    url = make_database()
    empty = _public_objects(url)
    migrator = Migrator(url)
    applied = migrator.migrate()
    assert [m.version for m in applied] == [m.version for m in discover()]
    full = _public_objects(url)
    assert full["relations"] > 100
    assert full["policies"] > 40
    assert all(state.applied and not state.changed for state in migrator.status())

    undone = migrator.rollback(to=0)
    assert [m.version for m in undone] == [m.version for m in reversed(discover())]
    assert _public_objects(url) == empty

    migrator.migrate()
    assert _public_objects(url) == full
    assert migrator.migrate() == []


def test_rollback_steps_and_targets(make_database: Callable[[], str]) -> None:
    url = make_database()
    migrator = Migrator(url)
    migrator.migrate()
    last = discover()[-1].version
    assert [m.version for m in migrator.rollback()] == [last]
    assert [m.version for m in migrator.rollback(to=2)] == list(range(last - 1, 2, -1))
    assert [s.migration.version for s in migrator.status() if s.applied] == [1, 2]
    assert [m.version for m in migrator.migrate(target=4)] == [3, 4]


def test_failing_migration_is_rolled_back_whole(make_database: Callable[[], str]) -> None:
    url = make_database()
    broken = Migration(
        99, "broken", "CREATE TABLE half_done (id int);\nSELECT 1 / 0;", "DROP TABLE half_done;"
    )
    migrator = Migrator(url, [*discover(), broken])
    with pytest.raises(
        MigrationError, match=r"0099_broken \(up\) failed and was rolled back: division by zero"
    ):
        migrator.migrate()
    with connect(url) as conn:
        assert conn.execute("SELECT to_regclass('half_done') AS t").fetchone() == {"t": None}
        recorded = conn.execute("SELECT max(version) AS v FROM renewflow_migrations").fetchone()
    assert recorded == {"v": discover()[-1].version}  # the good ones before it stay applied


def test_edited_applied_migration_is_refused(make_database: Callable[[], str]) -> None:
    url = make_database()
    first = discover()[0]
    Migrator(url, [first]).migrate()
    edited = Migration(first.version, first.name, first.up + "\n-- edited", first.down)
    assert Migrator(url, [edited]).status()[0].changed
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        Migrator(url, [edited]).migrate()


def test_two_concurrent_migrate_processes_leave_one_consistent_schema(
    make_database: Callable[[], str],
) -> None:
    url = make_database()
    env = {**os.environ, "DATABASE_URL": url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "renewflow", "db", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    applied_counts = sorted(out.count("applied 0") for out, _ in outputs)
    assert applied_counts == [0, len(discover())]  # one did the work, the other found it done
    with connect(url) as conn:
        rows = conn.execute("SELECT version FROM renewflow_migrations ORDER BY version").fetchall()
    assert [r["version"] for r in rows] == [m.version for m in discover()]
    assert all(s.applied and not s.changed for s in Migrator(url).status())


def test_cli_migrate_status_rollback(make_database: Callable[[], str]) -> None:
    url = make_database()
    assert "pending" in _cli(url, "db", "status").stdout
    assert _cli(url, "db", "migrate").returncode == 0
    status = _cli(url, "db", "status").stdout
    assert "pending" not in status
    assert status.count("applied") == len(discover())
    result = _cli(url, "db", "rollback", "--to", "0")
    assert result.returncode == 0
    assert result.stdout.count("reverted") == len(discover())
    assert _cli(url, "db", "url").stdout.strip() == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "DATABASE_URL is not a valid PostgreSQL connection string"),
        ("mysql://root@localhost/x", "DATABASE_URL must start with postgresql://"),
        (
            "postgresql://nobody@127.0.0.1:1/nowhere",
            "cannot connect to PostgreSQL as nobody@127.0.0.1:1/nowhere",
        ),
    ],
)
def test_bad_database_url_is_one_clear_line(url: str, message: str) -> None:
    result = _cli(url, "db", "migrate")
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
