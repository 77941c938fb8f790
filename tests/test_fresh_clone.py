"""The README's promise: a fresh clone runs with `make run` (slow: builds its own venv)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_make_run_on_a_fresh_clone_answers_readyz(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    clone = tmp_path / "renewflow"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    data_dir = tmp_path / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV")}
    env["RENEWFLOW_DATA_DIR"] = str(data_dir)
    tmp_path.chmod(0o755)  # the embedded server's system user must reach the data directory
    with (tmp_path / "run.log").open("w") as log:
        proc = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if response.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(2)
        else:
            pytest.fail("make run did not become ready:\n" + (tmp_path / "run.log").read_text())
        assert response.json()["status"] == "ready"
        log_text = (tmp_path / "run.log").read_text()
        assert "Authorization: Bearer" in log_text
        # the demo book, at the sign-in link the command printed
        link = re.search(r"(http://\S+/sign-in/link/rfl_\S+)", log_text)
        assert link, log_text
        with httpx.Client(timeout=10, trust_env=False) as browser:
            confirm = browser.get(link.group(1))
            assert confirm.status_code == 200
            token = re.search(r'name="form_token" value="([^"]+)"', confirm.text)
            assert token
            signed = browser.post(link.group(1), data={"form_token": token.group(1)})
            assert signed.status_code == 303
            book = browser.get(f"http://127.0.0.1:{port}/book")
            assert book.status_code == 200
            assert len(re.findall(r'href="/customers/', book.text)) == 50  # a full first page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
