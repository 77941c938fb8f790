"""Workflows as versioned data: the config model, its validator, and the core library."""

from renewflow.workflows.model import WorkflowConfig, json_schema
from renewflow.workflows.validator import ValidationIssue, validate_config

__all__ = ["ValidationIssue", "WorkflowConfig", "json_schema", "validate_config"]
