"""The published JSON Schema text, generated from the model so that it cannot drift."""

from __future__ import annotations

import json

from renewflow.workflows.model import json_schema


def schema_text() -> str:
    """docs/workflow.schema.json exactly: sorted keys, two-space indent, final newline."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
