"""Step executions per second, end to end with the mock LLM provider: through the engine function
(`renewflow.engine.StepRunner.run`: claim, call, fenced finish) with 1 and 2 threads, and
through the HTTP API (`renewflow serve` on 127.0.0.1, several concurrent keep-alive clients), in the
same run.

Run: `.venv/bin/python -m bench.steps` (uses DATABASE_URL's server if set, as a superuser able to
create a database; otherwise an embedded PostgreSQL in a temporary directory). The benchmark
creates a fresh database, seeds the core workflow library, and drops the database at the end.

- World: one tenant on the default (mock) provider; customers 130 days from renewal with a risk
  score and two usage points, so the sweep gives each an active Prepare execution.
- A step execution is everything a step request does: claim the step (lock and load the
  execution, build the context, check dataRequired, render the prompts, write the run under a
  lease), call the (mock) LLM with nothing held and record the call, then the fenced finish
  (validate the outputs, store them, render artifacts, create tasks, fire notifications, route
  and advance). Each customer runs Prepare's first two steps (`data-snapshot`, then
  `value-risk-analysis`, whose prompt reads the first one's outputs and which renders an
  artifact), in order; the customers are shared out between the threads or HTTP clients.
- Each mode gets customers of its own; a short warm-up on other customers runs first.
- Reference, in the same run: the least a durable step could do in its own transaction (scope
  it to the tenant, lock the execution row, update it, commit) with 2 threads; the ratio to it
  says how much of that floor the whole step keeps, whatever the machine's load at the time.
- HTTP: `renewflow serve --processes N` (default 2) runs as its own process tree; every request
  authenticates its API key, as in production. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from bench.scratch import scratch_database, vacuum_analyze
from renewflow import accounts
from renewflow.db import Database
from renewflow.engine import StepRequest, StepRunner, sweep
from renewflow.llm import LLMClients
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("data-snapshot", "value-risk-analysis")


def _world(database: Database, customers: int) -> tuple[UUID, str, list[UUID]]:
    """A tenant, an admin's API key, and `customers` active Prepare executions."""
    with database.service_transaction() as conn:
        seed_core(conn, core_library())
        tenant: UUID = accounts.create_tenant(conn, f"Bench {uuid.uuid4().hex[:6]}")["id"]
    with database.tenant_transaction(tenant) as conn:
        user = accounts.create_user(conn, email="bench@example.com", role=accounts.Role.ADMIN)
        key = accounts.issue_key(
            conn, user_id=user["id"], tenant_id=tenant, role=accounts.Role.ADMIN
        )
        conn.execute(
            """WITH c AS (
                 INSERT INTO customers (tenant_id, name, external_id, account_team)
                 SELECT current_tenant_id(), 'Customer ' || i, 'c-' || i,
                        jsonb_build_object('ae', 'ae' || i || '@vendor.example')
                 FROM generate_series(1, %(count)s) i
                 RETURNING id, external_id),
               k AS (
                 INSERT INTO contracts (tenant_id, customer_id, renewal_date, arr)
                 SELECT current_tenant_id(), c.id, current_date + 130,
                        20000 + (substr(c.external_id, 3)::int %% 50) * 1000
                 FROM c),
               i AS (
                 INSERT INTO customer_intelligence (tenant_id, customer_id, risk_score)
                 SELECT current_tenant_id(), c.id, (substr(c.external_id, 3)::int * 37) %% 60
                 FROM c)
               INSERT INTO usage_metrics (tenant_id, customer_id, metric_date, metric_name, value)
               SELECT current_tenant_id(), c.id, current_date - d, 'active_users', 100 + d
               FROM c, (VALUES (0), (30)) AS v(d)""",
            {"count": customers},
        )
    with database.tenant_transaction(tenant) as conn:
        sweep(conn)
        rows = conn.execute(
            """SELECT e.id FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id
               WHERE e.status = 'active' AND w.workflow_id = 'prepare' ORDER BY e.id"""
        ).fetchall()
    if len(rows) != customers:
        raise RuntimeError(f"expected {customers} Prepare executions, found {len(rows)}")
    return tenant, key.secret, [r["id"] for r in rows]


def _run_threads(
    workers: int, executions: Sequence[UUID], work: Callable[[int, list[UUID]], None]
) -> float:
    """Shares `executions` out to `workers` threads running `work`; returns steps per second."""
    shares = [list(executions[i::workers]) for i in range(workers)]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            work(index, shares[index])
        except BaseException as error:  # reported after the join
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return len(executions) * len(STEPS) / elapsed


def engine_rate(
    database: Database, tenant: UUID, executions: Sequence[UUID], threads: int
) -> float:
    runner = StepRunner(database, LLMClients())
    request = StepRequest(actor_role="admin")

    def transaction() -> Any:
        return database.tenant_transaction(tenant)

    def work(_: int, mine: list[UUID]) -> None:
        for execution_id in mine:
            for step_id in STEPS:
                answer = runner.run(
                    transaction, execution_id=execution_id, step_id=step_id, request=request
                )
                if answer.status != 200:
                    raise RuntimeError(f"step failed: {answer.body}")

    return _run_threads(threads, executions, work)


def floor_rate(database: Database, tenant: UUID, executions: Sequence[UUID], threads: int) -> float:
    """The reference: the least a durable step could do in its own transaction (scope it to the
    tenant, lock the execution, write it, commit), on the same pool and threads as the engine."""

    def work(_: int, mine: list[UUID]) -> None:
        for execution_id in mine:
            for _step in STEPS:
                with database.tenant_transaction(tenant) as conn:
                    conn.execute(
                        "SELECT id FROM workflow_executions WHERE id = %s FOR UPDATE",
                        (execution_id,),
                    )
                    conn.execute(
                        "UPDATE workflow_executions SET updated_at = now() WHERE id = %s",
                        (execution_id,),
                    )

    return _run_threads(threads, executions, work)


def http_rate(base: str, key: str, executions: Sequence[UUID], clients: int) -> float:
    # The load generator shares the two cores with the server and PostgreSQL, so it is the
    # leanest HTTP/1.1 keep-alive client there is (http.client), not a feature-rich one.
    host, port = base.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connections = [http.client.HTTPConnection(host, int(port), timeout=30) for _ in range(clients)]

    def work(index: int, mine: list[UUID]) -> None:
        conn = connections[index]
        for execution_id in mine:
            for step_id in STEPS:
                path = f"/api/workflows/executions/{execution_id}/steps/{step_id}/execute"
                conn.request("POST", path, body=b"{}", headers=headers)
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {body[:300]!r}")

    try:
        return _run_threads(clients, executions, work)
    finally:
        for conn in connections:
            conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_api(
    url: str, processes: int, *, worker: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    """`renewflow serve` as an operator runs it, minus the start-up work already done here (and
    without its worker unless `worker`)."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "RENEWFLOW_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "renewflow",
            "serve",
            "--port",
            str(port),
            "--processes",
            str(processes),
            "--no-migrate",
            "--no-seed",
            "--worker" if worker else "--no-worker",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the API server exited")
        try:
            if httpx.get(f"{base}/readyz", timeout=1, trust_env=False).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the API server did not start")


def _stop_api(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1500, help="per measured mode")
    parser.add_argument("--warmup", type=int, default=50, help="customers per warm-up")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--processes", type=int, default=2, help="HTTP processes of the server")
    args = parser.parse_args()
    n, w = args.customers, args.warmup
    results: dict[str, float] = {}
    with scratch_database() as url:
        with Database(url, max_size=4) as database:
            tenant, key, executions = _world(database, 3 * (n + w))
            vacuum_analyze(url)
            chunks = [executions[i * (n + w) : (i + 1) * (n + w)] for i in range(3)]
            for label, threads, chunk in (
                ("engine, 1 thread", 1, chunks[0]),
                ("engine, 2 threads", 2, chunks[1]),
            ):
                engine_rate(database, tenant, chunk[:w], threads)
                results[label] = engine_rate(database, tenant, chunk[w:], threads)
            floor = floor_rate(database, tenant, chunks[0][w:], 2)
        proc, base = _start_api(url, args.processes)
        try:
            http_rate(base, key, chunks[2][:w], args.clients)
            results[f"HTTP, {args.clients} clients"] = http_rate(
                base, key, chunks[2][w:], args.clients
            )
        finally:
            _stop_api(proc)
    print(
        f"cores: {os.cpu_count()}, customers per mode: {n} x {len(STEPS)} steps, "
        f"HTTP processes: {args.processes}"
    )
    print(f"reference (lock, write, commit; 2 threads): {floor:,.0f} transactions/s")
    print("| mode | step executions/s | vs target (500/s) | vs reference |")
    print("| --- | ---: | ---: | ---: |")
    for label, rate in results.items():
        print(f"| {label} | {rate:,.0f} | {rate / 500:.2f}x | {rate / floor:.2f}x |")


if __name__ == "__main__":
    main()
