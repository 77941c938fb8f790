"""`renewflow users list|set` as a user runs it: a real process against the test database."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from renewflow import accounts
from renewflow.db import Database
from tests.tasks.helpers import make_world, new_task
from tests.test_cli import run


def _person(database: Database, tenant: uuid.UUID, email: str, role: str = "csm") -> uuid.UUID:
    with database.tenant_transaction(tenant) as conn:
        user = accounts.create_user(conn, email=email, role=accounts.parse_role(role))
    user_id: uuid.UUID = user["id"]
    return user_id


def _user(database: Database, tenant: uuid.UUID, user: uuid.UUID) -> dict[str, object]:
    with database.tenant_transaction(tenant) as conn:
        return accounts.get_user(conn, user)


def test_set_a_manager_role_and_time_zone_then_list(
    migrated_url: str, database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory()
    casey = _person(database, tenant, "casey@acme.example")
    lee = _person(database, tenant, "lee@acme.example", "manager")
    done = run(
        migrated_url,
        "users",
        "set",
        "Casey@Acme.example",
        "--tenant",
        str(tenant),
        "--manager",
        "lee@acme.example",
        "--time-zone",
        "Europe/Berlin",
        "--role",
        "manager",
        "--name",
        "Casey Jones",
    )
    assert done.returncode == 0, done.stderr
    assert "casey@acme.example: manager, manager lee@acme.example" in done.stdout
    user = _user(database, tenant, casey)
    assert (user["manager_id"], user["time_zone"], user["role"], user["name"]) == (
        lee,
        "Europe/Berlin",
        "manager",
        "Casey Jones",
    )

    listed = run(migrated_url, "users", "list", "--tenant", str(tenant))
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["EMAIL", "ROLE", "NAME", "MANAGER", "TIME", "ZONE", "STATUS"]
    casey_line = next(line for line in lines if line.startswith("casey@"))
    assert "lee@acme.example" in casey_line
    assert "Europe/Berlin" in casey_line
    assert casey_line.endswith("active")

    cleared = run(
        migrated_url,
        "users",
        "set",
        "casey@acme.example",
        "--tenant",
        str(tenant),
        "--manager",
        "",
        "--time-zone",
        "",
    )
    assert cleared.returncode == 0, cleared.stderr
    user = _user(database, tenant, casey)
    assert (user["manager_id"], user["time_zone"]) == (None, None)


def test_a_cycle_or_a_bad_value_is_refused_naming_the_option(
    migrated_url: str, database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory()
    _person(database, tenant, "a@acme.example", "manager")
    b = _person(database, tenant, "b@acme.example", "manager")
    stranger_tenant = tenant_factory()
    _person(database, stranger_tenant, "stranger@acme.example", "manager")
    ok = run(
        migrated_url, "users", "set", "a@acme.example", "--tenant", str(tenant), "--manager",
        "b@acme.example",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr

    def refused(*args: str) -> tuple[int, str]:
        answer = run(migrated_url, "users", "set", *args, "--tenant", str(tenant))
        return answer.returncode, answer.stderr.strip()

    code, message = refused("b@acme.example", "--manager", "a@acme.example", "--name", "B")
    assert code == 2
    assert message.startswith("renewflow: error: --manager: a@acme.example reports to")
    assert _user(database, tenant, b)["name"] is None  # nothing of the change
    assert refused("b@acme.example", "--manager", "stranger@acme.example") == (
        1,
        "renewflow: error: --manager: no such user: stranger@acme.example",
    )
    code, message = refused("b@acme.example", "--time-zone", "Moon/Base")
    assert (code, "--time-zone: not an IANA time zone name" in message) == (2, True)
    code, message = refused("b@acme.example", "--role", "boss")
    assert (code, "--role: must be one of" in message) == (2, True)
    code, message = refused("nobody@acme.example", "--role", "csm")
    assert (code, message) == (1, "renewflow: error: EMAIL: no such user: nobody@acme.example")
    code, message = refused("b@acme.example")
    assert (code, "nothing to change" in message) == (2, True)


def test_deactivate_and_reassign_in_one_command(
    migrated_url: str, database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    world = make_world(database, "CLI")
    leaver = _user(database, world.tenant_id, world.user_id)
    heir = _person(database, world.tenant_id, "heir@acme.example")
    with database.tenant_transaction(world.tenant_id) as conn:
        key = accounts.issue_key(
            conn, user_id=world.user_id, tenant_id=world.tenant_id, role=accounts.Role.CSM
        ).secret
        task = new_task(conn, world, assigned_to=world.user_id)

    deactivated = run(
        migrated_url, "users", "set", str(leaver["email"]), "--tenant", str(world.tenant_id),
        "--deactivate",
    )  # fmt: skip
    assert deactivated.returncode == 0, deactivated.stderr
    assert "deactivated" in deactivated.stdout
    assert "still has 1 open task(s), 1 customer(s)" in deactivated.stdout
    with database.app_connection() as conn, conn.transaction():
        assert accounts.authenticate(conn, key) is None

    moved = run(
        migrated_url, "users", "set", str(leaver["email"]), "--tenant", str(world.tenant_id),
        "--reassign-to", "heir@acme.example",
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    assert "reassigned to heir@acme.example: 1 open task(s), 1 customer(s)" in moved.stdout
    assert "still has" not in moved.stdout
    with database.tenant_transaction(world.tenant_id) as conn:
        row = conn.execute(
            "SELECT t.assigned_to, c.csm_id FROM workflow_tasks t "
            "JOIN customers c ON c.id = t.customer_id WHERE t.id = %s",
            (task.id,),
        ).fetchone()
    assert row == {"assigned_to": heir, "csm_id": heir}

    to_a_leaver = run(
        migrated_url, "users", "set", "heir@acme.example", "--tenant", str(world.tenant_id),
        "--deactivate", "--reassign-to", str(leaver["email"]),
    )  # fmt: skip
    assert to_a_leaver.returncode == 2
    assert "--reassign-to:" in to_a_leaver.stderr
    assert _user(database, world.tenant_id, heir)["active"] is True  # all or nothing
