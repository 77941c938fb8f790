"""Ordered plain-SQL migrations: `NNNN_name.up.sql` with its `NNNN_name.down.sql`.

Each migration runs in its own transaction together with its bookkeeping row, so a failure leaves
nothing of itself behind. A session advisory lock serialises runners: a second process starting at
the same moment waits, then finds the work done.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from renewflow.db.database import Connection, connect
from renewflow.db.errors import MigrationError

# An arbitrary constant: the advisory-lock key all renewflow migration runners agree on.
_LOCK_KEY = 0x72656E6577666C6F  # "renewflo"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: str
    down: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.up.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class MigrationState:
    migration: Migration
    applied: bool
    changed: bool  # applied, but the shipped file no longer matches what was applied


def discover() -> list[Migration]:
    """The migrations shipped in `renewflow/db/migrations`, in order; each must have both halves."""
    halves: dict[tuple[int, str], dict[str, str]] = {}
    for entry in resources.files("renewflow.db.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            key = (int(match.group(1)), match.group(2))
            halves.setdefault(key, {})[match.group(3)] = entry.read_text(encoding="utf-8")
    migrations: list[Migration] = []
    for (version, name), parts in sorted(halves.items()):
        if set(parts) != {"up", "down"}:
            raise MigrationError(f"migration {version:04d}_{name} lacks its up or down file")
        migrations.append(Migration(version, name, parts["up"], parts["down"]))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migrations share a version number")
    return migrations


class Migrator:
    """Applies and reverts migrations on one database, as its owner."""

    def __init__(self, owner_conninfo: str, migrations: list[Migration] | None = None) -> None:
        self._conninfo = owner_conninfo
        self._migrations = migrations if migrations is not None else discover()

    def status(self) -> list[MigrationState]:
        with connect(self._conninfo) as conn:
            applied = _applied(conn)
        return [
            MigrationState(
                m, m.version in applied, applied.get(m.version, m.checksum) != m.checksum
            )
            for m in self._migrations
        ]

    def migrate(self, target: int | None = None) -> list[Migration]:
        """Applies every pending migration up to `target` (all by default); returns those applied."""
        done: list[Migration] = []
        with connect(self._conninfo) as conn, _locked(conn):
            _ensure_table(conn)
            applied = _applied(conn)
            for migration in self._migrations:
                recorded = applied.get(migration.version)
                if recorded is not None:
                    if recorded != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.label} was changed after it was applied; "
                            "write a new migration instead of editing an applied one"
                        )
                    continue
                if target is not None and migration.version > target:
                    break
                self._run(conn, migration, "up")
                done.append(migration)
        return done

    def rollback(self, to: int | None = None) -> list[Migration]:
        """Reverts applied migrations newest first, down to version `to` (default: the last one only).

        `to=0` reverts everything, bookkeeping included: the database is left empty.
        """
        undone: list[Migration] = []
        with connect(self._conninfo) as conn, _locked(conn):
            _ensure_table(conn)
            applied = _applied(conn)
            newest_first = [m for m in reversed(self._migrations) if m.version in applied]
            unknown = set(applied) - {m.version for m in self._migrations}
            if unknown:
                raise MigrationError(
                    f"the database has migrations this renewflow does not know: {sorted(unknown)}"
                )
            if to is None:
                to = newest_first[1].version if len(newest_first) > 1 else 0
            for migration in newest_first:
                if migration.version <= to:
                    break
                self._run(conn, migration, "down")
                undone.append(migration)
            if to == 0:
                conn.execute("DROP TABLE IF EXISTS renewflow_migrations")
        return undone

    @staticmethod
    def _run(conn: Connection, migration: Migration, direction: str) -> None:
        script = migration.up if direction == "up" else migration.down
        try:
            with conn.transaction():
                # The file is shipped with the package: as trusted as the code itself.
                conn.execute(script, prepare=False)
                if direction == "up":
                    conn.execute(
                        "INSERT INTO renewflow_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                else:
                    conn.execute(
                        "DELETE FROM renewflow_migrations WHERE version = %s", (migration.version,)
                    )
        except psycopg.Error as error:
            detail = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            raise MigrationError(
                f"migration {migration.label} ({direction}) failed and was rolled back: {detail}"
            ) from None


class _locked:
    """Holds the migration advisory lock on `conn` for the duration of the block."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))

    def __exit__(self, *exc_info: object) -> None:
        if not self._conn.closed and not self._conn.broken:
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _ensure_table(conn: Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS renewflow_migrations (
             version integer PRIMARY KEY,
             name text NOT NULL,
             checksum text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def _applied(conn: Connection) -> dict[int, str]:
    exists = conn.execute("SELECT to_regclass('renewflow_migrations') IS NOT NULL AS ok").fetchone()
    if not exists or not exists["ok"]:
        return {}
    rows = conn.execute("SELECT version, checksum FROM renewflow_migrations").fetchall()
    return {row["version"]: row["checksum"] for row in rows}
