"""The action plan's rules on real PostgreSQL: sub-task roll-up, transitions, snooze and its
deadline, snoozed tasks coming back, continuity across workflows."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from renewflow import tasks
from renewflow.db import Connection, Database
from renewflow.errors import InvalidInputError
from renewflow.tasks import DecisionRequired, Status, Task, TaskFilters, TransitionNotAllowed
from renewflow.tasks.sweep import sweep
from tests.tasks.helpers import World, ai_data, new_task, next_execution, task_data


def _parent_with_subtasks(database: Database, world: World, n: int = 3):
    with database.tenant_transaction(world.tenant_id) as conn:
        parent = new_task(conn, world, complexity="complex")
        subs = [new_task(conn, world, parent_task_id=parent.id) for _ in range(n)]
    return parent, subs


def _status(database: Database, world: World, task_id: uuid.UUID) -> Status:
    with database.tenant_transaction(world.tenant_id) as conn:
        return tasks.get_task(conn, task_id).status


def test_parent_completes_when_every_subtask_is_closed(database: Database, world: World) -> None:
    parent, (a, b, c) = _parent_with_subtasks(database, world)
    with database.tenant_transaction(world.tenant_id) as conn:
        tasks.complete_task(conn, a.id)
        tasks.skip_task(conn, b.id, "CFO already briefed")
    assert _status(database, world, parent.id) is Status.PENDING
    with database.tenant_transaction(world.tenant_id) as conn:
        tasks.cancel_task(conn, c.id)
        done = tasks.get_task(conn, parent.id)
    assert done.status is Status.COMPLETED
    assert done.completed_at is not None
    assert done.metadata.get("autoCompleted") is True


def test_parent_reopens_when_a_subtask_reopens(database: Database, world: World) -> None:
    parent, subs = _parent_with_subtasks(database, world, 2)
    with database.tenant_transaction(world.tenant_id) as conn:
        for sub in subs:
            tasks.complete_task(conn, sub.id)
    assert _status(database, world, parent.id) is Status.COMPLETED
    with database.tenant_transaction(world.tenant_id) as conn:
        reopened = tasks.reopen_task(conn, subs[0].id)
        assert reopened.completed_at is None
        parent_now = tasks.get_task(conn, parent.id)
    assert parent_now.status is Status.PENDING
    assert parent_now.completed_at is None


def test_roll_up_climbs_the_hierarchy(database: Database, world: World) -> None:
    with database.tenant_transaction(world.tenant_id) as conn:
        root = new_task(conn, world)
        middle = new_task(conn, world, parent_task_id=root.id)
        leaf = new_task(conn, world, parent_task_id=middle.id)
        tasks.complete_task(conn, leaf.id)
        assert tasks.get_task(conn, middle.id).status is Status.COMPLETED
        assert tasks.get_task(conn, root.id).status is Status.COMPLETED
        tasks.reopen_task(conn, leaf.id)
        assert tasks.get_task(conn, root.id).status is Status.PENDING


def test_concurrent_subtask_completions_still_complete_the_parent(
    database: Database, world: World
) -> None:
    """Two transactions each closing the last-but-one sub-task must not both miss the roll-up."""
    for _ in range(5):
        parent, subs = _parent_with_subtasks(database, world, 2)
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def close(
            task_id: uuid.UUID,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                with database.tenant_transaction(world.tenant_id) as conn:
                    barrier.wait()
                    tasks.complete_task(conn, task_id)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=close, args=(s.id,)) for s in subs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert _status(database, world, parent.id) is Status.COMPLETED


@pytest.mark.parametrize(
    ("first", "then", "message"),
    [
        ("complete", "complete", "completed"),
        ("cancel", "skip", "cancelled"),
        ("skip", "snooze", "skipped"),
    ],
)
def test_closed_tasks_only_reopen(
    database: Database, world: World, first: str, then: str, message: str
) -> None:
    with database.tenant_transaction(world.tenant_id) as conn:
        task = new_task(conn, world)
    actions: dict[str, Callable[[Connection, uuid.UUID], Task]] = {
        "complete": tasks.complete_task,
        "cancel": tasks.cancel_task,
        "skip": lambda conn, t: tasks.skip_task(conn, t, "not needed"),
        "snooze": lambda conn, t: tasks.snooze_task(
            conn, t, tasks.get_task(conn, t).created_at + timedelta(days=1)
        ),
    }
    with database.tenant_transaction(world.tenant_id) as conn:
        actions[first](conn, task.id)
    with pytest.raises(TransitionNotAllowed, match=message):
        with database.tenant_transaction(world.tenant_id) as conn:
            actions[then](conn, task.id)
    with pytest.raises(TransitionNotAllowed, match="only a completed"):
        with database.tenant_transaction(world.tenant_id) as conn:
            tasks.reopen_task(conn, new_task(conn, world).id)


def test_skip_needs_a_reason(database: Database, world: World) -> None:
    with database.tenant_transaction(world.tenant_id) as conn:
        task = new_task(conn, world)
    with pytest.raises(InvalidInputError) as caught:
        with database.tenant_transaction(world.tenant_id) as conn:
            tasks.skip_task(conn, task.id, "   ")
    assert caught.value.field == "body.reason"
    with database.tenant_transaction(world.tenant_id) as conn:
        skipped = tasks.skip_task(conn, task.id, " duplicate ")
    assert (skipped.status, skipped.skip_reason) == (Status.SKIPPED, "duplicate")
    assert skipped.skipped_at is not None


def test_snooze_counts_and_sets_a_deadline_seven_days_after_the_first(
    database: Database, world: World
) -> None:
    with database.tenant_transaction(world.tenant_id) as conn:
        task = new_task(conn, world)
        now = conn.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]
        once = tasks.snooze_task(conn, task.id, now + timedelta(days=2))
    assert (once.status, once.snooze_count) == (Status.SNOOZED, 1)
    assert once.first_snoozed_at is not None
    assert once.snooze_deadline == once.first_snoozed_at + timedelta(days=7)
    with database.tenant_transaction(world.tenant_id) as conn:
        twice = tasks.snooze_task(conn, task.id, now + timedelta(days=3))
    assert twice.snooze_count == 2
    assert (twice.first_snoozed_at, twice.snooze_deadline) == (
        once.first_snoozed_at,
        once.snooze_deadline,
    )
    with pytest.raises(InvalidInputError, match="deadline") as caught:
        with database.tenant_transaction(world.tenant_id) as conn:
            tasks.snooze_task(conn, task.id, now + timedelta(days=8))
    assert caught.value.field == "body.until"


def test_past_the_deadline_a_decision_is_required(database: Database, world: World) -> None:
    with database.tenant_transaction(world.tenant_id) as conn:
        task = new_task(conn, world)
        now = conn.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]
        tasks.snooze_task(conn, task.id, now + timedelta(days=1))
        # eight days pass
        conn.execute(
            "UPDATE workflow_tasks SET first_snoozed_at = first_snoozed_at - interval '8 days', "
            "snooze_deadline = snooze_deadline - interval '8 days', "
            "snoozed_until = now() - interval '1 hour' WHERE id = %s",
            (task.id,),
        )
        shown = tasks.get_task(conn, task.id)
    assert shown.requires_decision is True
    assert shown.status is Status.PENDING  # it came back
    with pytest.raises(DecisionRequired, match="decision is required"):
        with database.tenant_transaction(world.tenant_id) as conn:
            tasks.snooze_task(conn, task.id, now + timedelta(hours=1))
    # the sweep writes the flag down; completing is still possible
    with database.service_transaction() as conn:
        sweep(conn)
    with database.tenant_transaction(world.tenant_id) as conn:
        stored = conn.execute(
            "SELECT requires_decision FROM workflow_tasks WHERE id = %s", (task.id,)
        ).fetchone()
        assert stored == {"requires_decision": True}
        assert tasks.complete_task(conn, task.id).status is Status.COMPLETED


def test_snooze_deadline_is_configurable_per_tenant(database: Database, world: World) -> None:
    with database.service_transaction() as conn:
        conn.execute(
            "UPDATE tenants SET settings = settings || '{\"snooze_deadline_days\": 2}' WHERE id = %s",
            (world.tenant_id,),
        )
    with database.tenant_transaction(world.tenant_id) as conn:
        task = new_task(conn, world)
        now = conn.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]
        snoozed = tasks.snooze_task(conn, task.id, now + timedelta(days=1))
    assert snoozed.snooze_deadline == snoozed.first_snoozed_at + timedelta(days=2)  # type: ignore[operator]


def test_snoozed_tasks_come_back_at_snoozed_until(database: Database, world: World) -> None:
    with database.tenant_transaction(world.tenant_id) as conn:
        later = new_task(conn, world)
        soon = new_task(conn, world)
        now = conn.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]
        tasks.snooze_task(conn, later.id, now + timedelta(days=2))
        tasks.snooze_task(conn, soon.id, now + timedelta(seconds=1))
    threading.Event().wait(1.2)
    with database.tenant_transaction(world.tenant_id) as conn:
        page = tasks.list_tasks(conn, TaskFilters(customer_id=world.customer_id))
    by_id = {t.id: t for t in page.items}
    assert by_id[soon.id].status is Status.PENDING
    assert by_id[soon.id].snoozed_until is None
    assert by_id[later.id].status is Status.SNOOZED


def test_continuity_surfaces_the_open_task_instead_of_duplicating(
    database: Database, world: World
) -> None:
    data = task_data(world, action="Confirm budget owner")
    with database.tenant_transaction(world.tenant_id) as conn:
        first, created = tasks.ensure_task(conn, data)
    assert created
    second_execution = next_execution(database, world)
    again = data.model_copy(update={"workflow_execution_id": second_execution})
    with database.tenant_transaction(world.tenant_id) as conn:
        same, created_again = tasks.ensure_task(conn, again)
        # asking twice in the same execution changes nothing more
        same_twice, _ = tasks.ensure_task(conn, again)
        listed = tasks.list_tasks(conn, TaskFilters(workflow_execution_id=second_execution))
    assert not created_again
    assert same.id == same_twice.id == first.id
    assert same.original_workflow_execution_id == world.execution_id
    assert same.surfaced_in_workflow_ids == [world.execution_id, second_execution]
    assert [t.id for t in listed.items] == [first.id]


def test_closed_tasks_do_not_carry_over_and_surface_open_tasks(
    database: Database, world: World
) -> None:
    with database.tenant_transaction(world.tenant_id) as conn:
        done = new_task(conn, world, action="Send QBR deck")
        tasks.complete_task(conn, done.id)
        open_task = new_task(conn, world, action="Call the champion")
        sub = new_task(conn, world, parent_task_id=open_task.id)
    execution = next_execution(database, world)
    with database.tenant_transaction(world.tenant_id) as conn:
        surfaced = tasks.surface_open_tasks(conn, world.customer_id, execution)
        fresh, created = tasks.ensure_task(
            conn, task_data(world, action="Send QBR deck", workflow_execution_id=execution)
        )
    assert [t.id for t in surfaced] == [open_task.id]  # sub-tasks travel with their parent
    assert sub.id not in {t.id for t in surfaced}
    assert created
    assert fresh.id != done.id


def test_execute_only_ai_tasks(database: Database, world: World) -> None:
    with database.tenant_transaction(world.tenant_id) as conn:
        csm = new_task(conn, world)
        ai = tasks.create_task(conn, ai_data(world, auto_execute=False, execution_status=None))
    with pytest.raises(TransitionNotAllowed, match="only AI tasks execute"):
        with database.tenant_transaction(world.tenant_id) as conn:
            tasks.execute_task(conn, csm.id)
    with database.tenant_transaction(world.tenant_id) as conn:
        queued = tasks.execute_task(conn, ai.id)
        # nobody claims in this test database's shared queue before we cancel it
        tasks.cancel_task(conn, ai.id)
    assert queued.auto_execute
    assert queued.execution_status == "queued"


def test_sub_task_of_another_tenants_task_is_not_found(database: Database, world: World) -> None:
    from tests.tasks.helpers import make_world

    other = make_world(database, "Other")
    with database.tenant_transaction(other.tenant_id) as conn:
        foreign = new_task(conn, other)
    with pytest.raises(tasks.TaskNotFound):
        with database.tenant_transaction(world.tenant_id) as conn:
            new_task(conn, world, parent_task_id=foreign.id)


def test_tree_nests_subtasks(database: Database, world: World) -> None:
    parent, subs = _parent_with_subtasks(database, world, 2)
    with database.tenant_transaction(world.tenant_id) as conn:
        grandchild = new_task(conn, world, parent_task_id=subs[0].id)
        tree = tasks.task_tree(conn, parent.id)
    assert tree.id == parent.id
    assert tree.depth == 0
    # siblings made in one transaction share created_at: the order is then by id
    assert {c.id for c in tree.children} == {s.id for s in subs}
    first = next(c for c in tree.children if c.id == subs[0].id)
    assert [g.id for g in first.children] == [grandchild.id]
    assert first.children[0].depth == 2
