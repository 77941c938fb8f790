"""The spec's names for two of our keys, mapped onto ours wherever a config enters.

workflow-database-schema.md lists "Conditional logic (conditional, conditionalLogic)" as config
content. The config already has a key for each, used everywhere else (a notification's
`condition`, a step's `routing`), so we store ours and read the spec's as ours:

| spec key           | on             | ours        |
|--------------------|----------------|-------------|
| `conditional`      | a step         | `condition` |
| `conditional`      | a notification | `condition` |
| `conditionalLogic` | a step         | `routing` (same shape: `routes` of `{condition, nextStep}`, `defaultRoute`) |

Each mapping is a warning naming it, so authors learn our names; an object holding both the spec's
key and ours is an error, and is left as it is (nothing the author wrote is dropped). The validator,
the service and workflow files all go through `translate`, so a stored config never holds a spec key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from renewflow.workflows.validator import ValidationIssue

# For each list of the config: the spec's key -> ours, on each of its objects.
SPEC_KEYS: Mapping[str, Mapping[str, str]] = {
    "steps": {"conditional": "condition", "conditionalLogic": "routing"},
    "notifications": {"conditional": "condition"},
}


@dataclass(frozen=True, slots=True)
class Translation:
    """`data` in our vocabulary, what the mapping found (`issues`: a warning per key read as ours,
    an error per object holding both names), and where each mapped key came from."""

    data: Any
    issues: list[ValidationIssue] = field(default_factory=list)
    # The path of our key -> the path of the spec key it was read from.
    renamed: Mapping[str, str] = field(default_factory=dict)

    def spec_path(self, path: str) -> str:
        """A path in the translated config, as the author wrote it: a problem found under a mapped
        key (`steps[2].routing.defaultRoute`) is reported under the spec key
        (`steps[2].conditionalLogic.defaultRoute`)."""
        for ours, theirs in self.renamed.items():
            if path == ours or path.startswith((f"{ours}.", f"{ours}[")):
                return theirs + path[len(ours) :]
        return path


def translate(data: Any) -> Translation:
    """`data` with the spec's keys renamed to ours (a copy: `data` itself is not changed).
    Anything that is not shaped like a config is returned as it is, for the validator to report."""
    if not isinstance(data, dict):
        return Translation(data)
    issues: list[ValidationIssue] = []
    renamed: dict[str, str] = {}
    out = dict(data)
    for section, names in SPEC_KEYS.items():
        items = data.get(section)
        if isinstance(items, list):
            out[section] = [
                _rename(f"{section}[{i}]", item, names, issues, renamed)
                if isinstance(item, dict)
                else item
                for i, item in enumerate(items)
            ]
    if not renamed and not issues:
        return Translation(data)
    return Translation(out, issues, renamed)


def _rename(
    path: str,
    item: dict[str, Any],
    names: Mapping[str, str],
    issues: list[ValidationIssue],
    renamed: dict[str, str],
) -> dict[str, Any]:
    keys: dict[str, str] = {}
    for spec, ours in names.items():
        if spec not in item:
            continue
        where = f"{path}.{spec}"
        if ours in item:
            issues.append(
                ValidationIssue(
                    where, f'use one of "{spec}" (the spec\'s name) or "{ours}", not both'
                )
            )
            continue
        keys[spec] = ours
        renamed[f"{path}.{ours}"] = where
        issues.append(
            ValidationIssue(
                where,
                f'"{spec}" is the spec\'s name for "{ours}": read as {path}.{ours}; '
                f'write "{ours}" instead',
                severity="warning",
            )
        )
    if not keys:
        return item
    # Same position in the object, so a stored draft reads like the file it came from.
    return {keys.get(key, key): value for key, value in item.items()}
