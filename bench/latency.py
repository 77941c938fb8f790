"""Real LLM latency: a burst of step requests against a model that takes seconds to answer, and
what the rest of the service feels meanwhile.

Run: `.venv/bin/python -m bench.latency [--delay 2]` (DATABASE_URL's server if set, as a superuser
able to create a database; otherwise an embedded PostgreSQL in a temporary directory).

- World: one tenant whose LLM provider is a local fake of an OpenAI-compatible server
  (bench.fake_openai) answering every request after `--delay` seconds; customers 130 days from
  renewal, each with an active Prepare execution.
- The service is `renewflow serve` with its default settings, as its own process (HTTP and the
  worker); only 127.0.0.1 is contacted.
- Burst: `--sync` (40) CSMs run a step at the same moment, synchronously, each on its own
  customer, while another client calls `GET /api/me` every 20 ms. Reported: the burst's wall time
  against the delay (target: within 1.5x) and `/api/me` latency during it (target: p95 < 50 ms).
- Asynchronous: `--async-runs` (400) steps requested with `Prefer: respond-async`; the worker runs
  them `RENEWFLOW_TENANT_LLM_CONCURRENCY` (50) at a time. Reported: the time until the last one
  completed, against (runs / limit) x delay (target: within 1.3x), and the most database
  connections the service held meanwhile (sampled from pg_stat_activity every 50 ms), against its
  pool minimum.
The reference is the delay itself: an ideal service spends nothing beyond it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from bench.fake_openai import FakeOpenAI
from bench.scratch import scratch_database, vacuum_analyze
from bench.steps import _start_api, _stop_api
from renewflow import accounts
from renewflow.config import Settings
from renewflow.db import Database
from renewflow.engine import sweep
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core

ROOT = Path(__file__).resolve().parents[1]


def _world(database: Database, customers: int, llm_url: str) -> tuple[str, list[UUID]]:
    with database.service_transaction() as conn:
        seed_core(conn, core_library())
        tenant: UUID = accounts.create_tenant(conn, f"Latency {uuid.uuid4().hex[:6]}")["id"]
        conn.execute(
            "UPDATE tenants SET settings = %s WHERE id = %s",
            (
                Jsonb(
                    {
                        "llm": {
                            "provider": "openai-compatible",
                            "base_url": llm_url,
                            "model": "fake-model",
                        }
                    }
                ),
                tenant,
            ),
        )
    with database.tenant_transaction(tenant) as conn:
        user = accounts.create_user(conn, email="csm@example.com", role=accounts.Role.ADMIN)
        key = accounts.issue_key(
            conn, user_id=user["id"], tenant_id=tenant, role=accounts.Role.ADMIN
        )
        conn.execute(
            """WITH c AS (
                 INSERT INTO customers (tenant_id, name, external_id)
                 SELECT current_tenant_id(), 'Customer ' || i, 'c-' || i
                 FROM generate_series(1, %(count)s) i
                 RETURNING id),
               k AS (
                 INSERT INTO contracts (tenant_id, customer_id, renewal_date, arr)
                 SELECT current_tenant_id(), c.id, current_date + 130, 50000 FROM c),
               i AS (
                 INSERT INTO customer_intelligence (tenant_id, customer_id, risk_score)
                 SELECT current_tenant_id(), c.id, 40 FROM c)
               INSERT INTO usage_metrics (tenant_id, customer_id, metric_date, metric_name, value)
               SELECT current_tenant_id(), c.id, current_date - d, 'active_users', 100 + d
               FROM c, (VALUES (0), (30)) AS v(d)""",
            {"count": customers},
        )
        sweep(conn)
        rows = conn.execute(
            "SELECT id FROM workflow_executions WHERE status = 'active' ORDER BY id"
        ).fetchall()
    return key.secret, [r["id"] for r in rows]


class Client:
    """One keep-alive HTTP/1.1 connection (http.client: the leanest load generator)."""

    def __init__(self, base: str, key: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self._conn = http.client.HTTPConnection(host, int(port), timeout=120)
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def call(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        body = b"{}" if method == "POST" else None
        self._conn.request(method, path, body=body, headers={**self._headers, **(headers or {})})
        response = self._conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None

    def close(self) -> None:
        self._conn.close()


def _step_path(execution: UUID) -> str:
    return f"/api/workflows/executions/{execution}/steps/data-snapshot/execute"


def sync_burst(base: str, key: str, executions: list[UUID]) -> tuple[float, list[float]]:
    """`len(executions)` synchronous step requests at once; `/api/me` polled meanwhile. Returns
    the burst's wall time and the `/api/me` latencies (ms) measured during it."""
    clients = [Client(base, key) for _ in executions]
    for client in clients:  # connect first: the burst measures steps, not TCP handshakes
        client.call("GET", "/api/me")
    start = threading.Barrier(len(executions) + 1)
    failures: list[str] = []
    finished = threading.Event()

    def step(client: Client, execution: UUID) -> None:
        start.wait()
        status, body = client.call("POST", _step_path(execution))
        if status != 200:
            failures.append(f"{status}: {str(body)[:200]}")

    threads = [
        threading.Thread(target=step, args=(c, e)) for c, e in zip(clients, executions, strict=True)
    ]
    for thread in threads:
        thread.start()
    probe = Client(base, key)
    probe.call("GET", "/api/me")
    latencies: list[float] = []

    def poll() -> None:
        while not finished.is_set():
            began = time.perf_counter()
            status, _ = probe.call("GET", "/api/me")
            if status != 200:
                failures.append(f"/api/me: {status}")
            latencies.append((time.perf_counter() - began) * 1000)
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    began = time.perf_counter()
    start.wait()
    poller.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    finished.set()
    poller.join()
    for client in [*clients, probe]:
        client.close()
    if failures:
        raise RuntimeError(f"{len(failures)} request(s) failed, first: {failures[0]}")
    return wall, latencies


def async_runs(
    base: str, key: str, url: str, executions: list[UUID], delay: float
) -> tuple[float, int, int]:
    """Requests every step with `Prefer: respond-async`, then waits for all of them. Returns the
    time until the last completed, the most connections the service held, and the runs done."""
    peak = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        with psycopg.connect(url, autocommit=True) as conn:
            while not sampling.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'renewflow'"
                ).fetchone()
                peak = max(peak, int(row[0]) if row else 0)
                time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    client = Client(base, key)
    _, before = client.call("GET", "/api/workflows/runs?status=completed&limit=1")
    began = time.perf_counter()
    for execution in executions:
        status, body = client.call(
            "POST", _step_path(execution), headers={"Prefer": "respond-async"}
        )
        if status != 202:
            raise RuntimeError(f"expected 202, got {status}: {str(body)[:200]}")
    done = 0
    deadline = began + max(120.0, 10 * delay * len(executions) / 50)
    while time.perf_counter() < deadline:
        _, body = client.call("GET", "/api/workflows/runs?status=completed&limit=1")
        done = body["total"] - before["total"]
        _, failed = client.call("GET", "/api/workflows/runs?status=failed&limit=1")
        if failed["total"]:
            raise RuntimeError(f"a run failed: {failed['items'][0]['error']}")
        if done >= len(executions):
            break
        time.sleep(0.1)
    elapsed = time.perf_counter() - began
    sampling.set()
    sampler.join()
    client.close()
    return elapsed, peak, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay", type=float, default=2.0, help="the fake model's answer time")
    parser.add_argument("--sync", type=int, default=40, help="concurrent synchronous requests")
    parser.add_argument("--async-runs", type=int, default=400, help="asynchronous runs")
    args = parser.parse_args()
    settings = Settings()
    limit = settings.tenant_llm_concurrency
    with FakeOpenAI(delay=args.delay) as fake, scratch_database() as url:
        with Database(url, max_size=4) as database:
            key, executions = _world(database, 5 + args.sync + args.async_runs, fake.url)
        vacuum_analyze(url)
        proc, base = _start_api(url, 1, worker=True)
        try:
            warm = Client(base, key)
            for execution in executions[:5]:  # first calls: SDK clients, plans, connections
                warm.call("POST", _step_path(execution))
            warm.close()
            burst = executions[5 : 5 + args.sync]
            wall, latencies = sync_burst(base, key, burst)
            queued = executions[5 + args.sync :]
            elapsed, peak, done = async_runs(base, key, url, queued, args.delay)
        finally:
            _stop_api(proc)
    p95 = statistics.quantiles(latencies, n=20)[18] if len(latencies) >= 20 else max(latencies)
    ideal = len(queued) / limit * args.delay
    print(
        f"cores: {os.cpu_count()}, model delay {args.delay:g}s, tenant limit {limit}, "
        f"pool min {settings.pool_min_size} / max {settings.pool_max_size}, "
        f"fake model requests {fake.requests}, most in flight {fake.max_in_flight}"
    )
    print("| measure | result | target | met |")
    print("| --- | ---: | ---: | --- |")
    ratio = wall / args.delay
    print(
        f"| {args.sync} concurrent synchronous steps, wall time | {wall:.2f} s "
        f"({ratio:.2f}x the delay) | <= 1.5x | {'yes' if ratio <= 1.5 else 'no'} |"
    )
    print(
        f"| `GET /api/me` during the burst, p50 / p95 / max ({len(latencies)} calls) | "
        f"{statistics.median(latencies):.1f} / {p95:.1f} / {max(latencies):.1f} ms | "
        f"p95 < 50 ms | {'yes' if p95 < 50 else 'no'} |"
    )
    async_ratio = elapsed / ideal
    print(
        f"| {done} asynchronous runs, until the last completed | {elapsed:.1f} s "
        f"({async_ratio:.2f}x of {ideal:.0f} s) | <= 1.3x | "
        f"{'yes' if async_ratio <= 1.3 else 'no'} |"
    )
    print(
        f"| most database connections held by the service meanwhile | {peak} | "
        f"<= pool max ({settings.pool_max_size}) + 2, whatever the calls in flight | "
        f"{'yes' if peak <= settings.pool_max_size + 2 else 'no'} |"
    )


if __name__ == "__main__":
    main()
