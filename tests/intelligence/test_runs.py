"""Runs of a slot through the agent itself (as the worker's periodic job calls it)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from renewflow.db import Database
from renewflow.intelligence import ContinuousIntelligence, PassLimits, periodic_job
from renewflow.llm import LLMClients
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
