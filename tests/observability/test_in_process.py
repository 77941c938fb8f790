"""Observability inside one process: the pool gauges while a request waits, log lines with each
id, a registry per `Metrics`, and the settings the CLI refuses (one line, exit 2)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from renewflow.db import Database
from renewflow.jobs import Lease
from renewflow.jobs.metrics import observed
from renewflow.observability import LogFormat, Metrics, configure_logging, context
from renewflow.observability.logs import UVICORN_LOGGERS
from tests.observability.conftest import ROOT, renewflow_env, wait_until
from tests.observability.scrape import parse, total, value


def test_the_pool_gauges_show_a_request_waiting_and_then_its_wait(migrated_url: str) -> None:
    metrics = Metrics()
    with Database(migrated_url, min_size=1, max_size=1) as database:
        metrics.watch(database)
        got = threading.Event()

        def wait_for_a_connection() -> None:
            with database.app_connection():
                got.set()

        with database.app_connection():
            waiter = threading.Thread(target=wait_for_a_connection)
            waiter.start()
            wait_until(
                lambda: total(parse(metrics.render()), "renewflow_db_pool_waiting_requests") == 1,
                10,
                "a request waits",
            )
            during = parse(metrics.render())
            assert value(during, "renewflow_db_pool_connections", pool="app", state="in_use") == 1
            assert value(during, "renewflow_db_pool_connections", pool="app", state="idle") == 0
            assert value(during, "renewflow_db_pool_max_connections", pool="app") == 1
            assert not got.is_set()
            threading.Event().wait(0.2)  # the wait the gauge below must see (not a sync)
        waiter.join(10)
        assert got.is_set()
        after = parse(metrics.render())
    assert value(after, "renewflow_db_pool_waiting_requests", pool="app") == 0
    assert value(after, "renewflow_db_pool_queued_requests_total", pool="app") == 1
    assert value(after, "renewflow_db_pool_requests_total", pool="app") == 2
    assert value(after, "renewflow_db_pool_wait_seconds_total", pool="app") >= 0.2


def test_each_metrics_has_a_registry_of_its_own() -> None:
    one, two = Metrics(), Metrics()
    one.outcome("ai_tasks", "noop", "success")
    one.outcome("ai_tasks", "noop", "success")
    two.outcome("ai_tasks", "noop", "success")
    name = "renewflow_jobs_outcomes_total"
    labels = {"queue": "ai_tasks", "processor": "noop", "outcome": "success"}
    assert value(parse(one.render()), name, **labels) == 2
    assert value(parse(two.render()), name, **labels) == 1


def test_the_tenant_label_of_the_llm_families_is_opt_in() -> None:
    tenant = str(uuid.uuid4())
    call = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "outcome": "success",
        "seconds": 0.5,
        "attempts": 2,
        "input_tokens": 100,
        "output_tokens": 20,
        "cost_usd": 0.25,
        "tenant": tenant,
    }
    off, on = Metrics(tenant_label=False), Metrics(tenant_label=True)
    off.llm_call(**call)  # type: ignore[arg-type]
    on.llm_call(**call)  # type: ignore[arg-type]
    model = {"provider": "openai", "model": "gpt-4o-mini"}
    plain, labelled = parse(off.render()), parse(on.render())
    assert value(plain, "renewflow_llm_calls_total", **model, outcome="success") == 1
    assert value(plain, "renewflow_llm_cost_usd_total", **model) == 0.25
    assert value(plain, "renewflow_llm_retries_total", **model) == 1
    assert (
        value(labelled, "renewflow_llm_tokens_total", **model, type="input", tenant=tenant) == 100
    )
    assert value(labelled, "renewflow_llm_cost_usd_total", **model, tenant=tenant) == 0.25


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """This process's log lines as JSON, into a string; the logging as it was afterwards."""
    from renewflow.observability import logs

    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in UVICORN_LOGGERS)]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    configured = (logs._configured, logs._handler)
    stream = io.StringIO()
    configure_logging("info", LogFormat.JSON, stream=stream)
    yield stream
    for lg, handlers, level, propagate in saved:
        for handler in list(lg.handlers):
            lg.removeHandler(handler)
        for handler in handlers:
            lg.addHandler(handler)
        lg.setLevel(level)
        lg.propagate = propagate
    logs._configured, logs._handler = configured


def _parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_ids_that_apply_and_nothing_secret(json_lines: io.StringIO) -> None:
    log = logging.getLogger("renewflow.test")
    tenant, execution, job = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    log.info("outside")
    with context.bound(request="req-1", tenant=tenant):
        log.info("in a request")
        with context.bound(execution=execution):
            log.warning("in a step of %s", "data-snapshot")
    lease = Lease(
        job_id=job,
        tenant_id=tenant,
        token=uuid.uuid4(),
        attempt=1,
        max_attempts=3,
        kind="noop",
        queued_at=datetime.now(UTC),
        claimed_at=datetime.now(UTC),
    )

    class Queue:
        name = "ai_tasks"

    with observed(Queue(), lease):  # type: ignore[arg-type]
        log.error(
            "a job failed: password=hunter2 at postgresql://rf:s3cret@db/x key rf_%s", "a" * 32
        )
    outside, request, step, failed = _parsed(json_lines)
    assert list(outside) == ["timestamp", "level", "logger", "message", "process"]
    assert (outside["level"], outside["logger"], outside["message"]) == (
        "info",
        "renewflow.test",
        "outside",
    )
    assert (request["request_id"], request["tenant_id"]) == ("req-1", str(tenant))
    assert "execution_id" not in request
    assert step["message"] == "in a step of data-snapshot"
    assert step["execution_id"] == str(execution)
    assert (failed["job_id"], failed["tenant_id"]) == (str(job), str(tenant))
    assert "request_id" not in failed
    assert "execution_id" not in failed
    assert failed["message"] == (
        "a job failed: password=[redacted] at postgresql://rf:[redacted]@db/x key rf_[redacted]"
    )


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # a database nobody listens on: a setting that wrongly passed would fail with exit 1, never 2
    return subprocess.run(
        [sys.executable, "-m", "renewflow", *args],
        cwd=ROOT,
        env=renewflow_env("postgresql://renewflow@127.0.0.1:9/none", **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("command", "env", "message"),
    [
        (["--log-format", "xml", "serve"], {}, "'xml' is not one of 'text', 'json'"),
        (["worker"], {"RENEWFLOW_LOG_FORMAT": "logfmt"}, "Invalid value for '--log-format'"),
        (["serve"], {"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER: unknown exporter"),
        (
            ["worker"],
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
            "OTEL_EXPORTER_OTLP_ENDPOINT: must be an http:// or https:// URL",
        ),
        (
            ["serve"],
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "sometimes"},
            "OTEL_TRACES_SAMPLER: unknown sampler 'sometimes'",
        ),
        (
            ["worker"],
            {"RENEWFLOW_METRICS_TENANT_LABEL": "maybe"},
            "RENEWFLOW_METRICS_TENANT_LABEL: must be true or false",
        ),
    ],
)
def test_bad_log_or_telemetry_settings_are_one_line_and_exit_2(
    command: list[str], env: dict[str, str], message: str
) -> None:
    result = _cli(*command, **env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("renewflow: error: "), result.stderr
    assert message in result.stderr, result.stderr
