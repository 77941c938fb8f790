"""Turning stored workflows into work: the trigger sweep, executions, steps, notifications."""

from renewflow.engine.errors import EngineError, ExecutionConflict, ExecutionNotFound
from renewflow.engine.executions import (
    LoadedExecution,
    finish_execution,
    go_back,
    list_executions,
    load_execution,
    skip_step,
    start_execution,
    startable_workflows,
    step_history,
    steps_overview,
)
from renewflow.engine.limits import RunLimits
from renewflow.engine.runs import (
    TERMINAL as TERMINAL_RUN_STATES,
)
from renewflow.engine.runs import (
    RunAnswer,
    StepRunner,
    StepRunQueue,
    get_run,
    list_runs,
)
from renewflow.engine.schedule import fire_scheduled_notifications, run_schedule
from renewflow.engine.steps import StepOutcome, StepRequest
from renewflow.engine.sweep import SweepResult, sweep

__all__ = [
    "TERMINAL_RUN_STATES",
    "EngineError",
    "ExecutionConflict",
    "ExecutionNotFound",
    "LoadedExecution",
    "RunAnswer",
    "RunLimits",
    "StepOutcome",
    "StepRequest",
    "StepRunQueue",
    "StepRunner",
    "SweepResult",
    "finish_execution",
    "fire_scheduled_notifications",
    "get_run",
    "go_back",
    "list_executions",
    "list_runs",
    "load_execution",
    "run_schedule",
    "skip_step",
    "start_execution",
    "startable_workflows",
    "step_history",
    "steps_overview",
    "sweep",
]
