"""An operator's view of a running renewflow: `renewflow serve --processes 2` and `renewflow
worker` as real processes, after real traffic (API requests, a step run in each, AI tasks, an
email through a real SMTP server with a password). Their `/metrics`, their JSON log lines and the
traces they export to an OTLP/HTTP collector, read as an operator's tools read them."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from prometheus_client.mmap_dict import MmapedDict

from renewflow import accounts, tasks
from renewflow.db import Database
from renewflow.notify import OutboundMessage, enqueue
from renewflow.settings.secrets import new_key
from renewflow.tasks import TaskCreate
from tests.api.conftest import bearer, free_port
from tests.engine.world import World, make_world
from tests.notify.conftest import PASSWORD, USER, Inbox, _authenticate
from tests.observability.conftest import (
    Collector,
    answers,
    renewflow_env,
    start,
    stop,
    wait_until,
)
from tests.observability.scrape import fetch, label_values, parse, total, value

pytestmark = pytest.mark.usefixtures("ops_db")

PROMPT_TEXT = "Build a renewal data snapshot for"  # prepare.yaml's first step's prompt
MERGE = {"Content-Type": "application/merge-patch+json"}
POOL_MAX = "renewflow_db_pool_max_connections"
HEX32 = re.compile(r"[0-9a-f]{32}")


@dataclass
class Run:
    """What the traffic left behind, for the tests below."""

    server_metrics: list[str]
    worker_metrics: str
    server_log: str
    worker_log: str
    collector: Collector
    world: World
    key: str
    customer_name: str
    requests_to_me: int
    request_ids: dict[str, str]  # what was sent -> what came back
    sync_trace: str  # the trace id of the synchronous step request
    async_trace: str
    http_pids: dict[int, float]  # each HTTP process's `GET /api/me` 200s and 401s
    secret_key: str
    smtp_authenticated: bool


def _http_pids(directory: Path) -> dict[int, float]:
    """`GET /api/me` requests per process, from prometheus-client's files (counter_<pid>.db)."""
    per_pid: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
        for key, count, _, _ in values:
            name, _, labels, _ = json.loads(key)
            if name == "renewflow_http_requests" and labels.get("route") == "/api/me":
                per_pid[pid] = per_pid.get(pid, 0) + count
    return per_pid


def _traceparent_trace(response: httpx.Response) -> str:
    """The trace id of a request, from the `traceparent` we sent (the server continues it)."""
    return response.request.headers["traceparent"].split("-")[1]


def _traceparent() -> dict[str, str]:
    return {"traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"}


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,  # loopback: the password crosses no network
    )
    controller.start()
    yield inbox, port
    controller.stop()


def _me(http: httpx.Client, **headers: str) -> httpx.Response:
    answer = http.get("/api/me", headers={"Connection": "close", **headers})
    assert answer.status_code == 200, answer.text
    return answer


@pytest.fixture(scope="module")
def run(
    ops_url: str,
    ops_db: Database,
    smtp: tuple[Inbox, int],
    collector: Collector,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    inbox, smtp_port = smtp
    tmp = tmp_path_factory.mktemp("ops")
    otel = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    port, metrics_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    multiproc = tmp / "prom"
    server_log, worker_log = tmp / "serve.log", tmp / "worker.log"
    secret_key = new_key()
    server = start(
        ["--log-format", "json", "serve", "--port", str(port), "--processes", "2", "--no-worker"],
        renewflow_env(
            ops_url,
            RENEWFLOW_SECRET_KEY=secret_key,
            RENEWFLOW_LOG_LEVEL="info",
            RENEWFLOW_POOL_MAX_SIZE="10",
            PROMETHEUS_MULTIPROC_DIR=str(multiproc),
            OTEL_SERVICE_NAME="renewflow-api",
            **otel,
        ),
        server_log,
    )
    worker = None
    try:
        wait_until(lambda: answers(f"{base}/readyz"), 60, "the server is ready", server, server_log)
        world = make_world(ops_db, customers=2)
        with ops_db.tenant_transaction(world.tenant) as conn:
            user = accounts.create_user(
                conn, email=f"admin-{uuid.uuid4().hex[:6]}@vendor.example", role=accounts.Role.ADMIN
            )
            key = accounts.issue_key(
                conn, user_id=user["id"], tenant_id=world.tenant, role=accounts.Role.ADMIN
            ).secret
            row = conn.execute(
                "SELECT name FROM customers WHERE id = %s", (world.customers[0],)
            ).fetchone()
            assert row is not None
            customer_name = row["name"]
        http = httpx.Client(base_url=base, headers=bearer(key), timeout=20)

        # the SMTP password, as a tenant secret, and the channel that uses it
        for patch in (
            {"secrets": {"smtp-password": PASSWORD}},
            {
                "notifications": {
                    "smtp": {
                        "host": "127.0.0.1",
                        "port": smtp_port,
                        "security": "none",
                        "from_address": "renewals@vendor.example",
                        "username": USER,
                        "password_secret": "smtp-password",
                    }
                }
            },
        ):
            patched = http.patch("/api/tenant", json=patch, headers=MERGE)
            assert patched.status_code == 200, patched.text

        # fresh connections until both HTTP processes have answered some (the kernel deals them)
        requests_to_me = 0
        while len(_http_pids(multiproc)) < 2:
            assert requests_to_me < 500, "one HTTP process answered every request"
            _me(http)
            requests_to_me += 1
        request_ids = {
            "client-chosen.id-1": _me(http, **{"X-Request-ID": "client-chosen.id-1"}),
            "not a token!": _me(http, **{"X-Request-ID": "not a token!"}),
            "": _me(http),
        }
        requests_to_me += len(request_ids)
        assert http.get("/api/no/such/route").status_code == 404
        assert http.get("/api/me", headers={"Authorization": "Bearer rf_nope"}).status_code == 401

        # a step run in an HTTP process (the mock provider), one queued for the worker
        steps = [
            f"/api/workflows/executions/{e}/steps/data-snapshot/execute" for e in world.executions
        ]
        synchronous = http.post(steps[0], headers=_traceparent())
        assert synchronous.status_code == 200, synchronous.text
        queued = http.post(steps[1], headers={"Prefer": "respond-async", **_traceparent()})
        assert queued.status_code == 202, queued.text

        # AI tasks (one raises on its first attempt) and an email, for the worker
        with ops_db.tenant_transaction(world.tenant) as conn:
            for processor in ("noop", "noop", "explode_once"):
                tasks.create_task(
                    conn,
                    TaskCreate.model_validate(
                        {
                            "workflow_execution_id": world.executions[0],
                            "customer_id": world.customers[0],
                            "task_type": "AI_TASK",
                            "owner": "AI",
                            "action": f"Enrich {processor}",
                            "description": "an AI task",
                            "priority": 2,
                            "auto_execute": True,
                            "processor": processor,
                        }
                    ),
                )
            enqueue(
                conn,
                OutboundMessage(recipient="sarah@vendor.example", title="Renewal", message="Hi"),
                "email",
            )

        worker = start(
            [
                "worker",
                "--name",
                "ops",
                "--step-workers",
                "1",
                "--poll",
                "0.1",
                "--backoff-base",
                "0",
                "--metrics-port",
                str(metrics_port),
                "--processor",
                "explode_once=tests.observability.procs:explode_once",
                "--log-level",
                "info",
            ],
            renewflow_env(
                ops_url,
                RENEWFLOW_SECRET_KEY=secret_key,
                RENEWFLOW_LOG_FORMAT="json",
                RENEWFLOW_POOL_MAX_SIZE="10",
                # its own LLM calls would add to the exact counts this module checks
                RENEWFLOW_INTELLIGENCE_AGENT="false",
                OTEL_SERVICE_NAME="renewflow-worker",
                **otel,
            ),
            worker_log,
        )

        def done() -> bool:
            with ops_db.service_transaction() as conn:
                left = conn.execute(
                    "SELECT (SELECT count(*) FROM workflow_tasks WHERE execution_status <> 'success')"
                    " + (SELECT count(*) FROM workflow_step_executions"
                    " WHERE status IN ('queued', 'running'))"
                    " + (SELECT count(*) FROM notifications WHERE status <> 'sent') AS n"
                ).fetchone()
            return left is not None and left["n"] == 0 and len(inbox.messages) == 1

        wait_until(done, 30, "the worker did it all", worker, worker_log)
        # the pools' gauges of the HTTP process a scrape does not reach are sampled by a thread
        # of its own, every second
        wait_until(
            lambda: total(parse(fetch(f"{base}/metrics")), POOL_MAX, pool="app") == 20,
            10,
            "both HTTP processes' pools are in the gauges",
        )
        server_metrics = [fetch(f"{base}/metrics") for _ in range(2)]
        worker_metrics = fetch(f"http://127.0.0.1:{metrics_port}/metrics")
        http_pids = _http_pids(multiproc)
        http.close()
        assert stop(worker) == 0
        assert stop(server) == 0
        yield Run(
            server_metrics=server_metrics,
            worker_metrics=worker_metrics,
            server_log=server_log.read_text(),
            worker_log=worker_log.read_text(),
            collector=collector,
            world=world,
            key=key,
            customer_name=customer_name,
            requests_to_me=requests_to_me,
            request_ids={sent: r.headers["X-Request-ID"] for sent, r in request_ids.items()},
            sync_trace=_traceparent_trace(synchronous),
            async_trace=_traceparent_trace(queued),
            http_pids=http_pids,
            secret_key=secret_key,
            smtp_authenticated=inbox.messages[0]["authenticated"],
        )
    finally:
        if worker is not None:
            stop(worker)
        stop(server)


ROUTE = "/api/workflows/executions/{execution_id}/steps/{step_id}/execute"


def test_http_requests_by_route_template_method_and_status_from_both_processes(run: Run) -> None:
    first, second = (parse(text) for text in run.server_metrics)
    requests, duration = "renewflow_http_requests_total", "renewflow_http_request_duration_seconds"
    me = {"route": "/api/me", "method": "GET"}
    assert value(first, requests, **me, status="200") == run.requests_to_me
    assert value(first, requests, **me, status="401") == 1
    assert value(first, requests, route="unmatched", method="GET", status="404") == 1
    assert value(first, requests, route="/api/tenant", method="PATCH", status="200") == 2
    assert value(first, requests, route=ROUTE, method="POST", status="200") == 1
    assert value(first, requests, route=ROUTE, method="POST", status="202") == 1
    assert value(first, f"{duration}_count", **me) == run.requests_to_me + 1
    assert value(first, f"{duration}_bucket", **me, le="+Inf") == run.requests_to_me + 1
    assert value(first, f"{duration}_sum", **me) > 0
    # each process counted its own share, and a scrape of either sums them
    assert len(run.http_pids) == 2
    assert all(count > 0 for count in run.http_pids.values())
    assert sum(run.http_pids.values()) == run.requests_to_me + 1
    # the second scrape (perhaps of the other process) sees the same, and the first scrape
    assert value(second, requests, **me, status="200") == run.requests_to_me
    scrapes = value(second, requests, route="/metrics", method="GET", status="200")
    assert scrapes == value(first, requests, route="/metrics", method="GET", status="200") + 1
    assert value(first, "renewflow_http_requests_in_progress") == 1  # the scrape itself
    # labels are templates, never paths
    for route in label_values(first, requests, "route"):
        assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}", route), route


def test_llm_calls_steps_queues_deliveries_and_pools(run: Run, ops_db: Database) -> None:
    server, worker = parse(run.server_metrics[0]), parse(run.worker_metrics)
    with ops_db.tenant_transaction(run.world.tenant) as conn:
        llm = conn.execute(
            "SELECT count(*) AS calls, sum(input_tokens) AS input, sum(output_tokens) AS output "
            "FROM llm_calls"
        ).fetchone()
    assert llm is not None
    assert llm["calls"] == 2  # one step in an HTTP process, one in the worker
    mock = {"provider": "mock", "model": "mock"}
    tokens = "renewflow_llm_tokens_total"
    for samples in (server, worker):
        assert value(samples, "renewflow_llm_calls_total", **mock, outcome="success") == 1
        assert total(samples, "renewflow_llm_calls_total") == 1
        assert value(samples, "renewflow_llm_call_duration_seconds_count", **mock) == 1
        assert value(samples, "renewflow_llm_cost_usd_total", **mock) == 0  # the mock is free
        steps = {"workflow": "prepare", "step_type": "analysis", "outcome": "completed"}
        assert value(samples, "renewflow_steps_total", **steps) == 1
        assert total(samples, "renewflow_steps_total") == 1
        assert value(samples, "renewflow_step_duration_seconds_count", workflow="prepare") == 1
        assert value(samples, "renewflow_database_up") == 1
        for queue in ("ai_tasks", "step_runs"):
            for state in ("queued", "waiting", "running"):
                depth = "renewflow_jobs_queue_depth"
                assert value(samples, depth, queue=queue, state=state) == 0
    # the pools (a pool opens on its first use: the server's HTTP processes use the app's)
    for samples, pools in ((server, ("app",)), (worker, ("app", "service"))):
        for pool in pools:
            connections = "renewflow_db_pool_connections"
            in_use = value(samples, connections, pool=pool, state="in_use")
            idle = value(samples, connections, pool=pool, state="idle")
            assert min(in_use, idle) >= 0
            assert in_use + idle > 0
            assert value(samples, "renewflow_db_pool_waiting_requests", pool=pool) == 0
            assert value(samples, "renewflow_db_pool_requests_total", pool=pool) > 0
    for kind, column in (("input", "input"), ("output", "output")):
        both = value(server, tokens, **mock, type=kind) + value(worker, tokens, **mock, type=kind)
        assert both == llm[column] > 0
    # the server's two processes, each with its pools (RENEWFLOW_POOL_MAX_SIZE=10)
    assert value(server, "renewflow_db_pool_max_connections", pool="app") == 20
    assert value(worker, "renewflow_db_pool_max_connections", pool="app") == 10
    assert value(worker, "renewflow_db_pool_max_connections", pool="service") == 5

    outcomes = "renewflow_jobs_outcomes_total"
    assert value(worker, outcomes, queue="ai_tasks", processor="noop", outcome="success") == 2
    assert value(worker, outcomes, queue="ai_tasks", processor="explode_once", outcome="retry") == 1
    assert (
        value(worker, outcomes, queue="ai_tasks", processor="explode_once", outcome="success") == 1
    )
    assert value(worker, outcomes, queue="step_runs", processor="step", outcome="success") == 1
    assert total(worker, outcomes) == 5
    latency = "renewflow_jobs_start_latency_seconds_count"
    assert value(worker, latency, queue="ai_tasks") == 4  # the retry started again
    assert value(worker, latency, queue="step_runs") == 1
    deliveries = "renewflow_notification_deliveries_total"
    assert value(worker, deliveries, channel="email", outcome="sent") == 1
    assert total(worker, deliveries) == 1
    duration = "renewflow_notification_delivery_duration_seconds_count"
    assert value(worker, duration, channel="email") == 1
    assert value(worker, "renewflow_periodic_interval_seconds", periodic_job="notify.deliver") == 30
    assert value(worker, "renewflow_periodic_failing", periodic_job="notify.deliver") == 0


def _lines(text: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    for line in lines:
        assert {"timestamp", "level", "logger", "message"} <= set(line), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])
    return lines


def test_json_logs_parse_line_by_line_and_carry_the_request_ids(run: Run) -> None:
    server, worker = _lines(run.server_log), _lines(run.worker_log)
    assert {line["level"] for line in server + worker} <= {"debug", "info", "warning", "error"}
    assert any(line["message"].startswith("Started parent process") for line in server)
    access = [line for line in server if line["logger"] == "uvicorn.access"]
    assert len(access) >= run.requests_to_me + 6
    assert all(HEX32.fullmatch(line["request_id"]) or "." in line["request_id"] for line in access)
    assert len({line["request_id"] for line in access}) == len(access)
    # a client's plain token is kept; anything else is replaced by a new id; each is returned
    assert run.request_ids["client-chosen.id-1"] == "client-chosen.id-1"
    assert HEX32.fullmatch(run.request_ids["not a token!"])
    assert HEX32.fullmatch(run.request_ids[""])
    logged = {line["request_id"] for line in access}
    assert set(run.request_ids.values()) <= logged
    # with tracing on, the line of a request carries its trace (continued from `traceparent`)
    [step] = [line for line in access if "steps/data-snapshot/execute" in line["message"]][:1]
    assert step["trace_id"] == run.sync_trace


def test_a_jobs_log_lines_carry_its_job_and_tenant_ids(run: Run) -> None:
    [raised] = [
        line
        for line in _lines(run.worker_log)
        if line["message"].startswith("processor explode_once raised")
    ]
    assert raised["tenant_id"] == str(run.world.tenant)
    assert raised["job_id"] in raised["message"]


def _ancestors(span_id: str, spans: dict[str, Any]) -> list[str]:
    names = []
    while span_id in spans:
        span = spans[span_id]
        names.append(span.name)
        span_id = span.parent_id
    return names


def _trace(run: Run, trace_id: str, *names: str) -> dict[str, Any]:
    """The spans of `trace_id` by id, once those named have arrived (the exporters batch)."""
    wait_until(
        lambda: set(names) <= {s.name for s in run.collector.trace(trace_id)},
        10,
        f"spans {names} of trace {trace_id}",
    )
    return {s.span_id: s for s in run.collector.trace(trace_id)}


def test_one_trace_spans_the_request_the_step_its_llm_call_and_its_sql(run: Run) -> None:
    request = f"POST {ROUTE}"
    spans = _trace(run, run.sync_trace, request, "renewflow.step", "chat mock")
    [server] = [s for s in spans.values() if s.name == request]
    assert server.service == "renewflow-api"
    assert server.attributes["http.route"] == ROUTE
    [chat] = [s for s in spans.values() if s.name == "chat mock"]
    assert _ancestors(chat.span_id, spans)[1:] == ["renewflow.step", request]
    assert chat.attributes["gen_ai.request.model"] == "mock"
    assert chat.attributes["gen_ai.usage.input_tokens"] > 0
    assert chat.attributes["gen_ai.usage.output_tokens"] > 0
    assert not {"gen_ai.input.messages", "gen_ai.system_instructions"} & set(chat.attributes)
    sql = [s for s in spans.values() if s.attributes.get("db.system") == "postgresql"]
    under_step = [s for s in sql if "renewflow.step" in _ancestors(s.parent_id, spans)]
    assert under_step, sorted(s.name for s in spans.values())
    assert all(request in _ancestors(s.span_id, spans) for s in sql)


def test_a_queued_step_continues_the_trace_of_the_request_that_queued_it(run: Run) -> None:
    request = f"POST {ROUTE}"
    spans = _trace(run, run.async_trace, request, "renewflow.step", "chat mock")
    by_service = {(s.service, s.name) for s in spans.values()}
    assert ("renewflow-api", request) in by_service
    [worker_step] = [
        s for s in spans.values() if s.name == "renewflow.step" and s.service == "renewflow-worker"
    ]
    assert worker_step.attributes["renewflow.step.mode"] == "worker"
    [chat] = [s for s in spans.values() if s.name == "chat mock"]
    assert chat.service == "renewflow-worker"
    assert chat.parent_id == worker_step.span_id
    # the worker's job span is linked, not the parent: the trace stays the request's
    [job] = [
        s for s in run.collector.named("renewflow.job step_runs") if s.span_id in worker_step.links
    ]
    assert job.trace_id != run.async_trace
    assert any(
        s.service == "renewflow-worker" and s.attributes.get("db.system") == "postgresql"
        for s in spans.values()
    )


def test_no_key_password_or_prompt_in_logs_metrics_or_traces(run: Run) -> None:
    assert run.smtp_authenticated  # the password was real, and used
    secrets = {
        "the API key": run.key,
        "the API key's secret part": run.key.split("_", 1)[1],
        "the SMTP password": PASSWORD,
        "the envelope key": run.secret_key,
        "the prompt": PROMPT_TEXT,
        "the customer named in the prompt": run.customer_name,
    }
    haystacks = {
        "server log": run.server_log,
        "worker log": run.worker_log,
        "server metrics": "".join(run.server_metrics),
        "worker metrics": run.worker_metrics,
        "traces": b"".join(run.collector.raw).decode("utf-8", "replace"),
    }
    assert len(haystacks["traces"]) > 10_000
    found = [
        (what, where) for what, s in secrets.items() for where, h in haystacks.items() if s in h
    ]
    assert found == []
