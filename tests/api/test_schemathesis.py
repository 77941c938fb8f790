"""Every operation of /openapi.json, fuzzed by schemathesis against the real server: no input
gets a 5xx, and every response matches the documented status, content type and schema.

The run is bounded (examples per operation, a fixed seed: the same run every time, well under
two minutes) and goes through all four phases: examples, coverage (boundary values of every
documented constraint, and just past them), fuzzing, and stateful (chains of calls through the
links schemathesis infers, e.g. create a task, then complete it). It authenticates with the
admin key of a fresh tenant holding a customer, an execution and a task, so paths with ids reach
real rows instead of 404s. RENEWFLOW_SCHEMATHESIS_SEED and RENEWFLOW_SCHEMATHESIS_EXAMPLES
explore further.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from renewflow.config import load_settings
from renewflow.db import Database
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core
from tests.api.conftest import bearer, serve_in_thread

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
SEED = os.environ.get("RENEWFLOW_SCHEMATHESIS_SEED", "20261201")
EXAMPLES = os.environ.get("RENEWFLOW_SCHEMATHESIS_EXAMPLES", "50")


def _seed_rows(api_url: str, key: str) -> dict[str, str]:
    """A customer with a contract, usage, a contact and intelligence; an execution of Prepare on
    its first step; a task. Their ids become the path parameters of the run."""
    with httpx.Client(base_url=api_url, headers=bearer(key), timeout=30) as http:

        def ok(response: httpx.Response) -> dict[str, Any]:
            assert response.status_code < 300, response.text
            body: dict[str, Any] = response.json() if response.content else {}
            return body

        renewal = (date.today() + timedelta(days=130)).isoformat()
        customer = ok(
            http.post(
                "/api/customers",
                json={
                    "name": "Fuzz Co",
                    "arr": 120000,
                    "renewalDate": renewal,
                    "csmEmail": "csm@fuzz.example",
                },
            )
        )
        customer_id = customer["id"]
        ok(http.put(f"/api/customers/{customer_id}/intelligence", json={"riskScore": 40}))
        ok(
            http.post(
                f"/api/customers/{customer_id}/usage",
                json=[{"metricName": "users", "metricDate": date.today().isoformat(), "value": 9}],
            )
        )
        ok(http.post(f"/api/customers/{customer_id}/contacts", json={"name": "Pat Lee"}))
        execution = ok(
            http.post(
                "/api/workflows/from-template",
                json={"customerId": customer_id, "workflowId": "prepare"},
            )
        )
        task = ok(
            http.post(
                "/api/workflows/tasks",
                json={
                    "workflow_execution_id": execution["id"],
                    "customer_id": customer_id,
                    "task_type": "CSM_TASK",
                    "owner": "CSM",
                    "action": "Call the champion",
                    "description": "Before the QBR",
                    "priority": 2,
                },
            )
        )
        me = ok(http.get("/api/me"))
    return {
        "customer_id": customer_id,
        "execution_id": execution["id"],
        "step_id": execution["currentStepId"],
        "task_id": task["id"],
        "user_id": me["user_id"],
        "workflow_id": "prepare",
    }


@pytest.fixture
def api_url(database: Database) -> Iterator[str]:
    """A server of its own, with every optional endpoint configured: the cron endpoint without
    a secret answers 503 by design, which schemathesis would count as a server error."""
    cron_secret = SecretStr(secrets.token_hex(16))  # overrides are set as they are, unvalidated
    yield from serve_in_thread(database, settings=load_settings(cron_secret=cron_secret))


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    api_url: str,
    database: Database,
    tenant_factory: Callable[..., uuid.UUID],
    make_key: Callable[..., tuple[uuid.UUID, str]],
    tmp_path: Path,
) -> None:
    with database.service_transaction() as conn:
        seed_core(conn, core_library())
    _, key = make_key(tenant_factory("Schemathesis"), "admin")
    parameters = _seed_rows(api_url, key)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[parameters]\n"
        + "".join(f'"path.{name}" = "{value}"\n' for name, value in parameters.items())
    )
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{api_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        EXAMPLES,
        "--seed",
        SEED,
        "--generation-database",
        "none",
        "--request-timeout",
        "20",
        # one worker: CPython 3.11.7's ast.parse is not thread-safe (gh-106905), and hypothesis
        # parses lambdas while describing strategies
        "--workers",
        "1",
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=170, check=False
    )
    report = result.stdout + result.stderr
    assert "Operations:       " in report, report[-5000:]
    assert result.returncode == 0, report[-20000:]
