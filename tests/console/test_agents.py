"""Agent tasks at the HTML level: one's own only (another user's task is the 404 page, an admin's
included), creating a task with steps, editing, adding, deleting and reordering steps (a reorder
that does not name every step once: an error, nothing changed), each bad field's error next to
it with the input kept, and runs with a worker and the mock provider: run, approve, resume."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from renewflow import agents
from renewflow.console.views.agents import fingerprint
from renewflow.db import Database
from renewflow.jobs import Worker
from renewflow.llm import (
    LLMClients,
)
from tests.agents.conftest import (
    FlakyMock,
    OneProvider,
    finished,
    start_agent_worker,
    steps_of,
    wait_for,
)
from tests.console.conftest import SignedIn

ORDER_INPUT = re.compile(r'name="step_ids" value="([0-9a-f-]{36})"')


def make_agent_task(
    database: Database, signed: SignedIn, *, approval_on: int | None = None, steps: int = 3
) -> agents.AgentTask:
    names = ["Research", "Assess", "Draft", "Review"][:steps]
    body = agents.TaskCreate.model_validate(
        {
            "name": "Acme renewal brief",
            "steps": [
                {
                    "step_name": name,
                    "instructions": f"{name}: the Acme renewal.",
                    "include_previous_context": i > 0,
                    "requires_approval": approval_on == i + 1,
                }
                for i, name in enumerate(names)
            ],
        }
    )
    with database.tenant_transaction(signed.tenant, signed.user) as conn:
        return agents.create_task(conn, body)


def read(database: Database, signed: SignedIn, task_id: uuid.UUID) -> agents.AgentTask:
    with database.tenant_transaction(signed.tenant, signed.user) as conn:
        return agents.get_task(conn, task_id)


def names_in_order(task: agents.AgentTask) -> list[str]:
    return [s.step_name for s in task.steps]


def _text(answer: httpx.Response) -> str:
    return html.unescape(answer.text)


@pytest.fixture
def agent_worker(database: Database) -> Iterator[None]:
    clients = LLMClients()
    worker = start_agent_worker(database, clients)
    yield
    worker.stop()
    worker.join(10)
    clients.close()


# -- whose --------------------------------------------------------------------------------------


@pytest.mark.parametrize("other_role", ["csm", "admin"])
def test_another_users_task_is_the_404_page_and_changes_nothing(
    database: Database, console_as: Callable[..., SignedIn], other_role: str
) -> None:
    owner = console_as("csm")
    other = console_as(other_role, tenant=owner.tenant)
    task = make_agent_task(database, owner)
    first, second = task.steps[0].id, task.steps[1].id
    assert "Acme renewal brief" not in other.client.get("/agents").text
    assert other.client.get(f"/agents/{task.id}").status_code == 404
    attempts = [
        (f"/agents/{task.id}/run", {}),
        (f"/agents/{task.id}/delete", {}),
        (f"/agents/{task.id}/steps", {"step_name": "Mine", "instructions": "Mine now"}),
        (f"/agents/{task.id}/steps/{first}", {"step_name": "X", "instructions": "Y"}),
        (f"/agents/{task.id}/steps/{first}/delete", {}),
        (f"/agents/{task.id}/order", {"step_ids": [str(s.id) for s in task.steps][::-1]}),
        (f"/agents/{task.id}/steps/{second}/approve", {}),
    ]
    for path, data in attempts:
        answer = other.client.post(path, data={"csrf": other.csrf(), **data})  # type: ignore[dict-item]
        assert answer.status_code == 404, (path, answer.status_code)
        assert "<!doctype html>" in answer.text
    after = read(database, owner, task.id)
    assert after.model_dump(exclude={"updated_at"}) == task.model_dump(exclude={"updated_at"})
    assert owner.client.get(f"/agents/{task.id}").status_code == 200


def test_another_tenants_task_is_the_404_page(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    owner = console_as("admin")
    stranger = console_as("admin")
    task = make_agent_task(database, owner)
    assert stranger.client.get(f"/agents/{task.id}").status_code == 404
    assert stranger.post(f"/agents/{task.id}/run").status_code == 404
    assert read(database, owner, task.id).status == "pending"


# -- the list and creating --------------------------------------------------------------------


def test_the_list_shows_ones_own_tasks_with_their_progress(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("csm")
    empty = signed.client.get("/agents")
    assert empty.status_code == 200
    assert "No agent tasks yet" in empty.text
    task = make_agent_task(database, signed)
    page = _text(signed.client.get("/agents"))
    assert f'href="/agents/{task.id}"' in page
    assert "0/3" in page
    assert "not run yet" in page


def test_creating_a_task_with_steps(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager")
    answer = signed.post(
        "/agents",
        {
            "name": "Globex QBR prep",
            "steps-0-step_name": "Gather usage",
            "steps-0-instructions": "Summarise Globex's usage this quarter.",
            "steps-1-step_name": "Draft agenda",
            "steps-1-instructions": "Draft a QBR agenda from the usage.",
            "steps-1-include_previous_context": "on",
            "steps-1-requires_approval": "on",
            "steps-1-model": "mock-large",
            "steps-2-step_name": "",
            "steps-2-instructions": "",
        },
    )
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith("/agents/")
    assert "done=created" in location
    task_id = uuid.UUID(location.split("/")[2].split("?")[0])
    task = read(database, signed, task_id)
    assert task.name == "Globex QBR prep"
    assert [
        (s.step_name, s.include_previous_context, s.requires_approval, s.model) for s in task.steps
    ] == [
        ("Gather usage", False, False, None),
        ("Draft agenda", True, True, "mock-large"),
    ]
    page = _text(signed.client.get(location))
    assert "Created the task." in page
    assert page.index("Gather usage") < page.index("Draft agenda")


def test_the_create_form_names_each_bad_field_and_keeps_the_input(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("csm")
    answer = signed.post(
        "/agents",
        {
            "name": "Half a task",
            "steps-0-step_name": "Gather usage",
            "steps-0-instructions": "   ",
            "steps-1-step_name": "",
            "steps-1-instructions": "Instructions without a name",
        },
    )
    assert answer.status_code == 422
    page = _text(answer)
    assert 'id="new-0-instructions-error">Enter the instructions.' in page
    assert 'id="new-1-step_name-error">Enter the step\'s name.' in page
    assert 'value="Half a task"' in page
    assert "Instructions without a name</textarea>" in page
    assert 'aria-invalid="true"' in page
    nothing = signed.post(
        "/agents", {"name": "", "steps-0-step_name": "", "steps-0-instructions": ""}
    )
    assert nothing.status_code == 422
    assert "Give the task at least one step." in _text(nothing)
    unnamed = signed.post(
        "/agents", {"name": "", "steps-0-step_name": "A", "steps-0-instructions": "B"}
    )
    assert 'id="task-name-error">Enter the task\'s name.' in _text(unnamed)
    nul = signed.post(
        "/agents", {"name": "A\x00", "steps-0-step_name": "A", "steps-0-instructions": "B"}
    )
    assert nul.status_code == 422
    assert "NUL" in nul.text
    with database.tenant_transaction(signed.tenant, signed.user) as conn:
        assert agents.list_tasks(conn).total == 0


# -- steps ------------------------------------------------------------------------------------


def test_editing_a_step(database: Database, console_as: Callable[..., SignedIn]) -> None:
    signed = console_as("csm")
    task = make_agent_task(database, signed)
    step = task.steps[1]
    answer = signed.post(
        f"/agents/{task.id}/steps/{step.id}",
        {
            "step_name": "Assess the risk",
            "instructions": "Score the renewal risk 0-100.",
            "model": "mock-small",
            "requires_approval": "on",
        },
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].endswith(f"#step-{step.id}")
    edited = read(database, signed, task.id).steps[1]
    assert (edited.step_name, edited.instructions, edited.model) == (
        "Assess the risk",
        "Score the renewal risk 0-100.",
        "mock-small",
    )
    assert edited.requires_approval
    assert not edited.include_previous_context
    assert "Saved the step." in signed.client.get(answer.headers["location"]).text
    cleared = signed.post(
        f"/agents/{task.id}/steps/{step.id}",
        {"step_name": "Assess the risk", "instructions": "Score it.", "model": ""},
    )
    assert cleared.status_code == 303
    assert read(database, signed, task.id).steps[1].model is None


def test_a_bad_edit_is_shown_at_its_field_and_changes_nothing(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("csm")
    task = make_agent_task(database, signed)
    step = task.steps[0]
    answer = signed.post(
        f"/agents/{task.id}/steps/{step.id}",
        {"step_name": "Kept name", "instructions": "", "model": "m" * 201},
    )
    assert answer.status_code == 422
    page = _text(answer)
    assert 'id="edit-1-instructions-error">Enter the instructions.' in page
    assert 'id="edit-1-model-error">At most 200 characters.' in page
    assert 'value="Kept name"' in page
    assert re.search(r'<details class="step-edit" open>', page)
    assert read(database, signed, task.id).steps[0].step_name == "Research"
    missing = signed.post(
        f"/agents/{task.id}/steps/{uuid.uuid4()}", {"step_name": "", "instructions": ""}
    )
    assert missing.status_code == 404


def test_adding_and_deleting_steps(database: Database, console_as: Callable[..., SignedIn]) -> None:
    signed = console_as("csm")
    task = make_agent_task(database, signed, steps=2)
    added = signed.post(
        f"/agents/{task.id}/steps",
        {"step_name": "Kick-off", "instructions": "List the stakeholders.", "position": "1"},
    )
    assert added.status_code == 303, added.text
    assert names_in_order(read(database, signed, task.id)) == ["Kick-off", "Research", "Assess"]
    last = signed.post(
        f"/agents/{task.id}/steps", {"step_name": "Wrap up", "instructions": "Sum up."}
    )
    assert last.status_code == 303
    after = read(database, signed, task.id)
    assert names_in_order(after)[-1] == "Wrap up"
    bad = signed.post(
        f"/agents/{task.id}/steps", {"step_name": "Late", "instructions": "x", "position": "9"}
    )
    assert bad.status_code == 422
    assert 'id="add-position-error">Must be between 1 and 5.' in _text(bad)
    assert 'value="Late"' in bad.text
    words = signed.post(
        f"/agents/{task.id}/steps", {"step_name": "Late", "instructions": "x", "position": "two"}
    )
    assert words.status_code == 422
    assert "Enter a number" in words.text
    assert len(read(database, signed, task.id).steps) == 4

    for step in after.steps[:-1]:
        gone = signed.post(f"/agents/{task.id}/steps/{step.id}/delete")
        assert gone.status_code == 303, gone.text
    left = read(database, signed, task.id)
    assert [(s.step_order, s.step_name) for s in left.steps] == [(1, "Wrap up")]
    refused = signed.post(f"/agents/{task.id}/steps/{left.steps[0].id}/delete")
    assert refused.status_code == 422
    assert "A task keeps at least one step" in _text(refused)
    assert len(read(database, signed, task.id).steps) == 1


def test_the_move_buttons_post_the_whole_new_order(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("csm")
    task = make_agent_task(database, signed)
    page = signed.client.get(f"/agents/{task.id}").text
    draft = task.steps[2]
    # the "Move up" form of the third step: every step, the last two swapped
    form = page.split(f'id="step-{draft.id}"')[1].split("Move up")[0]
    order = ORDER_INPUT.findall(form)
    assert order == [str(task.steps[0].id), str(draft.id), str(task.steps[1].id)]
    answer = signed.post(f"/agents/{task.id}/order", {"step_ids": order})  # type: ignore[dict-item]
    assert answer.status_code == 303, answer.text
    moved = read(database, signed, task.id)
    assert [(s.step_order, s.step_name) for s in moved.steps] == [
        (1, "Research"),
        (2, "Draft"),
        (3, "Assess"),
    ]
    assert "Saved the new order of the steps." in signed.client.get(answer.headers["location"]).text


@pytest.mark.parametrize("how", ["missing", "duplicate", "unknown", "malformed", "empty"])
def test_a_reorder_that_does_not_name_every_step_once_changes_nothing(
    database: Database, console_as: Callable[..., SignedIn], how: str
) -> None:
    signed = console_as("csm")
    task = make_agent_task(database, signed)
    ids = [str(s.id) for s in task.steps]
    given = {
        "missing": ids[:2],
        "duplicate": [ids[0], ids[0], ids[1], ids[2]],
        "unknown": [*ids, str(uuid.uuid4())],
        "malformed": [ids[2], ids[1], "not-an-id"],
        "empty": [],
    }[how]
    answer = signed.post(f"/agents/{task.id}/order", {"step_ids": given})  # type: ignore[dict-item]
    assert answer.status_code == 422
    page = _text(answer)
    assert 'id="order-problem"' in page
    assert "exactly once" in page
    assert "nothing changed" in page.lower()
    assert names_in_order(read(database, signed, task.id)) == ["Research", "Assess", "Draft"]


def test_deleting_a_task(database: Database, console_as: Callable[..., SignedIn]) -> None:
    signed = console_as("csm")
    task = make_agent_task(database, signed)
    answer = signed.post(f"/agents/{task.id}/delete")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/agents?done=deleted"
    assert "Deleted the task" in signed.client.get(answer.headers["location"]).text
    assert signed.client.get(f"/agents/{task.id}").status_code == 404


# -- runs -------------------------------------------------------------------------------------


def _run_and_wait(
    database: Database, signed: SignedIn, task_id: uuid.UUID, path: str = "run"
) -> agents.AgentTask:
    answer = signed.post(f"/agents/{task_id}/{path}")
    assert answer.status_code == 303, answer.text
    return wait_for(database, signed.tenant, signed.user, task_id, finished)


@pytest.mark.usefixtures("agent_worker")
def test_a_run_pauses_for_approval_then_shows_each_steps_output_tokens_and_cost(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("csm")
    task = make_agent_task(database, signed, approval_on=2)
    paused = _run_and_wait(database, signed, task.id)
    assert paused.status == "awaiting_approval"
    page = _text(signed.client.get(f"/agents/{task.id}"))
    assert "Step 2, “Assess”, waits for your approval." in page
    assert "Mock answer" in page  # step 1's output
    waiting = paused.steps[1]
    # only the step the run waits on can be approved
    wrong = signed.post(f"/agents/{task.id}/steps/{paused.steps[2].id}/approve")
    assert wrong.status_code == 409
    assert "not the one the run is waiting on" in _text(wrong)
    answer = signed.post(f"/agents/{task.id}/steps/{waiting.id}/approve")
    assert answer.status_code == 303
    done = wait_for(database, signed.tenant, signed.user, task.id, finished)
    assert done.status == "completed", done.error_message
    page = _text(signed.client.get(f"/agents/{task.id}"))
    assert "The run completed" in page
    for step in done.steps:
        assert f"{step.usage.input_tokens:,} tokens in, {step.usage.output_tokens:,} out" in page
    assert "approval gate: approved" in page
    assert page.count("<pre>Mock answer") == 3
    # a finished task can run again, and cannot be cancelled
    assert signed.post(f"/agents/{task.id}/cancel").status_code == 409


@pytest.mark.usefixtures("agent_worker")
def test_skipping_the_step_a_run_waits_on(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("csm")
    task = make_agent_task(database, signed, approval_on=3)
    paused = _run_and_wait(database, signed, task.id)
    assert paused.status == "awaiting_approval"
    answer = signed.post(f"/agents/{task.id}/steps/{paused.steps[2].id}/skip")
    assert answer.status_code == 303
    done = wait_for(database, signed.tenant, signed.user, task.id, finished)
    assert steps_of(done)[2] == (3, "Draft", "skipped")


def test_a_running_task_refuses_edits_and_the_page_follows_it(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("csm")
    task = make_agent_task(database, signed)
    assert signed.post(f"/agents/{task.id}/run").status_code == 303  # no worker: it stays queued
    page = _text(signed.client.get(f"/agents/{task.id}"))
    assert "is queued: a worker takes it up" in page
    assert f'hx-get="/agents/{task.id}/progress?seen=' in page
    assert "Move up" not in page
    assert "Add a step" not in page
    refused = signed.post(
        f"/agents/{task.id}/steps/{task.steps[0].id}",
        {"step_name": "Changed", "instructions": "Changed"},
    )
    assert refused.status_code == 409
    assert "cancel the run" in _text(refused).lower()
    assert read(database, signed, task.id).steps[0].step_name == "Research"
    again = signed.post(f"/agents/{task.id}/run")
    assert again.status_code == 409
    # the poll: unchanged is 204; without htmx, the page
    running = read(database, signed, task.id)
    hx = {"HX-Request": "true"}
    seen = signed.client.get(
        f"/agents/{task.id}/progress", params={"seen": fingerprint(running)}, headers=hx
    )
    assert seen.status_code == 204
    changed = signed.client.get(f"/agents/{task.id}/progress?seen=old", headers=hx)
    assert changed.status_code == 200
    assert changed.headers["HX-Retarget"] == "#main"
    plain = signed.client.get(f"/agents/{task.id}/progress")
    assert plain.status_code == 303
    assert plain.headers["location"] == f"/agents/{task.id}"
    cancelled = signed.post(f"/agents/{task.id}/cancel")
    assert cancelled.status_code == 303
    assert read(database, signed, task.id).status == "cancelled"
    assert "Resume at the first unfinished step" in signed.client.get(f"/agents/{task.id}").text


def test_a_failed_task_shows_its_error_and_resumes_at_the_failed_step(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("csm")
    task = make_agent_task(database, signed)
    with database.tenant_transaction(signed.tenant, signed.user) as conn:
        agents.update_step(conn, task.id, task.steps[1].id, agents.StepUpdate(max_retries=0))
    provider = FlakyMock("Assess: the Acme")
    worker: Worker = start_agent_worker(database, OneProvider(provider))
    try:
        failed = _run_and_wait(database, signed, task.id)
        assert failed.status == "failed"
        page = _text(signed.client.get(f"/agents/{task.id}"))
        assert "The run failed at step 2, “Assess”." in page
        assert "Skip “Assess” and go on" in page
        provider.failing.clear()
        done = _run_and_wait(database, signed, task.id, "resume")
        assert done.status == "completed", done.error_message
        assert done.steps[0].usage.calls == 1  # the completed step was not run again
        assert done.steps[1].usage.calls == 2
    finally:
        worker.stop()
        worker.join(10)
