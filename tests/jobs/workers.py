"""Worker subprocesses for the tests and the stress tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_worker(url: str, *args: str, name: str = "w") -> subprocess.Popen[bytes]:
    """`renewflow worker` against `url`, with the test processors registered."""
    command = [
        sys.executable,
        "-m",
        "renewflow",
        "worker",
        "--name",
        name,
        "--no-plugins",
        "--processor",
        "effect=tests.jobs.procs:record_effect",
        "--log-level",
        "warning",
        *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env["DATABASE_URL"] = url
    return subprocess.Popen(command, cwd=ROOT, env=env)


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> float:
    """Polls until `condition()`; returns the seconds it took or fails the test."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
    return time.monotonic() - started


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> int:
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(5)
