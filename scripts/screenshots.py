"""The console's screenshots in docs/console/, made from the demo book in real headless Chromium.

Run: `.venv/bin/python -m scripts.screenshots [--out docs/console]` (DATABASE_URL's server if set,
as a superuser able to create a database; otherwise an embedded PostgreSQL in a temporary
directory). It loads the demo book into a scratch database, serves the console with a worker,
signs in as the demo's admin and saves each screen, light theme, 1280 px wide. (The demo's
workflows have one version each: docs/console/diff.png comes from the browser tests' screenshots,
test-artifacts/screenshots/<run>/diff-light.png.) The step chat (chat.png) is a Negotiate
execution's current step with a chat branch: its question box asked twice, with the mock provider.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.scratch import scratch_database, vacuum_analyze
from bench.steps import _start_api, _stop_api
from tests.browser.conftest import CHROMIUM, FLAGS

from renewflow.db import Database
from renewflow.demo.loader import load, sign_in_url
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core

ROOT = Path(__file__).resolve().parents[1]


def _first(page: Any, selector: str) -> str:
    href = page.locator(selector).first.get_attribute("href")
    assert href, f"nothing matches {selector}"
    return str(href)


def _chat(page: Any, base: str, out: Path) -> None:
    """The step chat of the first active Negotiate execution whose current step has one: its
    AI branch opened, a question answered with a table, a follow-up with a chart."""
    page.goto(f"{base}/admin/executions?workflow=negotiate&status=active")
    links = [
        str(a.get_attribute("href")) for a in page.locator("td.links a[href^='/executions/']").all()
    ]
    for href in links:
        page.goto(f"{base}{href}")
        if page.locator("#chat .chat-ask").count():
            break
    else:
        print("no current step with a chat in the demo: chat.png not made")
        return
    page.locator("#chat .chat-ask").first.click()
    box = page.get_by_label("Ask a follow-up question")
    answered = "#chat-log .msg-assistant:not(.msg-streaming)"
    for question in ("How is their usage going?", "Show me a chart of their usage"):
        before = page.locator(answered).count()
        box.fill(question)
        box.press("Enter")
        page.wait_for_function(
            "([css, n]) => document.querySelectorAll(css).length > n"
            " && !document.querySelector('.msg-streaming')",
            arg=[answered, before],
            timeout=30_000,
        )
        box = page.get_by_label("Ask a follow-up question")
    page.wait_for_load_state("networkidle")
    page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    box_of = page.locator("#chat").bounding_box()
    assert box_of is not None
    margin = 16
    page.screenshot(
        path=str(out / "chat.png"),
        full_page=True,
        clip={
            "x": box_of["x"] - margin,
            "y": box_of["y"] - margin,
            "width": box_of["width"] + 2 * margin,
            "height": box_of["height"] + 2 * margin,
        },
    )


def _agents(page: Any, base: str, out: Path) -> None:
    """An agent task of three steps created through its form, run by the worker with the mock
    provider, its third step approved at its gate: the finished task."""
    page.goto(f"{base}/agents")
    page.get_by_label("Task name").fill("Acme renewal brief")
    steps = (
        ("Research", "List what changed at Acme this quarter: usage, tickets, contacts."),
        ("Assess", "Assess the renewal risk from the research, with the evidence."),
        ("Draft", "Draft a note to the account team from the assessment."),
    )
    for i, (name, instructions) in enumerate(steps):
        page.locator(f"#new-{i}-step_name").fill(name)
        page.locator(f"#new-{i}-instructions").fill(instructions)
    page.locator("[name='steps-2-requires_approval']").check()
    page.get_by_role("button", name="Create the task").click()
    page.wait_for_url(f"{base}/agents/*")
    page.get_by_role("button", name="Run the task").click()
    page.get_by_role("button", name="Approve “Draft”").click(timeout=30_000)
    page.get_by_text("The run completed").wait_for(timeout=30_000)
    page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    page.screenshot(path=str(out / "agent.png"), full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with scratch_database() as url, Database(url, max_size=4) as database:
        with database.service_transaction() as conn:
            seed_core(conn, core_library())
        demo = load(database)
        vacuum_analyze(url)
        proc, base = _start_api(url, 1, worker=True)
        try:
            link = sign_in_url(database, demo, base, "admin")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(link)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"{base}/today")

                def shot(name: str, path: str | None = None) -> None:
                    if path is not None:
                        page.goto(f"{base}{path}")
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(args.out / f"{name}.png"), full_page=True)

                shot("today")
                shot("book", "/book?within=120&sort=risk")
                customer = _first(page, "tbody td:first-child a")
                shot("customer", customer)
                shot("tasks", "/tasks")
                page.goto(f"{base}{customer}")
                execution = _first(page, "a[href^='/executions/']")
                page.goto(f"{base}{execution}")
                run = page.get_by_role("button", name="Run this step")
                if run.count():
                    run.first.click()
                    page.wait_for_function(
                        "!document.querySelector('[hx-trigger*=every]')", timeout=30_000
                    )
                shot("task-mode")
                _chat(page, base, args.out)
                shot("execution-timeline", execution.replace("/executions/", "/admin/executions/"))
                shot("workflow", "/admin/workflows/prepare")
                shot("people", "/admin/people")
                _agents(page, base, args.out)
                shot("ledger", "/admin/ledger")
                browser.close()
        finally:
            _stop_api(proc)
    names = sorted(p.name for p in args.out.glob("*.png"))
    print(f"{len(names)} screenshots in {args.out}: {', '.join(names)}")


if __name__ == "__main__":
    main()
