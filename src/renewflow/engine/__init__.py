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
from renewflow.engine.schedule import fire_scheduled_notifications, run_schedule
from renewflow.engine.steps import StepOutcome, execute_step
from renewflow.engine.sweep import SweepResult, sweep

__all__ = [
    "EngineError",
    "ExecutionConflict",
    "ExecutionNotFound",
    "LoadedExecution",
    "StepOutcome",
    "SweepResult",
    "execute_step",
    "finish_execution",
    "fire_scheduled_notifications",
    "go_back",
    "list_executions",
    "load_execution",
    "run_schedule",
    "skip_step",
    "start_execution",
    "startable_workflows",
    "step_history",
    "steps_overview",
    "sweep",
]
