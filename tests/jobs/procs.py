"""Processors for the queue tests. Workers started as subprocesses load them with
`--processor effect=tests.jobs.procs:record_effect`.

`test_effects` holds one row per task whose effect landed; `runs` counts the runs that wrote it.
The effect is an upsert keyed on the task, as a real processor's writes must be (a task runs at
least once), so the rows say "each effect exactly once" and `runs` says how often it was done.
"""

from __future__ import annotations

import os
import time

from renewflow.tasks import ProcessorContext, ProcessorRegistry, ProcessorResult, Task
from renewflow.tasks.processors.builtin import BUILTINS

EFFECTS_TABLE = """
CREATE TABLE test_effects (
  task_id uuid PRIMARY KEY,
  pid integer NOT NULL,
  attempt integer NOT NULL,
  runs integer NOT NULL DEFAULT 1,
  at timestamptz NOT NULL DEFAULT clock_timestamp()
);
GRANT SELECT, INSERT, UPDATE ON test_effects TO renewflow_app;
"""

_EFFECT = """
INSERT INTO test_effects (task_id, pid, attempt) VALUES (%s, %s, %s)
ON CONFLICT (task_id) DO UPDATE
SET pid = excluded.pid, attempt = excluded.attempt, runs = test_effects.runs + 1
"""


def _effect(task: Task, ctx: ProcessorContext) -> None:
    with ctx.transaction() as conn:
        conn.execute(_EFFECT, (task.id, os.getpid(), task.attempts))


def record_effect(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
    """Writes its effect; sleeps `metadata.sleep` seconds first (only on the first
    `metadata.sleep_attempts` attempts, if given), with nothing held."""
    sleep = task.metadata.get("sleep")
    if sleep and task.attempts <= int(task.metadata.get("sleep_attempts", 1_000)):
        time.sleep(float(sleep))
    _effect(task, ctx)
    return ProcessorResult.ok(pid=os.getpid())


def flaky(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
    """Writes its effect, then fails (retryably) until attempt `metadata.succeed_on`."""
    _effect(task, ctx)
    if task.attempts < int(task.metadata.get("succeed_on", 1_000)):
        return ProcessorResult.fail(f"CRM timeout on attempt {task.attempts}", retryable=True)
    return ProcessorResult.ok(attempt=task.attempts)


def refuse(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
    return ProcessorResult.fail("the CRM rejected the record", retryable=False)


def explode(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
    """Raises halfway through its transaction: the half it wrote rolls back."""
    with ctx.transaction() as conn:
        conn.execute(_EFFECT, (task.id, os.getpid(), task.attempts))
        raise RuntimeError("boom")


def registry() -> ProcessorRegistry:
    return ProcessorRegistry(
        BUILTINS | {"effect": record_effect, "flaky": flaky, "refuse": refuse, "explode": explode}
    )
