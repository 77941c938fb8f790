"""Task mode and the executions screens, at the HTML level: what each role sees and may do (the
server checks again), CSRF, another tenant's execution answering 404 like a missing one, the
run flow (queued, running, completed with a worker; 409 while a run is live; the engine's 422
and failures next to the step), skipping with a reason, going back, the list and the timeline."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from bench.fake_openai import FakeOpenAI

from renewflow import engine
from renewflow.db import Database
from tests.console.conftest import SignedIn
from tests.engine.world import World, fake_llm_settings, make_world

pytestmark = pytest.mark.usefixtures("core_library_seeded")

CURRENT = re.compile(r'Current step:</span> ([^<]+?) <span class="badge">')
RUN_POLL = re.compile(r'hx-get="(/executions/[^/"]+/runs/[^?"]+)\?seen=(\w+)"')


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(delay=0.5) as server:
        yield server


def _state(database: Database, world: World) -> tuple[str | None, str, int]:
    """The execution's current step, status and number of step executions."""
    with database.tenant_transaction(world.tenant) as conn:
        execution = engine.load_execution(conn, world.executions[0])
        history = engine.step_history(conn, world.executions[0])
    return execution.row["current_step_id"], execution.row["status"], len(history)


def _htmx(signed: SignedIn, path: str, data: dict[str, str] | None = None) -> httpx.Response:
    headers = {"HX-Request": "true", "X-CSRF-Token": signed.csrf()}
    return signed.client.post(path, data=data or {}, headers=headers)


def _current(page: str) -> str | None:
    found = CURRENT.search(page)
    return found.group(1) if found else None


def _follow(signed: SignedIn, started: httpx.Response, deadline: float = 20) -> httpx.Response:
    """Polls the run the answer shows, as htmx does, until the whole page is swapped in; a run
    the worker finished before the answer was rendered needs no polling."""
    found = RUN_POLL.search(started.text)
    if found is None:
        assert re.search(r'data-run-status="(completed|failed|skipped)"', started.text)
        return started
    url, seen = found.group(1), found.group(2)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        answer = signed.client.get(url, params={"seen": seen}, headers={"HX-Request": "true"})
        if answer.status_code == 200 and answer.headers.get("HX-Retarget") == "#main":
            return answer
        if answer.status_code == 200:
            again = RUN_POLL.search(answer.text)
            assert again
            seen = again.group(2)
        else:
            assert answer.status_code == 204  # unchanged: nothing to swap
        time.sleep(0.1)
    raise AssertionError("the run did not finish")


def _run_plain(signed: SignedIn, base: str, step: str, deadline: float = 20) -> str:
    """Runs a step as a browser without JavaScript does: the form, then the page's refresh
    link until the run has finished; the page it ends on."""
    answer = signed.post(f"{base}/steps/{step}/run")
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{base}?run=")
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        page = signed.client.get(location).text
        if not re.search(r'data-run-status="(queued|running)"', page):
            return page
        assert f'<a href="{location}">Refresh</a>' in page
        time.sleep(0.1)
    raise AssertionError(f"the run of {step} did not finish")


# -- task mode ----------------------------------------------------------------------------------


def test_task_mode_shows_why_the_steps_inputs_and_the_rendered_prompt(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    world = make_world(database)
    with database.tenant_transaction(world.tenant) as conn:
        conn.execute(
            "UPDATE customers SET name = %s WHERE id = %s",
            ("<b>Evil</b> & Co", world.customers[0]),
        )
    signed = console_as("csm", world.tenant)
    page = signed.client.get(f"/executions/{world.executions[0]}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Why it started" in text
    assert "started by hand" in text
    for name in ("Data Snapshot", "Value and Risk Analysis", "Renewal Planning"):
        assert name in text
    assert _current(text) == "Data Snapshot"
    assert '<li class="current" aria-current="step">' in text
    # what the step reads, and its prompt as rendered, escaped
    assert "<code>data.usage.trend</code>" in text
    assert "<code>intelligence.riskScore</code>" in text
    assert "+12% growth" in text
    assert "Build a renewal data snapshot for &lt;b&gt;Evil&lt;/b&gt; &amp; Co" in text
    assert "<b>Evil</b>" not in text
    assert "Run this step" in text
    assert "Skip this step" in text
    assert "Go back a step" not in text  # the first step has none before it
    assert "No step has finished yet" in text
    assert "Timeline" not in text  # a CSM has no timeline


def test_each_finished_step_shows_its_result_without_javascript(
    database: Database, console_as: Callable[..., SignedIn], worker: None
) -> None:
    world = make_world(database)  # the mock provider, through the worker
    signed = console_as("manager", world.tenant)
    base = f"/executions/{world.executions[0]}"
    page = _run_plain(signed, base, "data-snapshot")
    assert "<strong>Data Snapshot</strong> is done." in page
    assert _current(page) == "Value and Risk Analysis"
    assert "<dt>overallHealth</dt>" in page  # the finished step's outputs
    assert _state(database, world)[0] == "value-risk-analysis"

    page = _run_plain(signed, base, "value-risk-analysis")
    assert "Renewal brief for" in page  # its artifact, as text
    assert 'class="artifact-text"' in page
    page = _run_plain(signed, base, "renewal-planning")
    assert "That was the last step: the execution is complete." in page
    assert "Review the renewal plan for" in page  # the tasks it created
    assert "Renewal plan ready for" in page  # and the notification it sent
    assert "Every step is done" in page
    assert _state(database, world)[1] == "completed"


def test_the_run_flow_with_a_worker_and_a_slow_model(
    database: Database, console_as: Callable[..., SignedIn], fake: FakeOpenAI, worker: None
) -> None:
    world = make_world(database, llm=fake_llm_settings(fake.url))  # answers after 0.5 s
    signed = console_as("csm", world.tenant)
    base = f"/executions/{world.executions[0]}"
    started = _htmx(signed, f"{base}/steps/data-snapshot/run")
    assert started.status_code == 200, started.text
    assert "<html" not in started.text  # the main block only
    assert re.search(r"is (queued|running)", started.text)
    assert 'aria-live="polite"' in started.text
    assert f'<a href="{base}?run=' in started.text  # the refresh link, for no JavaScript
    finished = _follow(signed, started)
    assert "<strong>Data Snapshot</strong> is done." in finished.text
    assert _current(finished.text) == "Value and Risk Analysis"
    assert finished.headers["HX-Reswap"] == "innerHTML"
    assert _state(database, world)[0] == "value-risk-analysis"
    # without htmx the poll URL is the page itself
    run_url = RUN_POLL.search(started.text)
    assert run_url
    plain = signed.client.get(run_url.group(1))
    assert plain.status_code == 303
    assert plain.headers["location"].startswith(f"{base}?run=")


def test_a_second_run_while_one_is_live_is_409_linking_to_it(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    world = make_world(database)  # no worker: the run stays queued
    signed = console_as("csm", world.tenant)
    base = f"/executions/{world.executions[0]}"
    first = signed.post(f"{base}/steps/data-snapshot/run")
    assert first.status_code == 303
    run_id = first.headers["location"].split("run=")[1]
    queued = signed.client.get(first.headers["location"]).text
    assert "is queued" in queued
    assert "Run this step" not in queued  # no second run offered while one is live
    progress = f"{base}/runs/{run_id}"
    htmx = {"HX-Request": "true"}
    unchanged = signed.client.get(progress, params={"seen": "queued"}, headers=htmx)
    assert unchanged.status_code == 204  # nothing to swap, nothing to announce again
    changed = signed.client.get(progress, params={"seen": "running"}, headers=htmx)
    assert changed.status_code == 200
    assert changed.text.lstrip().startswith('<div id="run" class="run run-queued"')
    assert f'hx-get="{progress}?seen=queued"' in changed.text
    second = signed.post(f"{base}/steps/data-snapshot/run")
    assert second.status_code == 409
    assert "That cannot be done now." in second.text
    assert f'href="{base}?run={run_id}"' in second.text
    skipped = signed.post(f"{base}/steps/data-snapshot/skip", {"reason": "no time"})
    assert skipped.status_code == 409
    assert _state(database, world) == ("data-snapshot", "active", 1)


def test_missing_data_is_422_next_to_the_step_and_nothing_is_stored(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    world = make_world(database)
    with database.tenant_transaction(world.tenant) as conn:
        conn.execute(
            "DELETE FROM customer_intelligence WHERE customer_id = %s", (world.customers[0],)
        )
    signed = console_as("csm", world.tenant)
    base = f"/executions/{world.executions[0]}"
    page = signed.client.get(base).text
    assert "missing: the step cannot run without it" in page
    answer = signed.post(f"{base}/steps/data-snapshot/run")
    assert answer.status_code == 422
    assert "The step did not run." in answer.text
    assert "context.intelligence.riskScore: required by the step, but missing" in answer.text
    assert _current(answer.text) == "Data Snapshot"
    assert _state(database, world) == ("data-snapshot", "active", 0)
    partial = _htmx(signed, f"{base}/steps/data-snapshot/run")
    assert partial.status_code == 200  # htmx swaps only successes: the error shows in place
    assert "context.intelligence.riskScore" in partial.text


def test_a_failed_llm_call_shows_next_to_the_step(
    database: Database, console_as: Callable[..., SignedIn], worker: None
) -> None:
    closed = {
        "provider": "openai-compatible",
        "base_url": "http://127.0.0.1:9/v1",
        "model": "fake-model",
        "max_retries": 0,
    }
    world = make_world(database, llm=closed)
    signed = console_as("manager", world.tenant)
    base = f"/executions/{world.executions[0]}"
    started = _htmx(signed, f"{base}/steps/data-snapshot/run")
    finished = _follow(signed, started)
    assert "The run of Data Snapshot failed." in finished.text
    assert "the LLM call failed" in finished.text
    page = signed.client.get(base).text
    assert "Its last run (attempt 1) failed." in page
    assert "Run this step again" in page
    assert _state(database, world)[0] == "data-snapshot"
    timeline = signed.client.get(f"/admin/executions/{world.executions[0]}").text
    failures = timeline.split('id="failures-title"')[1].split("</section>")[0]
    assert "the LLM call failed" in failures


def test_skip_needs_a_reason_then_skips_and_back_returns(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    world = make_world(database)
    signed = console_as("csm", world.tenant)
    base = f"/executions/{world.executions[0]}"
    refused = signed.post(f"{base}/steps/data-snapshot/skip", {"reason": "   "})
    assert refused.status_code == 422
    assert '<details class="skip-step" open>' in refused.text
    assert 'aria-describedby="skip-reason-error"' in refused.text
    assert 'id="skip-reason-error">a reason is required to skip a step</p>' in refused.text
    assert ">   </textarea>" in refused.text  # the input is kept
    assert _state(database, world) == ("data-snapshot", "active", 0)

    skipped = signed.post(f"{base}/steps/data-snapshot/skip", {"reason": "Snapshot done by hand"})
    assert skipped.status_code == 303
    page = signed.client.get(skipped.headers["location"]).text
    assert "The step was skipped" in page
    assert "Skipped: Snapshot done by hand" in page
    assert _current(page) == "Value and Risk Analysis"

    back = signed.post(f"{base}/back")
    assert back.status_code == 303
    page = signed.client.get(back.headers["location"]).text
    assert "The previous step is current again" in page
    assert _current(page) == "Data Snapshot"
    assert _state(database, world)[0] == "data-snapshot"


def test_posts_without_the_csrf_token_are_refused_and_change_nothing(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    world = make_world(database)
    signed = console_as("manager", world.tenant)
    base = f"/executions/{world.executions[0]}"
    for path, data in (
        (f"{base}/steps/data-snapshot/run", {}),
        (f"{base}/steps/data-snapshot/skip", {"reason": "forged"}),
        (f"{base}/back", {}),
    ):
        answer = signed.client.post(path, data=data)
        assert answer.status_code == 403, path
        assert "This form has expired" in answer.text
        wrong = signed.client.post(path, data={**data, "csrf": "0" * 64})
        assert wrong.status_code == 403
    assert _state(database, world) == ("data-snapshot", "active", 0)


def test_another_tenants_execution_is_404_like_a_missing_one(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    world = make_world(database)
    owner = console_as("manager", world.tenant)
    run = owner.post(f"/executions/{world.executions[0]}/steps/data-snapshot/run")
    run_id = run.headers["location"].split("run=")[1]
    stranger = console_as("admin")
    for execution in (str(world.executions[0]), str(uuid.uuid4()), "not-an-id"):
        base = f"/executions/{execution}"
        assert stranger.client.get(base).status_code == 404
        assert stranger.client.get(f"/admin/executions/{execution}").status_code == 404
        assert stranger.post(f"{base}/steps/value-risk-analysis/run").status_code == 404
        assert (
            stranger.post(f"{base}/steps/value-risk-analysis/skip", {"reason": "x"}).status_code
            == 404
        )
        assert stranger.post(f"{base}/back").status_code == 404
        progress = stranger.client.get(f"{base}/runs/{run_id}", headers={"HX-Request": "true"})
        assert progress.status_code == 404
    missing = stranger.client.get(f"/executions/{world.executions[0]}")
    assert "There is nothing here." in missing.text
    # a step the workflow does not have, in the owner's own execution
    assert owner.post(f"/executions/{world.executions[0]}/steps/teleport/run").status_code == 404
    # the owner's run, asked for under another execution of theirs, is not found either
    other = make_world(database)
    assert (
        owner.client.get(
            f"/executions/{other.executions[0]}/runs/{run_id}", headers={"HX-Request": "true"}
        ).status_code
        == 404
    )
    assert _state(database, world) == ("data-snapshot", "active", 1)  # queued: no worker here


# -- approvals ----------------------------------------------------------------------------------


def _emergency_at_approval(
    database: Database, console_as: Callable[..., SignedIn]
) -> tuple[World, SignedIn]:
    world = make_world(database, workflow="emergency", days=3)
    manager = console_as("manager", world.tenant)
    page = _run_plain(manager, f"/executions/{world.executions[0]}", "emergency-status-check")
    assert _current(page) == "Team Escalation"
    return world, manager


def test_a_csm_sees_the_approval_wait_and_cannot_answer_it(
    database: Database, console_as: Callable[..., SignedIn], worker: None
) -> None:
    world, _ = _emergency_at_approval(database, console_as)
    csm = console_as("csm", world.tenant)
    base = f"/executions/{world.executions[0]}"
    page = csm.client.get(base).text
    assert _current(page) == "Team Escalation"
    assert "it waits for a manager or an admin" in page
    assert "Submit the approval" not in page
    assert 'name="outputs.approved"' not in page
    assert "Skip this step" not in page  # only approvers may skip an approval
    refused = csm.post(f"{base}/steps/team-escalation/run", {"outputs.approved": "true"})
    assert refused.status_code == 403
    assert "only a manager or an admin may answer it" in refused.text
    assert csm.post(f"{base}/steps/team-escalation/skip", {"reason": "x"}).status_code == 403
    assert csm.post(f"{base}/back").status_code == 403
    assert _state(database, world) == ("team-escalation", "active", 1)


def test_a_manager_answers_the_approval(
    database: Database, console_as: Callable[..., SignedIn], worker: None
) -> None:
    world, manager = _emergency_at_approval(database, console_as)
    base = f"/executions/{world.executions[0]}"
    page = manager.client.get(base).text
    assert 'type="radio" name="outputs.approved" value="true"' in page
    assert '<label for="out-note">Note' in page
    # the required choice left out: the form again, the error next to it, the note kept
    refused = manager.post(f"{base}/steps/team-escalation/run", {"outputs.note": "Go <now>"})
    assert refused.status_code == 422
    assert 'id="out-approved-error">Required: choose or type a value.</p>' in refused.text
    assert ">Go &lt;now&gt;</textarea>" in refused.text
    assert _state(database, world) == ("team-escalation", "active", 1)

    started = _htmx(
        manager,
        f"{base}/steps/team-escalation/run",
        {"outputs.approved": "true", "outputs.note": "Go now"},
    )
    assert started.status_code == 200
    finished = _follow(manager, started)
    assert "<strong>Team Escalation</strong> is done." in finished.text
    assert _current(finished.text) == "Final Push"
    assert '<dt>approver</dt><dd><span class="text">' in finished.text
    timeline = manager.client.get(f"/admin/executions/{world.executions[0]}").text
    assert "was true: to Final Push" in timeline


# -- the list and the timeline ------------------------------------------------------------------


def test_the_admin_screens_are_for_admins_and_managers(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    world = make_world(database)
    csm = console_as("csm", world.tenant)
    for path in ("/admin/executions", f"/admin/executions/{world.executions[0]}"):
        refused = csm.client.get(path)
        assert refused.status_code == 403, path
        assert "Not for your role" in refused.text
    for role in ("manager", "admin"):
        signed = console_as(role, world.tenant)
        assert signed.client.get("/admin/executions").status_code == 200
        assert signed.client.get(f"/admin/executions/{world.executions[0]}").status_code == 200
        assert "Timeline" in signed.client.get(f"/executions/{world.executions[0]}").text


def test_the_list_filters_and_pages(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    world = make_world(database, customers=30)
    signed = console_as("manager", world.tenant)
    empty = console_as("manager")
    assert "No execution has started yet" in empty.client.get("/admin/executions").text
    first = signed.client.get("/admin/executions")
    assert first.status_code == 200
    assert first.text.count(">Task mode</a>") == 25
    assert "Page 1 of 2 · 30 executions" in first.text
    assert 'href="/admin/executions?page=2" rel="next"' in first.text
    second = signed.client.get("/admin/executions?page=2")
    assert second.text.count(">Task mode</a>") == 5
    assert 'rel="prev"' in second.text
    assert "There is no page 9" in signed.client.get("/admin/executions?page=9").text
    odd = signed.client.get("/admin/executions?page=0&status=sideways&customer=nope")
    assert odd.status_code == 200
    assert "Ignored what the link asked for status, customer, page" in odd.text
    assert "No execution matches" in signed.client.get("/admin/executions?status=completed").text
    assert (
        signed.client.get("/admin/executions?workflow=prepare").text.count(">Task mode</a>") == 25
    )
    assert "No execution matches" in signed.client.get("/admin/executions?workflow=emergency").text
    one = signed.client.get(f"/admin/executions?customer={world.customers[3]}")
    assert one.text.count(">Task mode</a>") == 1
    assert f'href="/executions/{world.executions[3]}"' in one.text
    assert "Show every customer" in one.text
    named = signed.client.get("/admin/executions", params={"q": "Globex 7 "})
    assert named.text.count(">Task mode</a>") == 1


def test_the_timeline_shows_routing_calls_and_costs(
    database: Database, console_as: Callable[..., SignedIn], worker: None
) -> None:
    world = make_world(database)
    signed = console_as("admin", world.tenant)
    base = f"/executions/{world.executions[0]}"
    _run_plain(signed, base, "data-snapshot")
    signed.post(f"{base}/steps/value-risk-analysis/skip", {"reason": "Covered in the QBR"})
    page = signed.client.get(f"/admin/executions/{world.executions[0]}")
    assert page.status_code == 200
    text = page.text
    assert "Nothing failed in this execution." in text
    assert "started by hand" in text
    assert "the next step in order, Value and Risk Analysis" in text
    assert "asynchronous" in text
    assert "skipped (Covered in the QBR)" in text
    assert "LLM calls of this run" in text
    assert "mock · mock" in text
    assert re.search(r"1 call · \d+ tokens in, \d+ out", text)
