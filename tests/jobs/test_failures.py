"""The failure table is the tenant's own (row-level security, and through the API); its backoff;
periodic jobs that never hot-loop; the task sweep failing per tenant."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from renewflow import accounts
from renewflow.db import Connection, Database
from renewflow.jobs import PeriodicJob, PeriodicScheduler
from renewflow.jobs.failures import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    Fault,
    Subject,
    list_failures,
    record_failure,
)
from renewflow.jobs.periodic import retry_at
from renewflow.tasks import sweep as task_sweep_module
from renewflow.tasks.sweep import SWEEP_NAME, run_sweep
from tests.api.conftest import bearer, serve_in_thread
from tests.engine.hostile import fail_inserts_of
from tests.tasks.helpers import make_world, new_task

MOMENT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _record(db: Database, tenant: uuid.UUID, subject: str = "c-1", when: datetime = MOMENT) -> None:
    with db.tenant_transaction(tenant) as conn:
        record_failure(
            conn,
            "engine.renewal_sweep",
            Subject(tenant, "customer", subject),
            ValueError("the data is bad"),
            fault=Fault(workflow_id="prepare", field="trigger.earlyTriggers[0].condition"),
            now=when,
        )


def _tenant(db: Database) -> uuid.UUID:
    with db.service_transaction() as conn:
        tenant: uuid.UUID = accounts.create_tenant(conn, f"F {uuid.uuid4().hex[:6]}")["id"]
    return tenant


def test_the_same_subject_backs_off_exponentially(database: Database) -> None:
    tenant = _tenant(database)
    seen = []
    when = MOMENT
    for _ in range(12):
        _record(database, tenant, when=when)
        with database.tenant_transaction(tenant) as conn:
            [row], total = list_failures(conn)
        assert total == 1  # one open row per subject
        seen.append(row["next_attempt_at"] - when)
        when = row["next_attempt_at"]
    assert seen[:4] == [BACKOFF_BASE, 2 * BACKOFF_BASE, 4 * BACKOFF_BASE, 8 * BACKOFF_BASE]
    assert seen[-1] == BACKOFF_CAP
    assert (row["attempts"], row["first_seen_at"], row["error"]) == (
        12,
        MOMENT,
        "ValueError: the data is bad",
    )


def test_another_tenant_sees_no_failure_in_sql(database: Database) -> None:
    mine, other = _tenant(database), _tenant(database)
    _record(database, mine)
    with database.tenant_transaction(other) as conn:  # renewflow_app, the other tenant set
        assert conn.execute("SELECT current_user AS who").fetchone() == {"who": "renewflow_app"}
        assert conn.execute("SELECT count(*) AS n FROM job_failures").fetchone() == {"n": 0}
        assert (
            conn.execute(
                "UPDATE job_failures SET error = 'x' WHERE tenant_id = %s RETURNING id", (mine,)
            ).fetchall()
            == []
        )
    with database.app_connection() as conn, conn.transaction():  # no tenant set: nothing
        assert conn.execute("SELECT count(*) AS n FROM job_failures").fetchone() == {"n": 0}
    with database.tenant_transaction(mine) as conn:
        assert conn.execute("SELECT count(*) AS n FROM job_failures").fetchone() == {"n": 1}
    with database.owner_connection() as owner:
        forced = owner.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'job_failures'"
        ).fetchone()
    assert forced == {"relrowsecurity": True, "relforcerowsecurity": True}
    with pytest.raises(Exception, match="row-level security"):
        with database.tenant_transaction(other) as conn:
            record_failure(
                conn, "tasks.sweep", Subject(mine, "tenant", str(mine)), "planted", now=MOMENT
            )


@pytest.fixture(scope="module")
def api(database: Database) -> Iterator[str]:
    yield from serve_in_thread(database)


def _key(database: Database, tenant: uuid.UUID, role: str) -> str:
    with database.tenant_transaction(tenant) as conn:
        user = accounts.create_user(
            conn, email=f"{role}-{uuid.uuid4().hex[:8]}@example.com", role=accounts.parse_role(role)
        )
        key = accounts.issue_key(
            conn, user_id=user["id"], tenant_id=tenant, role=accounts.parse_role(role)
        )
    return key.secret


def test_admins_see_their_tenants_failures_and_nobody_elses(database: Database, api: str) -> None:
    mine, other = _tenant(database), _tenant(database)
    _record(database, mine, "c-1")
    _record(database, mine, "c-2")
    with database.tenant_transaction(mine) as conn:
        record_failure(
            conn, "notify.deliver", Subject(mine, "channel", "email"), "refused", now=MOMENT
        )
    with httpx.Client(base_url=api, timeout=10) as client:
        page = client.get("/api/failures", headers=bearer(_key(database, mine, "admin"))).json()
        assert page["total"] == 3
        first = next(i for i in page["items"] if i["subjectId"] == "c-1")
        assert first["job"] == "engine.renewal_sweep"
        assert first["subjectType"] == "customer"
        assert first["fault"] == {
            "workflowId": "prepare",
            "stepId": None,
            "notificationId": None,
            "field": "trigger.earlyTriggers[0].condition",
        }
        assert first["error"] == "ValueError: the data is bad"
        assert first["attempts"] == 1
        assert first["nextAttemptAt"] == (MOMENT + BACKOFF_BASE).isoformat().replace("+00:00", "Z")
        manager = bearer(_key(database, mine, "manager"))
        only = client.get("/api/failures?job=notify.deliver", headers=manager).json()
        assert [i["subjectType"] for i in only["items"]] == ["channel"]
        assert client.get("/api/failures?resolved=true", headers=manager).json()["total"] == 0
        # another tenant's admin sees none; a CSM may not look
        theirs = client.get("/api/failures", headers=bearer(_key(database, other, "admin")))
        assert theirs.json() == {"items": [], "total": 0}
        csm = client.get("/api/failures", headers=bearer(_key(database, mine, "csm")))
        assert csm.status_code == 403
        assert client.get("/api/failures?job=nope", headers=manager).status_code == 422


# -- periodic jobs ------------------------------------------------------------------------------


def test_a_failing_periodic_job_backs_off_instead_of_running_every_tick(
    queue_db: Database,
) -> None:
    runs: list[datetime] = []

    def failing(conn: Connection) -> None:
        runs.append(datetime.now(UTC))
        conn.execute("SELECT 1 / 0")  # its writes are rolled back; the slot's failure is not

    job = PeriodicJob("test.failing", timedelta(hours=1), failing)
    schedulers = [PeriodicScheduler(queue_db, [job], f"w{i}") for i in range(2)]
    start = datetime(2026, 11, 30, 10, 0, 30, tzinfo=UTC)
    errors = 0
    for second in range(600):  # ten minutes of ticks, once a second, by two workers
        for scheduler in schedulers:
            try:
                scheduler.tick(start + timedelta(seconds=second))
            except Exception:
                errors += 1
    assert 3 <= len(runs) <= 10, len(runs)  # not 1,200
    assert errors == len(runs)
    with queue_db.service_transaction() as conn:
        row = conn.execute(
            "SELECT attempts, last_error, next_attempt_at FROM periodic_runs "
            "WHERE job_name = 'test.failing'"
        ).fetchone()
    assert row is not None
    assert row["attempts"] == len(runs)
    assert row["last_error"].startswith("DivisionByZero: division by zero")
    assert row["next_attempt_at"] <= datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # the next slot


def test_retries_never_wait_past_the_next_slot() -> None:
    job = PeriodicJob("test.x", timedelta(seconds=30), lambda conn: None)
    slot = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert retry_at(job, slot, slot + timedelta(seconds=1), 1) == slot + timedelta(seconds=1)
    assert retry_at(job, slot, slot + timedelta(seconds=1), 2) == slot + timedelta(seconds=6)
    assert retry_at(job, slot, slot + timedelta(seconds=20), 9) == slot + timedelta(seconds=30)


def test_a_job_that_fails_then_succeeds_runs_once_more_and_no_more(queue_db: Database) -> None:
    runs: list[str] = []

    def flaky(should_stop: Callable[[], bool]) -> None:
        runs.append("run")
        if len(runs) < 3:
            raise RuntimeError(f"attempt {len(runs)} fails")

    scheduler = PeriodicScheduler(
        queue_db, [PeriodicJob.alone("test.flaky", timedelta(hours=1), flaky)], "w0"
    )
    start = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)
    for second in range(120):
        with contextlib.suppress(RuntimeError):
            scheduler.tick(start + timedelta(seconds=second))
    assert runs == ["run"] * 3
    with queue_db.service_transaction() as conn:
        row = conn.execute(
            "SELECT attempts, next_attempt_at FROM periodic_runs WHERE job_name = 'test.flaky'"
        ).fetchone()
    assert row == {"attempts": 2, "next_attempt_at": None}


# -- the task sweep -----------------------------------------------------------------------------


def test_the_task_sweep_fails_per_tenant(queue_db: Database) -> None:
    url = queue_db.owner_conninfo
    worlds = [make_world(queue_db, name) for name in ("Refused", "Good")]
    for world in worlds:
        with queue_db.tenant_transaction(world.tenant_id) as conn:
            task = new_task(conn, world)
            conn.execute(
                "UPDATE workflow_tasks SET status = 'snoozed', snoozed_until = now() - "
                "interval '1 minute' WHERE id = %s",
                (task.id,),
            )
    refused, good = worlds
    undo = fail_inserts_of(url, "workflow_tasks", refused.tenant_id)
    try:
        result = run_sweep(queue_db)
    finally:
        undo()
    assert _statuses(queue_db, good.tenant_id) == ["pending"]
    assert _statuses(queue_db, refused.tenant_id) == ["snoozed"]
    [failure] = [f for f in result.failures if f.subject.tenant_id == refused.tenant_id]
    assert failure.subject.type == "tenant"
    with queue_db.tenant_transaction(refused.tenant_id) as conn:
        [row], _ = list_failures(conn, job=SWEEP_NAME)
    assert "this tenant's row is refused" in row["error"]
    # waiting for its next attempt: the all-tenant sweep leaves it out and works again
    assert run_sweep(queue_db).failures == ()
    assert _statuses(queue_db, refused.tenant_id) == ["snoozed"]
    with queue_db.tenant_transaction(refused.tenant_id) as conn:
        conn.execute("UPDATE job_failures SET next_attempt_at = now() - interval '1 second'")
    run_sweep(queue_db)  # alone, now that it is due: it works, and the failure is resolved
    assert _statuses(queue_db, refused.tenant_id) == ["pending"]
    with queue_db.tenant_transaction(refused.tenant_id) as conn:
        assert list_failures(conn, job=SWEEP_NAME) == ([], 0)
    assert task_sweep_module.sweep_job(queue_db).run_alone is not None


def _statuses(db: Database, tenant: uuid.UUID) -> list[str]:
    with db.tenant_transaction(tenant) as conn:
        return [r["status"] for r in conn.execute("SELECT status FROM workflow_tasks")]
