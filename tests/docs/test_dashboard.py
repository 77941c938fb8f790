"""The Grafana dashboard and the alert rules in docs/grafana read only metrics renewflow exposes,
with labels those metrics carry: a renamed family or label fails here, not on an operator's screen.

The exposed series are taken from a scrape of a `Metrics` of its own, after one call of each of
its recording methods and a scrape of a stand-in database (so that every family has samples, and
so its labels).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from renewflow.observability import Metrics

DOCS = Path(__file__).resolve().parents[2] / "docs" / "grafana"
DASHBOARD = DOCS / "renewflow.json"
ALERTS = DOCS / "alerts.yml"

# labels Prometheus itself attaches to every series it scrapes, and the one a histogram's buckets
# carry
TARGET_LABELS = frozenset({"job", "instance", "le"})
_PROMQL_FUNCTIONS_AND_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
)


class _Result:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows

    def fetchall(self) -> list[dict[str, Any]]:
        return self._rows

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._rows)


class _Connection:
    def execute(self, query: str, params: object = None) -> _Result:
        if "periodic_runs" in query:
            return _Result(
                [
                    {
                        "job_name": "engine.renewal_sweep",
                        "last_slot": 1,
                        "last_ok_slot": 1,
                        "failing": 0,
                    }
                ]
            )
        if "last_succeeded_at" in query:  # the ledger's health of scheduled work
            return _Result(
                [
                    {
                        "tenant_id": "t",
                        "task_type": "renewal_sweep",
                        "last_success": None,
                        "tenant_created_at": datetime.now(UTC),
                    }
                ]
            )
        if "job_failures" in query:
            return _Result([{"job": "notify.deliver", "subject_type": "channel", "open": 1}])
        return _Result([])


class _Database:
    """What a scrape asks of the database: its pools' statistics and one service transaction."""

    def pool_stats(self) -> dict[str, dict[str, int]]:
        stats = {"pool_size": 2, "pool_available": 1, "pool_max": 4, "requests_waiting": 0}
        counters = dict.fromkeys(
            (
                "requests_num",
                "requests_queued",
                "requests_wait_ms",
                "requests_timeouts",
                "connections_errors",
                "connections_lost",
            ),
            1,
        )
        return {"app": {**stats, **counters}}

    @contextmanager
    def service_transaction(self) -> Iterator[_Connection]:
        yield _Connection()


class _Queue:
    name = "ai_tasks"

    def depth(self) -> Mapping[str, int]:
        return {"queued": 1}


@pytest.fixture(scope="module")
def exposed() -> dict[str, frozenset[str]]:
    """Each series name a scrape shows, with its labels."""
    metrics = Metrics(tenant_label=True)
    metrics.watch(_Database(), [_Queue()], periodic=[("engine.renewal_sweep", 3600.0)])  # type: ignore[arg-type]
    metrics.http_request("/api/me", "GET", 200, 0.01)
    metrics.http_started()
    metrics.llm_call(
        provider="mock",
        model="mock-1",
        outcome="success",
        seconds=0.1,
        attempts=2,
        input_tokens=10,
        output_tokens=5,
        cost_usd=0.01,
        tenant="t",
    )
    metrics.step_finished("prepare", "llm", "completed", 0.1)
    metrics.outcome("ai_tasks", "noop", "success")
    metrics.start_latency("ai_tasks", 0.01)
    metrics.claim_duration("ai_tasks", 0.001)
    metrics.delivery("email", None, 0.1)
    series: dict[str, set[str]] = {}
    for family in metrics.collector().collect():
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return {name: frozenset(labels) for name, labels in series.items()}


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    return [
        target["expr"]
        for panel in panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]


def _alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def _problems(expression: str, exposed: dict[str, frozenset[str]]) -> list[str]:
    names = set(re.findall(r"\brenewflow_[a-z0-9_]+\b", expression))
    problems = [f"{name} is not exposed" for name in sorted(names) if name not in exposed]
    known = set().union(*(exposed.get(name, frozenset()) for name in names)) | TARGET_LABELS
    used: set[str] = set()
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expression):
        used.update(label.strip() for label in group.split(",") if label.strip())
    for matchers in re.findall(r"\{([^}]*)\}", expression):
        used.update(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
    for label in sorted(used - _PROMQL_FUNCTIONS_AND_KEYWORDS):
        if label not in known:
            problems.append(f"label {label!r} is on none of {sorted(names)}")
    return problems


def test_dashboard_is_grafana_json_over_a_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["uid"]
    assert dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].strip()
            assert target["refId"]


def test_dashboard_reads_only_exposed_metrics_and_labels(
    exposed: dict[str, frozenset[str]],
) -> None:
    expressions = _dashboard_expressions()
    assert len(expressions) > 20
    problems = {e: p for e in expressions if (p := _problems(e, exposed))}
    assert not problems


def test_dashboard_covers_every_family(exposed: dict[str, frozenset[str]]) -> None:
    """Every family has a panel (its series: `_total`, `_bucket`, or the gauge itself)."""
    text = " ".join(_dashboard_expressions())
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in exposed}
    missing = sorted(f for f in families if not re.search(rf"\b{f}(_total|_bucket)?\b", text))
    assert missing == []


def test_alert_rules_are_prometheus_rules_over_exposed_metrics(
    exposed: dict[str, frozenset[str]],
) -> None:
    rules = yaml.safe_load(ALERTS.read_text())
    names = []
    for group in rules["groups"]:
        assert group["name"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
            assert rule["labels"]["severity"] in ("critical", "warning", "info")
            assert rule["annotations"]["summary"]
            if "for" in rule:
                assert re.fullmatch(r"\d+[smhd]", rule["for"])
            names.append(rule["alert"])
    assert len(names) == len(set(names))
    problems = {e: p for e in _alert_expressions() if (p := _problems(e, exposed))}
    assert not problems
    text = " ".join(_alert_expressions())
    for family in (
        "renewflow_jobs_start_latency_seconds",
        "renewflow_llm_calls",
        "renewflow_notification_deliveries",
        "renewflow_periodic_last_ok_slot_timestamp_seconds",
        "renewflow_database_up",
    ):
        assert family in text, family
