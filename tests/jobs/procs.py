"""Processors for the queue tests. Workers started as subprocesses load them with
`--processor effect=tests.jobs.procs:record_effect`."""

from __future__ import annotations

import os
import time

from renewflow.db import Connection
from renewflow.tasks import ProcessorRegistry, ProcessorResult, Task
from renewflow.tasks.processors.builtin import BUILTINS

EFFECTS_TABLE = """
CREATE TABLE test_effects (
  task_id uuid NOT NULL,
  pid integer NOT NULL,
  attempt integer NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp()
);
GRANT SELECT, INSERT ON test_effects TO renewflow_app;
"""


def _effect(task: Task, conn: Connection) -> None:
    conn.execute(
        "INSERT INTO test_effects (task_id, pid, attempt) VALUES (%s, %s, %s)",
        (task.id, os.getpid(), task.attempts),
    )


def record_effect(task: Task, conn: Connection, /) -> ProcessorResult:
    """One row in test_effects per run that commits; sleeps `metadata.sleep` seconds first (only
    on the first `metadata.sleep_attempts` attempts, if given)."""
    sleep = task.metadata.get("sleep")
    if sleep and task.attempts <= int(task.metadata.get("sleep_attempts", 1_000)):
        time.sleep(float(sleep))
    _effect(task, conn)
    return ProcessorResult.ok(pid=os.getpid())


def flaky(task: Task, conn: Connection, /) -> ProcessorResult:
    """Writes its effect, then fails (retryably) until attempt `metadata.succeed_on`."""
    _effect(task, conn)
    if task.attempts < int(task.metadata.get("succeed_on", 1_000)):
        return ProcessorResult.fail(f"CRM timeout on attempt {task.attempts}", retryable=True)
    return ProcessorResult.ok(attempt=task.attempts)


def refuse(task: Task, conn: Connection, /) -> ProcessorResult:
    _effect(task, conn)
    return ProcessorResult.fail("the CRM rejected the record", retryable=False)


def explode(task: Task, conn: Connection, /) -> ProcessorResult:
    _effect(task, conn)
    raise RuntimeError("boom")


def registry() -> ProcessorRegistry:
    return ProcessorRegistry(
        BUILTINS | {"effect": record_effect, "flaky": flaky, "refuse": refuse, "explode": explode}
    )
