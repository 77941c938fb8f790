"""Runs of a slot through the agent itself (as the worker's periodic job calls it)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from renewflow.db import Connection, Database
from renewflow.intelligence import ContinuousIntelligence, PassLimits, periodic_job
from renewflow.intelligence.passes import JOB
from renewflow.ledger import health
from renewflow.llm import LLMClients
from renewflow.worker import Intervals, scheduled_jobs
from tests.intelligence.conftest import a_slot_of_our_own, add_customer

LIMITS = PassLimits(batch_size_per_workspace=100, max_workspaces=1000)


def test_a_second_call_in_the_slot_returns_the_first_run(
    database: Database, agent: ContinuousIntelligence, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory("Runs")
    add_customer(database, tenant, "Runs Co")
    first = agent.run(LIMITS, triggered_by="system")
    second = agent.run(LIMITS, triggered_by="cron")
    assert first.did_work
    assert not second.did_work
    assert (second.run_id, second.result) == (first.run_id, first.result)


def test_a_run_whose_holder_died_is_taken_over(
    database: Database, clients: LLMClients, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    slot = a_slot_of_our_own()
    with database.service_transaction() as conn:
        conn.execute(
            "INSERT INTO intelligence_runs (slot, triggered_by, batch_size_per_workspace, "
            "max_workspaces, lease_token, claimed_by, lease_expires_at) "
            "VALUES (%s, 'system', 1, 1, gen_random_uuid(), 'dead', now() - interval '1 second')",
            (slot,),
        )
    agent = ContinuousIntelligence(database, clients, clock=lambda: slot)
    outcome = agent.run(LIMITS, triggered_by="cron", wait_seconds=5)
    assert outcome.did_work
    assert outcome.attempts == 2
    assert outcome.status != "running"


def test_the_periodic_job_runs_every_thirty_minutes(
    database: Database, clients: LLMClients
) -> None:
    job = periodic_job(database, clients, LIMITS)
    assert (job.name, job.every, job.run) == (
        "intelligence.continuous",
        timedelta(minutes=30),
        None,
    )


def test_a_pass_keeps_the_agents_health_for_tenants_it_passed_or_found_nothing_due(
    database: Database, agent: ContinuousIntelligence, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    with_customer = tenant_factory("Health busy")
    add_customer(database, with_customer, "Busy Co")
    empty = tenant_factory("Health idle")
    later = datetime.now(UTC) + timedelta(hours=2)  # past the rule's interval and grace
    for tenant in (with_customer, empty):
        with database.tenant_transaction(tenant) as conn:
            assert _intelligence_health(conn, tenant, later).state == "late"

    assert agent.run(LIMITS, triggered_by="system").status == "completed"

    for tenant in (with_customer, empty):
        with database.tenant_transaction(tenant) as conn:
            health = _intelligence_health(conn, tenant, datetime.now(UTC))
        assert health.state == "ok"
        assert health.last_success_at is not None
    with database.tenant_transaction(empty) as conn:
        row = conn.execute(
            "SELECT status, output_data FROM autonomous_tasks "
            "WHERE task_type = 'continuous_intelligence_update'"
        ).fetchone()
    assert row is not None
    assert (row["status"], row["output_data"]["customers_due"]) == ("completed", 0)


def test_the_health_rules_of_the_worker_and_of_the_api_agree() -> None:
    assert [(j.task_type, j.name, j.every, j.grace) for j in health.default_jobs()] == [
        (j.task_type, j.name, j.every, j.grace) for j in scheduled_jobs(Intervals())
    ]
    assert health.INTELLIGENCE_JOB.name == JOB


def _intelligence_health(conn: Connection, tenant: uuid.UUID, now: datetime) -> health.JobHealth:
    (rule,) = [
        h
        for h in health.tenant_health(conn, tenant, now=now)
        if h.task_type == "continuous_intelligence_update"
    ]
    return rule
