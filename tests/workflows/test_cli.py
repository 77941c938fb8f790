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
            "severity": "error",
        },
        {
            "file": str(path),
            "path": "steps[0].routing.routes[0].nextStep",
            "message": 'no step named "escalate"',
            "severity": "error",
        },
    ]


def spec_keyed(tmp_path: Path) -> Path:
    data = config()
    data["steps"][1]["conditional"] = "{{customer.hasAccountPlan}}"
    path = tmp_path / "spec-keyed.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


SPEC_KEY_WARNING = (
    'steps[1].conditional: warning: "conditional" is the spec\'s name for "condition": read as '
    'steps[1].condition; write "condition" instead'
)


def test_validate_prints_warnings_on_stderr_and_exits_0(tmp_path: Path) -> None:
    path = spec_keyed(tmp_path)
    result = run("validate", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"{path}: {SPEC_KEY_WARNING}"]
    assert result.stdout == "all workflows are valid\n"


def test_validate_json_output_marks_warnings(tmp_path: Path) -> None:
    path = spec_keyed(tmp_path)
    result = run("validate", "--json", str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "file": str(path),
            "path": "steps[1].conditional",
            "message": SPEC_KEY_WARNING.split(": warning: ", 1)[1],
            "severity": "warning",
        }
    ]


def test_warnings_and_errors_together_exit_1(tmp_path: Path) -> None:
    spec_keyed(tmp_path)
    broken(tmp_path)
    result = run("validate", str(tmp_path))
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 2
    assert len(result.stderr.splitlines()) == 1


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


def _tenant(url: str) -> str:
    from renewflow import accounts
    from renewflow.db import Database

    with Database(url, max_size=1) as database, database.service_transaction() as conn:
        return str(accounts.create_tenant(conn, "CLI tenant")["id"])


def test_import_then_export_round_trip(make_database: Callable[[], str], tmp_path: Path) -> None:
    url = make_database()
    Migrator(url).migrate()
    assert run("seed", url=url).returncode == 0
    tenant = _tenant(url)
    source = tmp_path / "in"
    source.mkdir()
    (source / "sample.yaml").write_text(yaml.safe_dump(config()), encoding="utf-8")
    override = yaml.safe_load((LIBRARY / "critical.yaml").read_text(encoding="utf-8"))
    override["description"] = "Our critical playbook."
    (source / "critical.json").write_text(json.dumps(override), encoding="utf-8")

    imported = run("import", str(source), "--tenant", tenant, url=url)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == "workflows: 2 created, 0 updated, 0 unchanged\n"
    again = run("import", str(source), "--tenant", tenant, "--message", "again", url=url)
    assert again.stdout == "workflows: 0 created, 0 updated, 2 unchanged\n"

    one = run("export", "critical", "--tenant", tenant, "--format", "json", url=url)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["description"] == "Our critical playbook."

    out = tmp_path / "out"
    everything = run("export", "--tenant", tenant, "--output", str(out), url=url)
    assert everything.returncode == 0, everything.stderr
    files = sorted(p.name for p in out.iterdir())
    assert "sample.yaml" in files
    assert len(files) == 9  # the 8 core workflows (critical overridden) and sample
    exported = yaml.safe_load((out / "sample.yaml").read_text(encoding="utf-8"))
    assert list(exported)[:4] == ["id", "name", "description", "version"]
    assert yaml.safe_load((out / "critical.yaml").read_text(encoding="utf-8")) == json.loads(
        one.stdout
    )
    # exported files import back unchanged
    back = run("import", str(out), "--tenant", tenant, url=url)
    assert back.returncode == 0, back.stderr
    assert back.stdout == "workflows: 7 created, 0 updated, 2 unchanged\n"


def test_import_maps_spec_keys_with_a_warning(
    make_database: Callable[[], str], tmp_path: Path
) -> None:
    url = make_database()
    Migrator(url).migrate()
    tenant = _tenant(url)
    path = spec_keyed(tmp_path)
    imported = run("import", str(path), "--tenant", tenant, url=url)
    assert imported.returncode == 0, imported.stderr
    assert imported.stderr.splitlines() == [f"{path}: {SPEC_KEY_WARNING}"]
    assert imported.stdout == "workflows: 1 created, 0 updated, 0 unchanged\n"
    exported = json.loads(
        run("export", "sample", "--tenant", tenant, "--format", "json", url=url).stdout
    )
    assert exported["steps"][1]["condition"] == "{{customer.hasAccountPlan}}"
    assert "conditional" not in exported["steps"][1]


def test_import_of_an_invalid_file_imports_nothing(
    make_database: Callable[[], str], tmp_path: Path
) -> None:
    url = make_database()
    Migrator(url).migrate()
    tenant = _tenant(url)
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(config(id="good")), encoding="utf-8")
    bad = broken(tmp_path)
    result = run("import", str(tmp_path), "--tenant", tenant, url=url)
    assert result.returncode == 1
    assert f"{bad}: trigger.daysUntilRenewal: min (5) is greater than max (1)" in result.stderr
    assert result.stderr.endswith("renewflow: error: 2 validation error(s): nothing imported\n")
    listed = run("export", "good", "--tenant", tenant, url=url)
    assert listed.returncode == 1
    assert listed.stderr == 'renewflow: error: no workflow "good"\n'


def test_export_arguments_are_checked(make_database: Callable[[], str]) -> None:
    url = make_database()
    Migrator(url).migrate()
    tenant = _tenant(url)
    bad_format = run("export", "x", "--tenant", tenant, "--format", "xml", url=url)
    assert bad_format.returncode == 2
    assert bad_format.stderr == "renewflow: error: --format: must be yaml or json (got 'xml')\n"
    bad_tenant = run("export", "x", "--tenant", "nope", url=url)
    assert bad_tenant.returncode == 2
    assert run("export", "--tenant", tenant, url=url).stderr == (
        "renewflow: error: --output: 0 workflows: name one, or give a directory\n"
    )


def test_serve_migrates_and_seeds_on_start(make_database: Callable[[], str]) -> None:
    import time

    import httpx

    from renewflow.db import connect
    from tests.api.conftest import free_port

    url = make_database()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url}
    process = subprocess.Popen(
        [sys.executable, "-m", "renewflow", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "serve exited early"
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.2)
        with connect(url) as conn:
            row = conn.execute("SELECT count(*) AS n FROM workflows WHERE is_core").fetchone()
        assert row is not None
        assert row["n"] == 8
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "core workflows: 8 inserted, 0 updated, 0 unchanged" in output
