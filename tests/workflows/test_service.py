"""Tenant workflows in SQL, as the app role: the spec's helper functions, revisions, drafts,
import and export, on a seeded database of this module's own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from renewflow import accounts
from renewflow.db import Connection, Database, Migrator
from renewflow.errors import InvalidInputError
from renewflow.workflows import WorkflowConfig, service
from renewflow.workflows.errors import (
    ValidationFailed,
    WorkflowConflict,
    WorkflowNotFound,
    WorkflowReadOnly,
)
from renewflow.workflows.files import core_library, load_config
from renewflow.workflows.seed import seed_core
from tests.workflows.factory import config as sample_config
from tests.workflows.factory import step
from tests.workflows.test_vocabulary import SPEC_EXAMPLE, SPEC_KEYS, keys_anywhere, spec_example


@pytest.fixture(scope="module")
def seeded(make_database: Callable[[], str]) -> Iterator[Database]:
    url = make_database()
    Migrator(url).migrate()
    with Database(url, max_size=4) as database:
        with database.service_transaction() as conn:
            seed_core(conn, core_library())
        yield database


@pytest.fixture
def tenant(seeded: Database) -> uuid.UUID:
    with seeded.service_transaction() as conn:
        tenant_id: uuid.UUID = accounts.create_tenant(conn, f"S {uuid.uuid4().hex[:6]}")["id"]
    return tenant_id


def with_branches() -> dict[str, object]:
    data = sample_config()
    data["steps"] = [
        step(
            "assess",
            chatBranches=[
                {
                    "id": "go",
                    "label": "Let's do it",
                    "type": "fixed",
                    "userPrompts": ["Proceed", "Yes"],
                    "responseText": "Great, {{csm.name}}.",
                    "nextStep": "act",
                },
                {"id": "ask", "label": "Ask", "type": "llm", "llmHandler": "renewal-qa"},
            ],
        ),
        step("act"),
    ]
    return data


def test_get_tenant_workflows_resolves_overrides(seeded: Database, tenant: uuid.UUID) -> None:
    core_ids = sorted(c.id for c in core_library())
    with seeded.tenant_transaction(tenant) as conn:
        before = conn.execute(
            "SELECT workflow_id, is_core FROM get_tenant_workflows(%s)", (tenant,)
        ).fetchall()
        critical = conn.execute(
            "SELECT config FROM workflows WHERE workflow_id = 'critical'"
        ).fetchone()
        assert critical is not None
        service.create_workflow(
            conn, tenant, None, workflow_id="critical", config=critical["config"]
        )
        service.create_workflow(conn, tenant, None, workflow_id="sample", config=sample_config())
        after = conn.execute(
            "SELECT workflow_id, is_core, tenant_id, overrides_core FROM get_tenant_workflows(%s)",
            (tenant,),
        ).fetchall()
        one = conn.execute("SELECT is_core FROM get_workflow('critical', %s)", (tenant,)).fetchall()
    assert sorted(r["workflow_id"] for r in before) == core_ids
    assert all(r["is_core"] for r in before)
    by_id = {r["workflow_id"]: r for r in after}
    assert sorted(by_id) == sorted([*core_ids, "sample"])
    assert len(after) == len(by_id)
    assert by_id["critical"]["tenant_id"] == tenant
    assert by_id["critical"]["overrides_core"] is True
    assert by_id["sample"]["overrides_core"] is False
    assert by_id["overdue"]["is_core"] is True
    assert one == [{"is_core": False}]


def test_helpers_run_with_the_callers_rights(seeded: Database, tenant: uuid.UUID) -> None:
    with seeded.owner_connection() as conn:
        rows = conn.execute(
            "SELECT proname, prosecdef FROM pg_proc WHERE proname IN"
            " ('get_tenant_workflows', 'get_workflow', 'get_step_chat_branches')"
        ).fetchall()
    assert sorted(rows, key=lambda r: r["proname"]) == [
        {"proname": "get_step_chat_branches", "prosecdef": False},
        {"proname": "get_tenant_workflows", "prosecdef": False},
        {"proname": "get_workflow", "prosecdef": False},
    ]


def test_step_chat_branches_come_from_the_config_then_the_table(
    seeded: Database, tenant: uuid.UUID
) -> None:
    with seeded.tenant_transaction(tenant) as conn:
        service.create_workflow(conn, tenant, None, workflow_id="sample", config=with_branches())
        conn.execute(
            "INSERT INTO workflow_chat_branches (tenant_id, workflow_id, from_step_id, branch_id,"
            " branch_label, branch_type) VALUES (%s, 'sample', 'assess', 'go', 'shadowed', 'fixed'),"
            " (%s, 'sample', 'assess', 'rag-help', 'Search', 'rag')",
            (tenant, tenant),
        )
        rows = conn.execute(
            "SELECT branch_id, branch_label, branch_type, user_prompts, response_text,"
            " next_step_id, llm_handler, allow_off_script, source"
            " FROM get_step_chat_branches('sample', 'assess')"
        ).fetchall()
        none = conn.execute("SELECT * FROM get_step_chat_branches('sample', 'act')").fetchall()
    assert rows == [
        {
            "branch_id": "go",
            "branch_label": "Let's do it",
            "branch_type": "fixed",
            "user_prompts": ["Proceed", "Yes"],
            "response_text": "Great, {{csm.name}}.",
            "next_step_id": "act",
            "llm_handler": None,
            "allow_off_script": False,
            "source": "config",
        },
        {
            "branch_id": "ask",
            "branch_label": "Ask",
            "branch_type": "llm",
            "user_prompts": [],
            "response_text": None,
            "next_step_id": None,
            "llm_handler": "renewal-qa",
            "allow_off_script": False,
            "source": "config",
        },
        {
            "branch_id": "rag-help",
            "branch_label": "Search",
            "branch_type": "rag",
            "user_prompts": None,
            "response_text": None,
            "next_step_id": None,
            "llm_handler": None,
            "allow_off_script": False,
            "source": "table",
        },
    ]
    assert none == []


def test_another_tenants_branches_and_workflows_stay_invisible(
    seeded: Database, tenant: uuid.UUID
) -> None:
    with seeded.service_transaction() as conn:
        other: uuid.UUID = accounts.create_tenant(conn, "Other")["id"]
    with seeded.tenant_transaction(tenant) as conn:
        service.create_workflow(conn, tenant, None, workflow_id="sample", config=with_branches())
    with seeded.tenant_transaction(other) as conn:
        branches = conn.execute(
            "SELECT * FROM get_step_chat_branches('sample', 'assess')"
        ).fetchall()
        with pytest.raises(WorkflowNotFound):
            service.list_versions(conn, other, "sample")
    assert branches == []


def test_every_update_bumps_the_revision(seeded: Database, tenant: uuid.UUID) -> None:
    with seeded.tenant_transaction(tenant) as conn:
        first = service.create_workflow(
            conn, tenant, None, workflow_id="sample", config=sample_config()
        )
        draft = service.save_draft(
            conn,
            tenant,
            None,
            workflow_id="sample",
            draft={"id": "sample"},
            expected=service.ETag.of(first),
        )
        published_over = conn.execute(
            "UPDATE workflows SET name = 'Renamed' WHERE id = %s RETURNING revision", (first["id"],)
        ).fetchone()
    assert first["revision"] == 1
    assert draft["revision"] == 2
    assert published_over == {"revision": 3}


def test_core_rows_hold_no_draft(seeded: Database) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match="workflows_core_has_no_draft"):
        with seeded.service_transaction() as conn:
            conn.execute(
                "UPDATE workflows SET draft_config = %s WHERE workflow_id = 'critical'",
                (Jsonb({}),),
            )


def test_publish_and_rollback_need_the_tenants_own_row(seeded: Database, tenant: uuid.UUID) -> None:
    with seeded.tenant_transaction(tenant) as conn:
        with pytest.raises(WorkflowReadOnly, match='"critical" is a core workflow'):
            service.publish(conn, tenant, workflow_id="critical")
        with pytest.raises(WorkflowNotFound, match='no workflow "nope"'):
            service.rollback(conn, tenant, workflow_id="nope", version=1)


def test_import_creates_updates_and_skips_unchanged(seeded: Database, tenant: uuid.UUID) -> None:
    sample = WorkflowConfig.model_validate(sample_config())
    critical = next(c for c in core_library() if c.id == "critical")
    with seeded.tenant_transaction(tenant) as conn:
        first = service.import_configs(conn, tenant, [sample, critical])
        again = service.import_configs(conn, tenant, [sample, critical])
        changed = sample.model_copy(update={"description": "Changed."})
        third = service.import_configs(conn, tenant, [changed], change_description="tweak")
        versions = service.list_versions(conn, tenant, "sample")
        exported = service.export_configs(conn, tenant, ["sample", "overdue"])
        everything = service.export_configs(conn, tenant)
    assert (first.created, first.updated, first.unchanged) == (["sample", "critical"], [], [])
    assert (again.created, again.updated, again.unchanged) == ([], [], ["sample", "critical"])
    assert (third.created, third.updated) == ([], ["sample"])
    assert [(v["version"], v["change_description"]) for v in versions] == [
        (1, "imported"),
        (2, "tweak"),
    ]
    assert [c["id"] for c in exported] == ["sample", "overdue"]
    assert exported[0]["description"] == "Changed."
    assert len(everything) == len(core_library()) + 1


def test_import_refuses_a_duplicate_id(seeded: Database, tenant: uuid.UUID) -> None:
    sample = WorkflowConfig.model_validate(sample_config())
    with pytest.raises(ValidationFailed, match='workflow "sample" is imported twice'):
        with seeded.tenant_transaction(tenant) as conn:
            service.import_configs(conn, tenant, [sample, sample])


def test_etag_parsing() -> None:
    row_id = uuid.uuid4()
    tag = service.ETag(row_id, 7)
    assert service.ETag.parse(str(tag)) == tag
    for bad in ("7", f'W/"{row_id}:7"', f'"{row_id}:0"', '"x:1"', "*"):
        with pytest.raises(InvalidInputError, match=r"header\.If-Match"):
            service.ETag.parse(bad)


def test_validation_failed_lists_every_error() -> None:
    error = ValidationFailed([("a", "one"), ("b", "two")])
    assert error.errors == [("a", "one"), ("b", "two")]
    assert str(error) == "2 validation errors: a: one; b: two"
    assert (error.field, error.reason) == ("a", "one")
    with pytest.raises(ValueError, match="at least one"):
        ValidationFailed([])


def test_a_stale_etag_is_a_conflict(seeded: Database, tenant: uuid.UUID) -> None:
    with seeded.tenant_transaction(tenant) as conn:
        row = service.create_workflow(
            conn, tenant, None, workflow_id="sample", config=sample_config()
        )
        stale = service.ETag(row["id"], row["revision"] + 1)
        with pytest.raises(WorkflowConflict, match="changed since you read it"):
            service.save_draft(conn, tenant, None, workflow_id="sample", draft={}, expected=stale)


# --- the spec's key names -----------------------------------------------------------------------


def spec_keyed() -> dict[str, Any]:
    data = sample_config()
    data["steps"][1]["conditional"] = "{{customer.hasAccountPlan}}"
    return data


def stored_config(conn: Connection, tenant: uuid.UUID, column: str = "config") -> Any:
    query = {
        "config": "SELECT config AS c FROM workflows WHERE tenant_id = %s AND workflow_id = 'sample'",
        "draft": "SELECT draft_config AS c FROM workflows WHERE tenant_id = %s AND workflow_id = 'sample'",
    }[column]
    row = conn.execute(query, (tenant,)).fetchone()
    assert row is not None
    return row["c"]


def test_create_stores_spec_keys_under_ours_and_returns_the_warnings(
    seeded: Database, tenant: uuid.UUID
) -> None:
    with seeded.tenant_transaction(tenant) as conn:
        row = service.create_workflow(conn, tenant, None, workflow_id="sample", config=spec_keyed())
        stored = stored_config(conn, tenant)
        version = service.get_version(conn, tenant, "sample", 1)
    assert [(w.path, w.severity) for w in row["warnings"]] == [("steps[1].conditional", "warning")]
    assert stored["steps"][1]["condition"] == "{{customer.hasAccountPlan}}"
    assert "conditional" not in stored["steps"][1]
    assert version["config"] == stored


def test_create_refuses_both_names_on_one_object(seeded: Database, tenant: uuid.UUID) -> None:
    both = spec_keyed()
    both["steps"][1]["condition"] = "{{customer.tier}}"
    with pytest.raises(ValidationFailed) as raised:
        with seeded.tenant_transaction(tenant) as conn:
            service.create_workflow(conn, tenant, None, workflow_id="sample", config=both)
    assert raised.value.errors == [
        (
            "body.config.steps[1].conditional",
            'use one of "conditional" (the spec\'s name) or "condition", not both',
        )
    ]


def test_a_draft_is_stored_under_our_keys_and_publishes_without_spec_keys(
    seeded: Database, tenant: uuid.UUID
) -> None:
    with seeded.tenant_transaction(tenant) as conn:
        row = service.create_workflow(
            conn, tenant, None, workflow_id="sample", config=sample_config()
        )
        assert row["warnings"] == []
        draft = spec_keyed()
        draft["steps"][0]["conditionalLogic"] = {"defaultRoute": "act"}
        saved = service.save_draft(
            conn, tenant, None, workflow_id="sample", draft=draft, expected=service.ETag.of(row)
        )
        stored_draft = stored_config(conn, tenant, "draft")
        published = service.publish(conn, tenant, workflow_id="sample")
        stored = stored_config(conn, tenant)
    assert [w.path for w in saved["warnings"]] == [
        "steps[0].conditionalLogic",
        "steps[1].conditional",
    ]
    assert stored_draft["steps"][0]["routing"] == {"defaultRoute": "act"}
    assert stored_draft["steps"][1]["condition"] == "{{customer.hasAccountPlan}}"
    assert published["warnings"] == []
    assert published["current_version"] == 2
    assert stored["steps"][0]["routing"] == {"defaultRoute": "act", "routes": []}


def test_the_spec_example_imports_through_the_service(seeded: Database, tenant: uuid.UUID) -> None:
    written = spec_example()
    with seeded.tenant_transaction(tenant) as conn:
        first = service.import_configs(conn, tenant, [written])
        stored = service.get_workflow(conn, tenant, "critical")
        loaded = load_config(SPEC_EXAMPLE.read_text(encoding="utf-8"), SPEC_EXAMPLE.name)
        again = service.import_configs(conn, tenant, [loaded])
    assert first.created == ["critical"]
    assert [w.path for w in first.warnings] == [
        "critical.steps[1].conditional",
        "critical.steps[2].conditionalLogic",
        "critical.notifications[1].conditional",
    ]
    assert stored["is_core"] is False
    assert stored["overrides_core"] is True
    assert stored["config"]["steps"][0]["type"] == "conditional_routing"
    assert keys_anywhere(stored["config"]) & SPEC_KEYS == set()
    assert again.unchanged == ["critical"]
    assert again.warnings == []


def test_an_invalid_config_given_as_data_imports_nothing(
    seeded: Database, tenant: uuid.UUID
) -> None:
    bad = spec_example()
    bad["steps"][2]["conditionalLogic"]["routes"][0]["condition"] = "{{outputs.nowhere.done}}"
    with pytest.raises(ValidationFailed) as raised:
        with seeded.tenant_transaction(tenant) as conn:
            service.import_configs(conn, tenant, [sample_config(), bad])
    assert raised.value.errors == [
        (
            "critical.steps[2].conditionalLogic.routes[0].condition",
            '"outputs.nowhere.done" reads the outputs of no step named "nowhere"',
        )
    ]
    with seeded.tenant_transaction(tenant) as conn:
        with pytest.raises(WorkflowNotFound):
            service.list_versions(conn, tenant, "sample")
