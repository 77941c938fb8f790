"""The ledger's daily roll-up (migration 0029): kept equal to the ledger through inserts, updates
and deletes, and the summary of a long window read from it: counts, costs and averages equal to
the exact summary's, percentiles close to them."""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from renewflow.db import Connection, Database, load_queries
from renewflow.ledger import reports

_Q = load_queries("renewflow.ledger", "reports.sql")
TYPES = ("renewal_sweep", "task_sweep", "notification_delivery")

_ROWS = """
INSERT INTO autonomous_tasks (tenant_id, task_type, status, executed_at, completed_at,
                              cost_estimate_usd)
SELECT %(tenant)s, (%(types)s::text[])[1 + floor(random() * 3)::int],
       (ARRAY['completed', 'completed', 'failed', 'partial_failure', 'running'])
         [1 + floor(random() * 5)::int],
       g.at,
       CASE WHEN random() < 0.9 THEN g.at + make_interval(secs => exp(random() * 10) / 1000) END,
       CASE WHEN random() < 0.4 THEN round((random() * 2)::numeric, 4) END
FROM (SELECT now() - random() * make_interval(days => %(days)s) AS at
      FROM generate_series(1, %(rows)s)) g
"""

# the roll-up as it should be, from the ledger itself
_EXPECTED = """
SELECT task_type, (executed_at AT TIME ZONE 'UTC')::date AS day, count(*) AS executions,
       count(*) FILTER (WHERE status = 'completed') AS completed_count,
       count(*) FILTER (WHERE status IN ('failed', 'partial_failure')) AS failed_count,
       count(duration_ms) AS duration_count, coalesce(sum(duration_ms), 0) AS duration_sum_ms,
       coalesce(sum(cost_estimate_usd), 0) AS cost_usd, max(executed_at) AS last_executed_at,
       array_agg(ledger_duration_bucket(duration_ms)) FILTER (WHERE duration_ms IS NOT NULL)
         AS buckets
FROM autonomous_tasks
WHERE tenant_id = current_tenant_id() AND executed_at IS NOT NULL
GROUP BY 1, 2
"""
_ROLLUP = """
SELECT task_type, day, executions, completed_count, failed_count, duration_count,
       duration_sum_ms, cost_usd, last_executed_at, durations
FROM autonomous_task_days
"""


@pytest.fixture
def busy(tenant_factory: Callable[..., uuid.UUID], database: Database) -> uuid.UUID:
    tenant = tenant_factory("Ledger days")
    with database.service_transaction() as conn:
        conn.execute(_ROWS, {"tenant": tenant, "types": list(TYPES), "days": 40, "rows": 6000})
    return tenant


def _rollup_matches_the_ledger(conn: Connection) -> None:
    expected = {(r["task_type"], r["day"]): r for r in conn.execute(_EXPECTED)}
    actual = {(r["task_type"], r["day"]): r for r in conn.execute(_ROLLUP)}
    assert set(actual) == set(expected)
    for key, want in expected.items():
        got = actual[key]
        for column in (
            "executions",
            "completed_count",
            "failed_count",
            "duration_count",
            "duration_sum_ms",
            "cost_usd",
            "last_executed_at",
        ):
            assert got[column] == want[column], (key, column)
        histogram = {k: n for k, n in enumerate(got["durations"], 1) if n}
        assert histogram == dict(Counter(want["buckets"] or [])), key


def test_the_rollup_follows_inserts_updates_and_deletes(
    database: Database, busy: uuid.UUID
) -> None:
    with database.tenant_transaction(busy) as conn:
        _rollup_matches_the_ledger(conn)
    with database.tenant_transaction(busy) as conn:
        # runs finishing (a duration and a cost appear), one moving to another day and type
        conn.execute(
            "UPDATE autonomous_tasks SET status = 'completed', cost_estimate_usd = 0.5, "
            "completed_at = executed_at + interval '3 seconds' WHERE status = 'running'"
        )
        conn.execute(
            "UPDATE autonomous_tasks SET executed_at = executed_at - interval '1 day', "
            "completed_at = completed_at - interval '1 day', task_type = 'task_sweep' "
            "WHERE id IN (SELECT id FROM autonomous_tasks ORDER BY executed_at DESC LIMIT 50)"
        )
        # retention: the oldest days go entirely, and some runs of the others
        conn.execute("DELETE FROM autonomous_tasks WHERE executed_at < now() - interval '30 days'")
        conn.execute(
            "DELETE FROM autonomous_tasks WHERE id IN "
            "(SELECT id FROM autonomous_tasks ORDER BY executed_at DESC LIMIT 300)"
        )
        _rollup_matches_the_ledger(conn)


def test_a_long_windows_summary_agrees_with_the_exact_one(
    database: Database, busy: uuid.UUID
) -> None:
    params = {"task_type": None, "hours": 24 * 35}
    with database.tenant_transaction(busy) as conn:
        exact = {r["task_type"]: r for r in conn.execute(_Q["summary"], params)}
        rolled = {r["task_type"]: r for r in conn.execute(_Q["summary_days"], params)}
        # a window of this few runs is summarised exactly
        assert reports.summary(conn, hours=24 * 35) == list(exact.values())
    assert set(rolled) == set(exact) == set(TYPES)
    for task_type, want in exact.items():
        got: dict[str, Any] = rolled[task_type]
        for column in (
            "total_executions",
            "completed_count",
            "failed_count",
            "avg_duration_ms",
            "total_cost_usd",
            "last_executed_at",
        ):
            assert got[column] == want[column], (task_type, column)
        for column in ("p50_duration_ms", "p95_duration_ms"):
            # within its 10%-wide bucket of the exact value
            assert math.isclose(got[column], want[column], rel_tol=0.1), (task_type, column)


def test_the_rollup_serves_windows_of_many_runs_past_two_days(
    database: Database, busy: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports, "EXACT_RUNS", 100)
    with database.tenant_transaction(busy) as conn:
        rolled = conn.execute(_Q["summary_days"], {"task_type": None, "hours": 24 * 35})
        assert reports.summary(conn, hours=24 * 35) == rolled.fetchall()
        exact = conn.execute(_Q["summary"], {"task_type": None, "hours": 48}).fetchall()
        assert reports.summary(conn, hours=48) == exact


def test_percentiles_of_a_few_runs_interpolate_as_percentile_cont_does(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory("Ledger days few")
    with database.service_transaction() as conn:
        for days_ago, seconds in ((5, 0.5), (6, 2.0), (7, 30.0)):
            conn.execute(
                "INSERT INTO autonomous_tasks (tenant_id, task_type, status, executed_at, "
                "completed_at) VALUES (%s, 'renewal_sweep', 'completed', "
                "now() - make_interval(days => %s), "
                "now() - make_interval(days => %s) + make_interval(secs => %s))",
                (tenant, days_ago, days_ago, seconds),
            )
    params = {"task_type": None, "hours": 24 * 10}
    with database.tenant_transaction(tenant) as conn:
        [exact] = conn.execute(_Q["summary"], params).fetchall()
        [rolled] = conn.execute(_Q["summary_days"], params).fetchall()
    # 2 s, and 27.2 s (nine tenths of the way from 2 s to 30 s); each estimate within 5%
    assert math.isclose(exact["p50_duration_ms"], 2000)
    assert math.isclose(rolled["p50_duration_ms"], 2000, rel_tol=0.05)
    assert math.isclose(exact["p95_duration_ms"], 27200)
    assert math.isclose(rolled["p95_duration_ms"], 27200, rel_tol=0.05)


def test_one_task_type_and_an_empty_window(database: Database, busy: uuid.UUID) -> None:
    with database.tenant_transaction(busy) as conn:
        only = reports.summary(conn, task_type="task_sweep", hours=24 * 10)
        exact = conn.execute(_Q["summary"], {"task_type": "task_sweep", "hours": 24 * 10})
        assert [r["total_executions"] for r in only] == [r["total_executions"] for r in exact]
    tenant = uuid.UUID(int=random.getrandbits(128))  # no such tenant: sees nothing
    with database.tenant_transaction(tenant) as conn:
        assert reports.summary(conn, hours=24 * 90) == []
