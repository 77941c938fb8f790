"""Turning stored workflows into work: the trigger sweep (more to come: executions, steps)."""

from renewflow.engine.sweep import SweepResult, sweep

__all__ = ["SweepResult", "sweep"]
