"""`renewflow workflows ...` as a user runs it: real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from renewflow.db import Migrator
from renewflow.workflows.schema import schema_text
from tests.workflows.factory import config

LIBRARY = Path(__file__).resolve().parents[2] / "src" / "renewflow" / "workflows" / "library"


def run(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if url:
        env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "renewflow", "workflows", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def broken(tmp_path: Path) -> Path:
    data = config()
    data["steps"][0]["routing"] = {
        "routes": [{"condition": "{{customer.atRisk}}", "nextStep": "escalate"}],
        "defaultRoute": "act",
    }
    data["trigger"]["daysUntilRenewal"] = {"min": 5, "max": 1}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_validate_library_succeeds() -> None:
    result = run("validate", str(LIBRARY))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "all workflows are valid\n"


def test_validate_reports_one_line_per_error_and_exits_1(tmp_path: Path) -> None:
    path = broken(tmp_path)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(config()), encoding="utf-8")
    result = run("validate", str(path), str(good))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{path}: trigger.daysUntilRenewal: min (5) is greater than max (1)",
        f'{path}: steps[0].routing.routes[0].nextStep: no step named "escalate"',
    ]


def test_validate_json_output(tmp_path: Path) -> None:
    path = broken(tmp_path)
    result = run("validate", "--json", str(tmp_path))
    assert result.returncode == 1
    assert json.loads(result.stdout) == [
        {
            "file": str(path),
            "path": "trigger.daysUntilRenewal",
            "message": "min (5) is greater than max (1)",
        },
        {
            "file": str(path),
            "path": "steps[0].routing.routes[0].nextStep",
            "message": 'no step named "escalate"',
        },
    ]


def test_unparseable_and_missing_files_are_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed\n", encoding="utf-8")
    result = run("validate", str(bad))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{bad}: not valid YAML: ")
    assert len(result.stdout.splitlines()) == 1

    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("validate", str(empty))
    assert result.returncode == 1
    assert result.stderr == (
        "renewflow: error: no workflow files found (expected .yaml, .yml or .json)\n"
    )


def test_schema_command_prints_the_published_schema() -> None:
    result = run("schema")
    assert result.returncode == 0, result.stderr
    assert result.stdout == schema_text()


def test_seed_twice_through_the_cli(make_database: Callable[[], str]) -> None:
    url = make_database()
    Migrator(url).migrate()
    first = run("seed", url=url)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "core workflows: 8 inserted, 0 updated, 0 unchanged\n"
    second = run("seed", url=url)
    assert second.returncode == 0, second.stderr
    assert second.stdout == "core workflows: 0 inserted, 0 updated, 8 unchanged\n"
