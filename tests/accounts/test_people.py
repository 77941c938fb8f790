"""People: managers without cycles (in the package and against the trigger, as the app role),
another tenant's user refused exactly like a missing one, time zones, a role change reaching the
user's keys, deactivation stopping keys and sessions at once, and reassigning a user's work."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from renewflow import accounts
from renewflow.accounts import UserChange
from renewflow.accounts.sessions import authenticate_session, open_session
from renewflow.db import Database
from tests.tasks.helpers import make_world, new_task

TenantFactory = Callable[..., uuid.UUID]


def _people(database: Database, tenant: uuid.UUID, *names: str) -> list[uuid.UUID]:
    with database.tenant_transaction(tenant) as conn:
        return [
            accounts.create_user(
                conn,
                email=f"{name}-{uuid.uuid4().hex[:6]}@vendor.example",
                role=accounts.Role.MANAGER,
                name=name.title(),
            )["id"]
            for name in names
        ]


def _set_manager(
    database: Database, tenant: uuid.UUID, user: uuid.UUID, manager: uuid.UUID | None
) -> dict[str, Any]:
    with database.tenant_transaction(tenant) as conn:
        return accounts.update_user(conn, user, UserChange(manager_id=manager))


def _user(database: Database, tenant: uuid.UUID, user: uuid.UUID) -> dict[str, Any]:
    with database.tenant_transaction(tenant) as conn:
        return accounts.get_user(conn, user)


# --- managers ------------------------------------------------------------------------------------


def test_a_manager_is_set_and_cleared(database: Database, tenant_factory: TenantFactory) -> None:
    tenant = tenant_factory()
    csm, lead = _people(database, tenant, "casey", "lee")
    updated = _set_manager(database, tenant, csm, lead)
    assert updated["manager_id"] == lead
    assert updated["manager_email"] == _user(database, tenant, lead)["email"]
    assert _set_manager(database, tenant, csm, None)["manager_id"] is None


def test_a_new_user_can_have_a_manager_and_a_time_zone(
    database: Database, tenant_factory: TenantFactory
) -> None:
    tenant = tenant_factory()
    (lead,) = _people(database, tenant, "lee")
    with database.tenant_transaction(tenant) as conn:
        user = accounts.create_user(
            conn,
            email="new@vendor.example",
            role=accounts.Role.CSM,
            manager_id=lead,
            time_zone="america/new_york",
        )
    assert (user["manager_id"], user["time_zone"]) == (lead, "America/New_York")


def test_nobody_is_their_own_manager(database: Database, tenant_factory: TenantFactory) -> None:
    tenant = tenant_factory()
    (ada,) = _people(database, tenant, "ada")
    with pytest.raises(accounts.InvalidInput) as refused:
        _set_manager(database, tenant, ada, ada)
    assert refused.value.field == "manager_id"
    assert "their own manager" in refused.value.reason


def test_a_direct_cycle_is_refused(database: Database, tenant_factory: TenantFactory) -> None:
    tenant = tenant_factory()
    ada, bob = _people(database, tenant, "ada", "bob")
    _set_manager(database, tenant, ada, bob)
    with pytest.raises(accounts.InvalidInput) as refused:
        _set_manager(database, tenant, bob, ada)
    assert refused.value.field == "manager_id"
    assert "reports to" in refused.value.reason
    assert _user(database, tenant, bob)["manager_id"] is None


def test_a_deeper_cycle_is_refused(database: Database, tenant_factory: TenantFactory) -> None:
    tenant = tenant_factory()
    ada, bob, cy, dee = _people(database, tenant, "ada", "bob", "cy", "dee")
    # ada -> bob -> cy -> dee
    _set_manager(database, tenant, ada, bob)
    _set_manager(database, tenant, bob, cy)
    _set_manager(database, tenant, cy, dee)
    with pytest.raises(accounts.InvalidInput, match="reports to"):
        _set_manager(database, tenant, dee, ada)
    with pytest.raises(accounts.InvalidInput, match="reports to"):
        _set_manager(database, tenant, cy, ada)
    assert _user(database, tenant, dee)["manager_id"] is None
    assert _user(database, tenant, cy)["manager_id"] == dee
    # moving a branch elsewhere is no cycle
    assert _set_manager(database, tenant, bob, dee)["manager_id"] == dee


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_the_trigger_refuses_a_cycle_written_in_sql_as_the_app_role(
    database: Database, tenant_factory: TenantFactory, depth: int
) -> None:
    tenant = tenant_factory()
    chain = _people(database, tenant, *(f"p{i}" for i in range(depth + 1)))
    with database.tenant_transaction(tenant) as conn:
        for lower, upper in itertools.pairwise(chain):
            conn.execute("UPDATE users SET manager_id = %s WHERE id = %s", (upper, lower))
        assert conn.execute("SELECT current_user AS role").fetchone() == {"role": "renewflow_app"}
    with (
        pytest.raises(psycopg.errors.CheckViolation) as refused,
        database.tenant_transaction(tenant) as conn,
    ):
        conn.execute("UPDATE users SET manager_id = %s WHERE id = %s", (chain[0], chain[-1]))
    assert refused.value.diag.constraint_name == "users_manager_no_cycle"


def test_the_trigger_refuses_a_cycle_made_by_one_statement(
    database: Database, tenant_factory: TenantFactory
) -> None:
    tenant = tenant_factory()
    ada, bob = _people(database, tenant, "ada", "bob")
    with (
        pytest.raises(psycopg.errors.CheckViolation),
        database.tenant_transaction(tenant) as conn,
    ):
        conn.execute(
            "UPDATE users SET manager_id = CASE WHEN id = %(a)s THEN %(b)s::uuid ELSE %(a)s END "
            "WHERE id IN (%(a)s, %(b)s)",
            {"a": ada, "b": bob},
        )
    with (
        pytest.raises(psycopg.errors.CheckViolation),
        database.service_transaction() as conn,
    ):
        conn.execute("UPDATE users SET manager_id = id WHERE id = %s", (ada,))


def test_concurrent_changes_cannot_make_a_cycle_together(
    database: Database, tenant_factory: TenantFactory
) -> None:
    """A under B in one transaction, B under A in another, at the same moment: the second waits
    for the first (the trigger's per-tenant lock), then sees its change and refuses."""
    tenant = tenant_factory()
    ada, bob = _people(database, tenant, "ada", "bob")
    outcome: dict[str, BaseException | None] = {}
    with database.tenant_transaction(tenant) as first:
        first.execute("UPDATE users SET manager_id = %s WHERE id = %s", (bob, ada))

        def second() -> None:
            try:
                with database.tenant_transaction(tenant) as conn:
                    conn.execute("UPDATE users SET manager_id = %s WHERE id = %s", (ada, bob))
                outcome["second"] = None
            except psycopg.Error as error:
                outcome["second"] = error

        waiting = threading.Thread(target=second)
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive(), "the second change did not wait for the first"
    waiting.join(10)
    assert isinstance(outcome["second"], psycopg.errors.CheckViolation)
    assert _user(database, tenant, ada)["manager_id"] == bob
    assert _user(database, tenant, bob)["manager_id"] is None


def test_another_tenants_user_is_refused_exactly_like_a_missing_one(
    database: Database, tenant_factory: TenantFactory
) -> None:
    mine, theirs = tenant_factory(), tenant_factory()
    (ada,) = _people(database, mine, "ada")
    (stranger,) = _people(database, theirs, "stranger")
    answers = []
    for manager in (stranger, uuid.uuid4()):
        with pytest.raises(accounts.NoSuchUser) as refused:
            _set_manager(database, mine, ada, manager)
        answers.append((refused.value.field, refused.value.message))
        with (
            pytest.raises(accounts.NoSuchUser) as at_creation,
            database.tenant_transaction(mine) as conn,
        ):
            accounts.create_user(
                conn, email="x@vendor.example", role=accounts.Role.CSM, manager_id=manager
            )
        answers.append((at_creation.value.field, at_creation.value.message))
    assert answers[0] == answers[2] == ("manager_id", "manager_id: no such user")
    assert answers[1] == answers[3]
    # and in SQL, the composite foreign key: another tenant's id fails like a missing one
    for manager in (stranger, uuid.uuid4()):
        with (
            pytest.raises(psycopg.errors.ForeignKeyViolation) as refused_in_sql,
            database.tenant_transaction(mine) as conn,
        ):
            conn.execute("UPDATE users SET manager_id = %s WHERE id = %s", (manager, ada))
        assert refused_in_sql.value.diag.constraint_name == "users_tenant_id_manager_id_fkey"


def test_a_deactivated_person_or_an_integration_is_no_manager(
    database: Database, tenant_factory: TenantFactory
) -> None:
    tenant = tenant_factory()
    ada, gone = _people(database, tenant, "ada", "gone")
    with database.tenant_transaction(tenant) as conn:
        accounts.update_user(conn, gone, UserChange(active=False))
        bot = accounts.create_user(conn, email="bot@vendor.example", role=accounts.Role.SERVICE)
    with pytest.raises(accounts.InvalidInput, match="is deactivated"):
        _set_manager(database, tenant, ada, gone)
    with pytest.raises(accounts.InvalidInput, match="is an integration"):
        _set_manager(database, tenant, ada, bot["id"])


def test_a_manager_deactivated_later_can_be_kept(
    database: Database, tenant_factory: TenantFactory
) -> None:
    """Saving a person's form unchanged must not fail because their manager has left."""
    tenant = tenant_factory()
    ada, lead = _people(database, tenant, "ada", "lead")
    _set_manager(database, tenant, ada, lead)
    with database.tenant_transaction(tenant) as conn:
        accounts.update_user(conn, lead, UserChange(active=False))
        kept = accounts.update_user(conn, ada, UserChange(name="Ada L", manager_id=lead))
    assert (kept["name"], kept["manager_id"]) == ("Ada L", lead)


# --- time zones and all-or-nothing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [("Europe/Berlin", "Europe/Berlin"), (" asia/kolkata ", "Asia/Kolkata"), (None, None)],
)
def test_a_time_zone_is_an_iana_name(
    database: Database, tenant_factory: TenantFactory, given: str | None, stored: str | None
) -> None:
    tenant = tenant_factory()
    (ada,) = _people(database, tenant, "ada")
    with database.tenant_transaction(tenant) as conn:
        accounts.update_user(conn, ada, UserChange(time_zone="UTC"))
        assert accounts.update_user(conn, ada, UserChange(time_zone=given))["time_zone"] == stored


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "localtime", "../etc/passwd", "UTC+3", ""])
def test_an_unknown_time_zone_changes_nothing(
    database: Database, tenant_factory: TenantFactory, zone: str
) -> None:
    tenant = tenant_factory()
    ada, lead = _people(database, tenant, "ada", "lead")
    with (
        pytest.raises(accounts.InvalidInput) as refused,
        database.tenant_transaction(tenant) as conn,
    ):
        accounts.update_user(
            conn,
            ada,
            UserChange(name="Renamed", role=accounts.Role.CSM, manager_id=lead, time_zone=zone),
        )
    assert refused.value.field == "time_zone"
    after = _user(database, tenant, ada)
    assert (after["name"], after["role"], after["manager_id"], after["time_zone"]) == (
        "Ada",
        "manager",
        None,
        None,
    )


def test_the_database_refuses_a_time_zone_it_does_not_know(
    database: Database, tenant_factory: TenantFactory
) -> None:
    tenant = tenant_factory()
    (ada,) = _people(database, tenant, "ada")
    with (
        pytest.raises(psycopg.errors.CheckViolation) as refused,
        database.tenant_transaction(tenant) as conn,
    ):
        conn.execute("UPDATE users SET time_zone = 'Mars/Olympus_Mons' WHERE id = %s", (ada,))
    assert refused.value.diag.constraint_name == "users_time_zone_known"


def test_a_refused_change_leaves_the_transaction_usable(
    database: Database, tenant_factory: TenantFactory
) -> None:
    tenant = tenant_factory()
    ada, bob = _people(database, tenant, "ada", "bob")
    with database.tenant_transaction(tenant) as conn:
        accounts.update_user(conn, ada, UserChange(manager_id=bob))
        with pytest.raises(accounts.InvalidInput):
            accounts.update_user(conn, bob, UserChange(name="Bob B", manager_id=ada))
        accounts.update_user(conn, bob, UserChange(name="Bob B"))
    assert _user(database, tenant, bob)["name"] == "Bob B"
    assert _user(database, tenant, bob)["manager_id"] is None


# --- roles, deactivation -------------------------------------------------------------------------


def _key(database: Database, tenant: uuid.UUID, user: uuid.UUID) -> str:
    with database.tenant_transaction(tenant) as conn:
        role = accounts.Role(accounts.get_user(conn, user)["role"])
        return accounts.issue_key(conn, user_id=user, tenant_id=tenant, role=role).secret


def _principal(database: Database, secret: str) -> accounts.Principal | None:
    with database.app_connection() as conn, conn.transaction():
        return accounts.authenticate(conn, secret)


def test_a_role_change_reaches_the_users_keys(
    database: Database, tenant_factory: TenantFactory
) -> None:
    tenant = tenant_factory()
    (ada,) = _people(database, tenant, "ada")
    secret = _key(database, tenant, ada)
    with database.tenant_transaction(tenant) as conn:
        accounts.update_user(conn, ada, UserChange(role=accounts.Role.CSM))
    principal = _principal(database, secret)
    assert principal is not None
    assert principal.role is accounts.Role.CSM


def test_deactivation_stops_keys_and_sessions_at_once(
    database: Database, tenant_factory: TenantFactory
) -> None:
    tenant = tenant_factory()
    admin, ada = _people(database, tenant, "admin", "ada")
    secret = _key(database, tenant, ada)
    with database.tenant_transaction(tenant) as conn:
        token, _ = open_session(conn, ada, signed_in_with="link", user_agent=None)
    with database.tenant_transaction(tenant) as conn:
        accounts.update_user(conn, ada, UserChange(active=False), acting_user_id=admin)
    assert _principal(database, secret) is None
    with database.app_connection() as conn, conn.transaction():
        assert authenticate_session(conn, token) is None
    with database.tenant_transaction(tenant) as conn:
        sessions = conn.execute(
            "SELECT revoked_at FROM console_sessions WHERE user_id = %s", (ada,)
        ).fetchall()
        assert [s["revoked_at"] is not None for s in sessions] == [True]
        accounts.update_user(conn, ada, UserChange(active=True), acting_user_id=admin)
    assert _principal(database, secret) is not None  # keys come back with the person
    with database.app_connection() as conn, conn.transaction():
        assert authenticate_session(conn, token) is None  # sessions do not


def test_nobody_changes_their_own_role_or_deactivates_themselves(
    database: Database, tenant_factory: TenantFactory
) -> None:
    tenant = tenant_factory()
    (admin,) = _people(database, tenant, "admin")
    with database.tenant_transaction(tenant) as conn:
        for change, field in (
            (UserChange(role=accounts.Role.CSM), "role"),
            (UserChange(active=False), "active"),
        ):
            with pytest.raises(accounts.InvalidInput) as refused:
                accounts.update_user(conn, admin, change, acting_user_id=admin)
            assert refused.value.field == field
        # the same role, a name, a time zone: fine
        accounts.update_user(
            conn,
            admin,
            UserChange(role=accounts.Role.MANAGER, name="Me", time_zone="Europe/Paris"),
            acting_user_id=admin,
        )


# --- reassignment --------------------------------------------------------------------------------


def test_reassigning_moves_open_tasks_customers_and_overrides_in_one_call(
    database: Database,
) -> None:
    world = make_world(database, "Reassign")
    (heir,) = _people(database, world.tenant_id, "heir")
    leaver = world.user_id
    with database.tenant_transaction(world.tenant_id) as conn:
        open_ids = [new_task(conn, world, assigned_to=leaver).id for _ in range(2)]
        done = new_task(conn, world, assigned_to=leaver)
        conn.execute(
            "UPDATE workflow_tasks SET status = 'completed', completed_at = now() WHERE id = %s",
            (done.id,),
        )
        conn.execute(
            "UPDATE customers SET manager_override_id = %s WHERE id = %s",
            (leaver, world.customer_id),
        )
        accounts.update_user(conn, leaver, UserChange(active=False))
        assert accounts.work_of(conn, leaver) == accounts.Work(2, 1, 1, 0)
        moved = accounts.reassign_work(conn, leaver, heir)
        assert moved == accounts.Reassigned(tasks=2, customers=1, escalations=1)
        tasks = {
            row["id"]: row["assigned_to"]
            for row in conn.execute("SELECT id, assigned_to FROM workflow_tasks").fetchall()
        }
        customer = conn.execute(
            "SELECT csm_id, manager_override_id FROM customers WHERE id = %s",
            (world.customer_id,),
        ).fetchone()
        assert accounts.work_of(conn, leaver).empty
    assert {tasks[i] for i in open_ids} == {heir}
    assert tasks[done.id] == leaver  # who did it stays on the record
    assert customer == {"csm_id": heir, "manager_override_id": heir}


def test_reassigning_to_nobody_valid_moves_nothing(
    database: Database, tenant_factory: TenantFactory
) -> None:
    world = make_world(database, "Reassign")
    (gone,) = _people(database, world.tenant_id, "gone")
    (stranger,) = _people(database, tenant_factory(), "stranger")
    with database.tenant_transaction(world.tenant_id) as conn:
        task = new_task(conn, world, assigned_to=world.user_id)
        accounts.update_user(conn, gone, UserChange(active=False))
        bot = accounts.create_user(conn, email="bot@vendor.example", role=accounts.Role.SERVICE)
        refusals = []
        for target in (stranger, uuid.uuid4(), gone, bot["id"], world.user_id):
            with pytest.raises((accounts.NotFound, accounts.InvalidInput)) as refused:
                accounts.reassign_work(conn, world.user_id, target)
            refusals.append((type(refused.value).__name__, str(refused.value)))
        assert refusals[0] == refusals[1] == ("NoSuchUser", "to: no such user")
        assert "deactivated" in refusals[2][1]
        assert "integration" in refusals[3][1]
        assert "someone else" in refusals[4][1]
        row = conn.execute(
            "SELECT assigned_to FROM workflow_tasks WHERE id = %s", (task.id,)
        ).fetchone()
        assert row == {"assigned_to": world.user_id}
        with pytest.raises(accounts.NotFound):
            accounts.reassign_work(conn, uuid.uuid4(), world.user_id)


# --- where escalations go ------------------------------------------------------------------------


def test_escalations_pass_over_deactivated_managers(
    database: Database, tenant_factory: TenantFactory
) -> None:
    """escalation_manager(): the override if active, else the nearest active manager up the
    CSM's chain."""
    tenant = tenant_factory()
    csm, lead, director, override = _people(database, tenant, "csm", "lead", "director", "ovr")
    _set_manager(database, tenant, csm, lead)
    _set_manager(database, tenant, lead, director)

    def escalation(override_id: uuid.UUID | None) -> uuid.UUID | None:
        with database.tenant_transaction(tenant) as conn:
            row = conn.execute(
                "SELECT escalation_manager(current_tenant_id(), %s, %s) AS id",
                (override_id, csm),
            ).fetchone()
        assert row is not None
        found: uuid.UUID | None = row["id"]
        return found

    assert escalation(None) == lead
    assert escalation(override) == override
    with database.tenant_transaction(tenant) as conn:
        accounts.update_user(conn, override, UserChange(active=False))
        accounts.update_user(conn, lead, UserChange(active=False))
    assert escalation(override) == director
    with database.tenant_transaction(tenant) as conn:
        accounts.update_user(conn, director, UserChange(active=False))
    assert escalation(override) is None
