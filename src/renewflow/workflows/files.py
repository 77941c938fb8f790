"""Reading workflow configs from YAML/JSON files, and the core library shipped in the package.

A file may use the spec's names for our keys (`vocabulary.py`): they are reported as warnings and
the loaded config is in our vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from renewflow.workflows.errors import InvalidWorkflowError, WorkflowFileError
from renewflow.workflows.model import WorkflowConfig
from renewflow.workflows.validator import Severity, errors_in, validate_config
from renewflow.workflows.vocabulary import translate

SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True)
class FileIssue:
    file: str
    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        text = f"warning: {self.message}" if self.severity == "warning" else self.message
        return f"{self.file}: {self.path}: {text}" if self.path else f"{self.file}: {text}"

    def as_dict(self) -> dict[str, str]:
        return {
            "file": self.file,
            "path": self.path,
            "message": self.message,
            "severity": self.severity,
        }


def parse_document(text: str, name: str) -> Any:
    """The data in a workflow file: JSON for `.json`, else YAML (safe loader only)."""
    try:
        if name.endswith(".json"):
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise WorkflowFileError(
            f"{name}: not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or "cannot parse"
        raise WorkflowFileError(f"{name}: not valid YAML: {problem}{where}") from None


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given, and every workflow file under each directory (sorted)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        else:
            yield path


def validate_files(paths: Iterable[Path]) -> list[FileIssue]:
    """Every problem in the named files and directories, one `FileIssue` each: errors, and
    warnings (spec keys read as ours), which do not make a file invalid."""
    issues: list[FileIssue] = []
    seen_any = False
    for path in expand_paths(paths):
        seen_any = True
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            issues.append(FileIssue(name, "", f"cannot read: {error}"))
            continue
        try:
            data = parse_document(text, name)
        except WorkflowFileError as error:
            issues.append(FileIssue(name, "", str(error).removeprefix(f"{name}: ")))
            continue
        issues.extend(FileIssue(name, i.path, i.message, i.severity) for i in validate_config(data))
    if not seen_any:
        raise WorkflowFileError("no workflow files found (expected .yaml, .yml or .json)")
    return issues


def load_config(text: str, name: str) -> WorkflowConfig:
    """A validated config from a file's text, in our vocabulary (spec keys mapped; their warnings
    are `validate_files`'s to report); raises InvalidWorkflowError listing every error."""
    data = parse_document(text, name)
    errors = errors_in(validate_config(data))
    if errors:
        raise InvalidWorkflowError(name, list(errors))
    return WorkflowConfig.model_validate(translate(data).data)


def core_library() -> list[WorkflowConfig]:
    """The core workflows shipped in `renewflow/workflows/library`, sorted by id."""
    folder = resources.files("renewflow.workflows").joinpath("library")
    configs = [
        load_config(entry.read_text(encoding="utf-8"), f"library/{entry.name}")
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(SUFFIXES)
    ]
    return sorted(configs, key=lambda c: c.id)


def dump_document(config: Any, fmt: str) -> str:
    """A config as a workflow file's text: `json`, or `yaml` (keys in the config's own order)."""
    if fmt == "json":
        return json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    text: str = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
    return text
