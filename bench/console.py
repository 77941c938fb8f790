"""Console pages with the demo book loaded: latency of every screen, next to the JSON API answering
for the same data, in the same run.

Run: `.venv/bin/python -m bench.console [--requests 60]` (DATABASE_URL's server if set, as a
superuser able to create a database; otherwise an embedded PostgreSQL in a temporary directory).

- World: a fresh database with the demo book (renewflow.demo: ~200 customers, their executions,
  steps, tasks and notifications).
- The service is `renewflow serve` (one HTTP process, no worker) as its own process; a signed-in
  browser-like client (the session cookie, as a person's browser sends it) asks each page
  `--requests` times after a warm-up, one at a time; the admin's API key asks the API's route for
  the same data the same number of times. Only 127.0.0.1 is contacted.
- Reported: p50 and p95 per page (target: p95 under 100 ms), and the API's p95 for the same data;
  their ratio says what the HTML costs over the JSON, whatever the machine's load.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from typing import Any

import httpx

from bench.scratch import scratch_database, vacuum_analyze
from bench.steps import _start_api, _stop_api
from renewflow import accounts
from renewflow.db import Database
from renewflow.demo.loader import load, sign_in_url
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core

FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def _ids(database: Database, tenant: Any) -> dict[str, Any]:
    with database.tenant_transaction(tenant) as conn:
        customer = conn.execute(
            "SELECT customer_id FROM workflow_executions WHERE status = 'active' "
            "ORDER BY started_at LIMIT 1"
        ).fetchone()
        execution = conn.execute(
            "SELECT e.id FROM workflow_executions e WHERE e.status = 'active' AND EXISTS "
            "(SELECT 1 FROM workflow_step_executions s WHERE s.workflow_execution_id = e.id) "
            "LIMIT 1"
        ).fetchone()
        task = conn.execute(
            "SELECT id FROM workflow_tasks WHERE parent_task_id IS NULL LIMIT 1"
        ).fetchone()
    assert customer
    assert execution
    assert task
    return {
        "customer": customer["customer_id"],
        "execution": execution["id"],
        "task": task["id"],
    }


def _pairs(ids: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(console page, the API route for the same data)."""
    return [
        ("/today", "/api/workflows/tasks?limit=200"),
        ("/book", "/api/customers?limit=50"),
        ("/book?sort=risk&within=120", "/api/customers?limit=50"),
        (f"/customers/{ids['customer']}", f"/api/customers/{ids['customer']}"),
        ("/tasks", "/api/workflows/tasks?limit=200"),
        (f"/tasks/{ids['task']}", f"/api/workflows/tasks/{ids['task']}"),
        (f"/executions/{ids['execution']}", f"/api/workflows/executions/{ids['execution']}"),
        ("/admin/executions", "/api/workflows/executions?limit=50"),
        ("/admin/notifications", "/api/notifications?scope=tenant&limit=50"),
        ("/admin/workflows", "/api/workflows"),
        ("/admin/workflows/prepare", "/api/workflows/prepare"),
        ("/admin/people", "/api/users"),
    ]


def _times(client: httpx.Client, path: str, count: int) -> list[float] | int:
    """Milliseconds per request, or the status code of a failing page."""
    first = client.get(path)
    if first.status_code != 200:
        return first.status_code
    for _ in range(3):
        client.get(path)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            return response.status_code
    return samples


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60, help="per page, after a warm-up")
    args = parser.parse_args()
    rows = []
    with scratch_database() as url, Database(url, max_size=4) as database:
        with database.service_transaction() as conn:
            seed_core(conn, core_library())
        demo = load(database)
        vacuum_analyze(url)
        ids = _ids(database, demo.tenant_id)
        with database.tenant_transaction(demo.tenant_id) as conn:
            key = accounts.issue_key(
                conn,
                user_id=demo.admin.id,
                tenant_id=demo.tenant_id,
                role=accounts.Role.ADMIN,
            ).secret
        proc, base = _start_api(url, 1)
        try:
            link = sign_in_url(database, demo, base, "admin")
            with (
                httpx.Client(base_url=base, timeout=30, trust_env=False) as browser,
                httpx.Client(
                    base_url=base,
                    timeout=30,
                    trust_env=False,
                    headers={"Authorization": f"Bearer {key}"},
                ) as api,
            ):
                confirm = browser.get(link.removeprefix(base))
                token = FORM_TOKEN.search(confirm.text)
                assert token, "the sign-in link's page has no form"
                signed = browser.post(link.removeprefix(base), data={"form_token": token.group(1)})
                assert signed.status_code in (200, 303), signed.text[:200]
                for page, route in _pairs(ids):
                    rows.append(
                        (
                            page,
                            _times(browser, page, args.requests),
                            _times(api, route, args.requests) if route else None,
                        )
                    )
        finally:
            _stop_api(proc)
    print(f"cores: {os.cpu_count()}, demo book: 200 customers, {args.requests} requests per page")
    print(
        "| page | p50 (ms) | p95 (ms) | API for the same data, p95 (ms) | page / API | target p95 < 100 ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for page, times, api_times in rows:
        if isinstance(times, int):
            print(f"| `{page}` | HTTP {times} | | | | not built |")
            continue
        api_p95 = _p95(api_times) if isinstance(api_times, list) else None
        ratio = f"{_p95(times) / api_p95:.1f}x" if api_p95 else "—"
        api_text = f"{api_p95:.1f}" if api_p95 else "—"
        met = "yes" if _p95(times) < 100 else "no"
        print(
            f"| `{page}` | {statistics.median(times):.1f} | {_p95(times):.1f} | {api_text} | "
            f"{ratio} | {met} |"
        )


if __name__ == "__main__":
    main()
