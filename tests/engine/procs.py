"""A process that runs one step and is killed between the LLM's answer and the step's finish.

`python -m tests.engine.procs DATABASE_URL TENANT USER EXECUTION STEP MARKER` runs the step with
a registry whose `renewflow.record-terms` (an `after` processor: it runs once the LLM answered and
its calls are recorded, before the finish) writes MARKER and then waits to be killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from uuid import UUID

from renewflow.db import Database
from renewflow.engine import RunLimits, StepRequest, StepRunner
from renewflow.llm import LLMClients
from renewflow.workflows.processors import (
    StepProcessorInput,
    StepProcessorRegistry,
    StepProcessorResult,
)
from renewflow.workflows.step_processors import BUILTINS

LEASE_SECONDS = 2.0


def main() -> None:
    url, tenant, user, execution, step, marker = sys.argv[1:7]

    def block(step_input: StepProcessorInput) -> StepProcessorResult:
        Path(marker).write_text("answered")
        time.sleep(600)
        return StepProcessorResult()

    block.phase = "after"  # type: ignore[attr-defined]
    processors = StepProcessorRegistry({**BUILTINS, "renewal.record-terms": block})  # type: ignore[dict-item]
    with Database(url, max_size=2) as database:
        runner = StepRunner(
            database,
            LLMClients(),
            processors=processors,
            limits=RunLimits(lease_seconds=LEASE_SECONDS),
        )
        runner.run(
            lambda: database.tenant_transaction(UUID(tenant), UUID(user)),
            execution_id=UUID(execution),
            step_id=step,
            request=StepRequest(actor_user_id=UUID(user), actor_role="manager"),
        )


if __name__ == "__main__":
    main()
