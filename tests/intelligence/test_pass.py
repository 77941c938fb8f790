"""The pass: components, scores and trend for the customers whose data changed, and only them;
summaries whose every claim cites the facts it rests on; tenants failing alone."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from renewflow.db import Database
from renewflow.intelligence import PassLimits, run_pass, run_tenant, supported
from renewflow.llm import LLMClient, LLMClients, LLMRequest, LLMResponse
from tests.intelligence.conftest import add_customer, add_task

LIMITS = PassLimits(batch_size_per_workspace=100, max_workspaces=1000)


def _intelligence(database: Database, tenant_id: uuid.UUID) -> dict[uuid.UUID, dict[str, Any]]:
    with database.tenant_transaction(tenant_id) as conn:
        rows = conn.execute("SELECT * FROM customer_intelligence").fetchall()
    return {r["customer_id"]: r for r in rows}


def _llm_calls(database: Database, tenant_id: uuid.UUID) -> int:
    with database.tenant_transaction(tenant_id) as conn:
        row = conn.execute("SELECT count(*) AS n FROM llm_calls").fetchone()
    assert row is not None
    return int(row["n"])


def test_a_pass_scores_every_new_customer_and_summarises_with_evidence(
    database: Database, tenant_factory: Callable[..., uuid.UUID], clients: LLMClients
) -> None:
    tenant = tenant_factory("Intel")
    falling = add_customer(database, tenant, "Falling Co", usage_drop=0.5, renewal_in_days=20)
    growing = add_customer(database, tenant, "Growing Co", usage_drop=-0.3, renewal_in_days=300)
    supported_by_tickets = add_customer(database, tenant, "Tickets Co", support=True)

    result = run_tenant(database, clients, tenant, LIMITS, triggered_by="api")

    assert (result.status, result.customers_processed, result.summaries_written) == (
        "completed",
        3,
        3,
    )
    rows = _intelligence(database, tenant)
    falling_row, growing_row = rows[falling], rows[growing]
    assert falling_row["components"]["usage"]["changePct"] == -50.0
    assert falling_row["components"]["tasks"] == {
        "score": 30,
        "weight": 0.15,
        "open": 1,
        "overdue": 1,
    }
    assert falling_row["components"]["renewal"]["band"] == "within_30_days"
    assert falling_row["components"]["support"] is None  # not imported: left out, not zero
    assert rows[supported_by_tickets]["components"]["support"]["escalations28d"] == 1
    assert falling_row["risk_score"] > growing_row["risk_score"]
    assert falling_row["health_score"] < growing_row["health_score"]
    assert {r["risk_trend"] for r in rows.values()} == {"new"}
    for row in rows.values():
        assert row["insights"], "every summary keeps at least one supported claim"
        for insight in row["insights"]:
            assert insight["evidence"]
            for cited in insight["evidence"]:
                assert row["facts"][cited["key"]] == cited["value"]
                assert cited["key"] in row["ai_summary"]
        assert row["summary_facts_sha256"] == row["facts_sha256"]
    with database.tenant_transaction(tenant) as conn:
        ledger = conn.execute(
            "SELECT status, triggered_by, agent_name, output_data FROM autonomous_tasks "
            "WHERE task_type = 'continuous_intelligence_update'"
        ).fetchall()
    assert [(r["status"], r["triggered_by"], r["agent_name"]) for r in ledger] == [
        ("completed", "api", "continuous-intelligence")
    ]
    assert ledger[0]["output_data"]["summaries_written"] == 3


def test_only_changed_customers_are_recomputed_and_a_quiet_rerun_does_nothing(
    database: Database, tenant_factory: Callable[..., uuid.UUID], clients: LLMClients
) -> None:
    tenant = tenant_factory("Intel")
    first = add_customer(database, tenant, "First Co", usage_drop=0.1)
    second = add_customer(database, tenant, "Second Co", usage_drop=0.1)
    run_tenant(database, clients, tenant, LIMITS, triggered_by="api")
    before = _intelligence(database, tenant)
    calls = _llm_calls(database, tenant)

    quiet = run_tenant(database, clients, tenant, LIMITS, triggered_by="api")
    assert (quiet.customers_processed, quiet.summaries_written) == (0, 0)
    assert _llm_calls(database, tenant) == calls
    assert _intelligence(database, tenant)[first]["computed_at"] == before[first]["computed_at"]

    # a re-import of the same values, and a task's lease renewed, are no change
    with database.tenant_transaction(tenant) as conn:
        conn.execute("UPDATE usage_metrics SET value = value WHERE customer_id = %s", (first,))
        conn.execute("UPDATE workflow_tasks SET last_error = 'x' WHERE customer_id = %s", (first,))
    assert (
        run_tenant(database, clients, tenant, LIMITS, triggered_by="api").customers_processed == 0
    )

    add_task(database, tenant, second)  # a second overdue task
    changed = run_tenant(database, clients, tenant, LIMITS, triggered_by="api")
    assert (changed.customers_processed, changed.summaries_written) == (1, 1)
    after = _intelligence(database, tenant)
    assert after[first]["computed_at"] == before[first]["computed_at"]
    assert after[second]["computed_at"] > before[second]["computed_at"]
    assert after[second]["components"]["tasks"]["overdue"] == 2
    assert after[second]["risk_score"] > before[second]["risk_score"]
    assert after[second]["previous_risk_score"] == before[second]["risk_score"]
    assert after[second]["risk_trend"] in ("worsening", "stable")
    assert [p["risk"] for p in after[second]["score_history"]] == [
        before[second]["risk_score"],
        after[second]["risk_score"],
    ]
    assert _llm_calls(database, tenant) == calls + 1


def test_summaries_are_deterministic_with_the_mock(
    database: Database, tenant_factory: Callable[..., uuid.UUID], clients: LLMClients
) -> None:
    tenant = tenant_factory("Intel")
    customer = add_customer(database, tenant, "Same Co")
    run_tenant(database, clients, tenant, LIMITS, triggered_by="api")
    first = _intelligence(database, tenant)[customer]
    with database.tenant_transaction(tenant) as conn:
        conn.execute("UPDATE customer_intelligence SET summary_facts_sha256 = NULL")
    again = run_tenant(database, clients, tenant, LIMITS, triggered_by="api")
    assert (again.customers_processed, again.summaries_written) == (0, 1)
    second = _intelligence(database, tenant)[customer]
    assert (second["ai_summary"], second["insights"]) == (first["ai_summary"], first["insights"])


class _Inventing:
    """A provider that cites facts it was not given, or none."""

    name = "inventing"
    default_model = "inventing"

    def complete(self, request: LLMRequest) -> LLMResponse:
        claims = [
            {"signal": "Usage is falling", "evidence": ["usage.change_pct"]},
            {"signal": "The CFO is unhappy", "evidence": ["crm.cfo_mood"]},
            {"signal": "Churn is certain", "evidence": []},
            {"signal": "Two overdue tasks and a secret", "evidence": ["tasks.overdue", "x.y"]},
            {"signal": "No evidence field at all"},
            "not even an object",
        ]
        return LLMResponse(text="{}", model="inventing", parsed={"claims": claims})

    def close(self) -> None:
        pass


class _InventingClients(LLMClients):
    def for_tenant(self, tenant_settings: Any) -> LLMClient:
        return LLMClient(_Inventing())


def test_claims_without_evidence_among_the_facts_are_dropped(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory("Intel")
    customer = add_customer(database, tenant, "Claims Co")
    result = run_tenant(database, _InventingClients(), tenant, LIMITS, triggered_by="api")
    assert (result.claims_kept, result.claims_dropped) == (1, 5)
    row = _intelligence(database, tenant)[customer]
    assert row["ai_summary"] == "Usage is falling. [usage.change_pct]"
    assert row["insights"] == [
        {
            "claim": "Usage is falling",
            "evidence": [{"key": "usage.change_pct", "value": row["facts"]["usage.change_pct"]}],
        }
    ]


def test_the_evidence_rule_on_its_own() -> None:
    facts = {"a": 1, "b": 2}
    summary = supported(
        {"claims": [{"signal": "A", "evidence": ["a", "a"]}, {"signal": "B", "evidence": ["c"]}]},
        facts,
    )
    assert [(c.text, c.evidence) for c in summary.claims] == [("A", ("a",))]
    assert summary.dropped == 1
    assert supported("nonsense", facts).claims == ()


def test_one_tenants_failure_never_stops_another(
    database: Database, tenant_factory: Callable[..., uuid.UUID], clients: LLMClients
) -> None:
    broken, healthy = tenant_factory("Broken"), tenant_factory("Healthy")
    with database.service_transaction() as conn:
        conn.execute(
            "UPDATE tenants SET settings = %s WHERE id = %s",
            (Jsonb({"llm": {"provider": "no-such-provider"}}), broken),
        )
    add_customer(database, broken, "Broken Co")
    good = add_customer(database, healthy, "Healthy Co")

    result = run_pass(database, clients, LIMITS, triggered_by="system")

    by_tenant = {r.workspace_id: r for r in result.results}
    assert by_tenant[broken].status == "failed"
    assert by_tenant[broken].error
    assert by_tenant[healthy].status == "completed"
    assert _intelligence(database, healthy)[good]["ai_summary"]
    assert result.status == "partial_failure"
    with database.tenant_transaction(broken) as conn:
        failure = conn.execute(
            "SELECT subject_type, attempts FROM job_failures WHERE job = 'intelligence.continuous'"
        ).fetchone()
        ledger = conn.execute(
            "SELECT status, error_message FROM autonomous_tasks "
            "WHERE task_type = 'continuous_intelligence_update'"
        ).fetchone()
    assert failure == {"subject_type": "tenant", "attempts": 1}
    assert ledger is not None
    assert ledger["status"] == "failed"
    assert ledger["error_message"]

    # its next attempt is not due yet: the next pass leaves it waiting
    again = run_pass(database, clients, LIMITS, triggered_by="system")
    assert broken not in {r.workspace_id for r in again.results}


def test_deleting_a_customer_or_its_tenant_is_not_a_change_to_record(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory("Intel")
    customer = add_customer(database, tenant, "Gone Co")
    with database.tenant_transaction(tenant) as conn:
        conn.execute("DELETE FROM customers WHERE id = %s", (customer,))
        left = conn.execute("SELECT count(*) AS n FROM customer_data_versions").fetchone()
    assert left == {"n": 0}
    add_customer(database, tenant, "Also Gone Co")
    with database.service_transaction() as conn:
        conn.execute("DELETE FROM tenants WHERE id = %s", (tenant,))


def test_versions_are_bumped_by_each_table(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory("Intel")
    customer = add_customer(database, tenant, "Bumps Co")

    def version() -> int:
        with database.tenant_transaction(tenant) as conn:
            row = conn.execute(
                "SELECT version FROM customer_data_versions WHERE customer_id = %s", (customer,)
            ).fetchone()
        assert row is not None
        return int(row["version"])

    statements = [
        "UPDATE contracts SET arr = arr + 1 WHERE customer_id = %(c)s",
        "UPDATE contacts SET title = 'VP' WHERE customer_id = %(c)s",
        "UPDATE usage_metrics SET value = value + 1 WHERE customer_id = %(c)s",
        "DELETE FROM usage_metrics WHERE customer_id = %(c)s AND metric_date = current_date",
        "UPDATE workflow_tasks SET status = 'completed', completed_at = now() "
        "WHERE customer_id = %(c)s",
        "UPDATE customers SET tier = 'gold' WHERE id = %(c)s",
    ]
    for statement in statements:
        seen = version()
        with database.tenant_transaction(tenant) as conn:
            conn.execute(statement, {"c": customer})
        assert version() == seen + 1, statement
    seen = version()
    with database.tenant_transaction(tenant) as conn:
        conn.execute("UPDATE customers SET metadata = '{\"x\": 1}' WHERE id = %s", (customer,))
    assert version() == seen


@pytest.mark.parametrize("batch", [1, 2])
def test_the_batch_bounds_a_tenants_pass(
    database: Database,
    tenant_factory: Callable[..., uuid.UUID],
    clients: LLMClients,
    batch: int,
) -> None:
    tenant = tenant_factory("Intel")
    for i in range(3):
        add_customer(database, tenant, f"Batch {i}")
    limits = PassLimits(batch_size_per_workspace=batch, max_workspaces=10)
    done = 0
    for _ in range(5):
        result = run_tenant(database, clients, tenant, limits, triggered_by="api")
        assert result.customers_processed <= batch
        done += result.customers_processed
    assert done == 3
    with pytest.raises(psycopg.errors.CheckViolation), database.service_transaction() as conn:
        conn.execute(
            "INSERT INTO intelligence_runs (slot, triggered_by, batch_size_per_workspace, "
            "max_workspaces) VALUES (now(), 'cron', 0, 1)"
        )
