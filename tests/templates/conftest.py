"""Fixtures for the template tests: handlebars.js 4.7 in node, installed once per session."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

RUNNER = Path(__file__).with_name("hbs_runner.js")

RenderJs = Callable[[list[dict[str, Any]]], list[dict[str, str]]]


@pytest.fixture(scope="session")
def handlebars_js(tmp_path_factory: pytest.TempPathFactory) -> RenderJs:
    """Render a batch of cases with the real handlebars.js in a single node process."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to compare with handlebars.js; not on PATH")
    directory = tmp_path_factory.mktemp("handlebars-js")
    try:
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", "handlebars@4.7"],
            cwd=directory,
            check=True,
            capture_output=True,
            timeout=180,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"npm could not install handlebars@4.7: {error}")
    shutil.copy(RUNNER, directory / RUNNER.name)

    def render(cases: list[dict[str, Any]]) -> list[dict[str, str]]:
        source = directory / "cases.json"
        target = directory / "results.json"
        source.write_text(json.dumps(cases), encoding="utf-8")
        subprocess.run(
            [node, RUNNER.name, source.name, target.name],
            cwd=directory,
            check=True,
            timeout=120,
        )
        results: list[dict[str, str]] = json.loads(target.read_text(encoding="utf-8"))
        return results

    return render
