"""A small valid workflow config for tests to break one rule at a time."""

from __future__ import annotations

from typing import Any


def step(step_id: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": step_id,
        "name": step_id.replace("-", " ").title(),
        "type": "analysis",
        "description": f"The {step_id} step.",
        "execution": {
            "llmPrompt": "Review {{customer.name}}.",
            "outputs": {
                "type": "object",
                "properties": {"risk": {"type": "string"}, "score": {"type": "integer"}},
            },
        },
    }
    data.update(extra)
    return data


def config(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "sample",
        "name": "Sample",
        "description": "A sample workflow.",
        "version": "1.0.0",
        "trigger": {"daysUntilRenewal": {"min": 10, "max": 20}},
        "context": {"systemPrompt": "You help {{csm.name}} renew {{customer.name}}."},
        "steps": [step("assess"), step("act")],
        "notifications": [
            {
                "id": "started",
                "type": "in_app",
                "title": "{{customer.name}} renewal",
                "message": "{{workflow.daysUntilRenewal}} days to go.",
                "recipients": ["{{csm.email}}"],
            }
        ],
    }
    data.update(extra)
    return data
