"""The settings reference of docs/administration.md, generated from the model so the two cannot
drift apart (tests/settings/test_reference.py fails when they do).

    python -m renewflow.settings.reference --write docs/administration.md
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from renewflow.settings.model import COLUMNS, EMAIL_PATTERN, TenantSettings

TABLE = ("<!-- settings-reference:start -->", "<!-- settings-reference:end -->")
SCHEMA = ("<!-- settings-schema:start -->", "<!-- settings-schema:end -->")
# Keys the reference shows as one row, whatever their inside (written by renewflow itself).
OPAQUE = {"demo", "secrets"}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _model_of(members[0])
    return None


def _mapped_model(annotation: Any) -> type[BaseModel] | None:
    """The value model of `dict[str, Model]` (the post-webhook endpoints)."""
    if typing.get_origin(annotation) is dict:
        return _model_of(typing.get_args(annotation)[1])
    return None


def _kind(field: FieldInfo) -> str:
    """The type of a setting as the docs show it, with the bounds the model checks."""
    # the field's own constraints too: they live on the FieldInfo, not on its annotation
    constraints = FieldInfo.merge_field_infos(field, default=None)
    constrained: Any = Annotated[field.annotation, constraints]
    schema = TypeAdapter(constrained).json_schema()
    options = schema.get("anyOf", [schema])
    parts = []
    nullable = False
    for option in options:
        if option.get("type") == "null":
            nullable = True
            continue
        if "enum" in option:
            parts.append(" \\| ".join(f"`{v}`" for v in option["enum"]))
            continue
        kind = option.get("type", "value")
        if option.get("format") in ("time", "date-time"):
            kind = f"{option['format']}"
        if option.get("pattern") == EMAIL_PATTERN:
            kind = "email address"
        elif option.get("pattern", "").startswith("(^#"):
            kind = "email address or #channel"
        bounds = [
            f"≥ {option['minimum']}" if "minimum" in option else "",
            f"> {option['exclusiveMinimum']}" if "exclusiveMinimum" in option else "",
            f"≤ {option['maximum']}" if "maximum" in option else "",
            f"at most {option['maxLength']} characters" if "maxLength" in option else "",
        ]
        shown = ", ".join(b for b in bounds if b)
        if kind == "object" and "additionalProperties" in option:
            inner = option["additionalProperties"]
            kind = f"object of {inner.get('type', 'values')}s" if isinstance(inner, dict) else kind
        parts.append(kind + (f" ({shown})" if shown else ""))
    text = " or ".join(parts) or "value"
    return text + (", or null" if nullable else "")


def _default(field: FieldInfo) -> str:
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        return "—"
    else:
        return "required"
    if value is None:
        return "—"
    return f"`{value}`" if isinstance(value, str) and value else f"`{json.dumps(value)}`"


# Fields of models outside this package (renewflow.llm) that carry no description of their own.
NOTES = {
    "llm.provider": "Which provider answers: mock (deterministic, no network), openai, "
    "anthropic, or any OpenAI-compatible server (base_url).",
    "llm.max_retries": "Retries of a call that timed out, was rate-limited or failed on the "
    "server's side.",
    "llm.backoff_base": "Seconds before the first retry; doubled each time.",
    "llm.backoff_max": "The longest pause between two retries, in seconds.",
    "llm.max_retry_after": "The longest Retry-After the client waits for, in seconds; a "
    "longer one fails the call.",
}


def _description(field: FieldInfo, model: type[BaseModel], name: str, key: str = "") -> str:
    text = field.description or NOTES.get(key, "")
    if model is TenantSettings and name in COLUMNS:
        text += f" Stored in the column tenants.{COLUMNS[name]}."
    return " ".join(text.replace("|", "\\|").split())


def _section(field: FieldInfo, inner: type[BaseModel]) -> str:
    """A section's row: its field's description, else the first paragraph of its class's."""
    text = field.description or (inner.__doc__ or "").split("\n\n")[0]
    return " ".join(text.replace("|", "\\|").split())


def rows(model: type[BaseModel] = TenantSettings, prefix: str = "") -> list[tuple[str, ...]]:
    """(dotted key, type, default, description) of every setting, in the model's order."""
    found: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        inner = _model_of(field.annotation)
        mapped = _mapped_model(field.annotation)
        if name in OPAQUE and model is TenantSettings:
            found.append((key, "object", "—", _description(field, model, name, key)))
        elif inner is not None:
            nullable = " or null" if _nullable(field) else ""
            found.append((key, f"object{nullable}", "—", _section(field, inner)))
            found.extend(rows(inner, f"{key}."))
        elif mapped is not None:
            found.append((f"{key}", "object", "—", _description(field, model, name, key)))
            found.extend(rows(mapped, f"{key}.<name>."))
        else:
            found.append(
                (key, _kind(field), _default(field), _description(field, model, name, key))
            )
    return found


def _nullable(field: FieldInfo) -> bool:
    return type(None) in typing.get_args(field.annotation)


def table() -> str:
    lines = ["| key | type | default | what |", "|---|---|---|---|"]
    lines += [f"| `{key}` | {kind} | {default} | {what} |" for key, kind, default, what in rows()]
    return "\n".join(lines)


def schema() -> str:
    document = TenantSettings.model_json_schema(mode="validation")
    return "```json\n" + json.dumps(document, indent=2, sort_keys=True) + "\n```"


def _replace(text: str, markers: tuple[str, str], body: str) -> str:
    start, end = markers
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    if not rest:
        raise ValueError(f"the markers {start} … {end} are missing")
    return f"{head}{start}\n{body}\n{end}{tail}"


def render(document: str) -> str:
    """`document` with its generated parts as the model has them now."""
    return _replace(_replace(document, TABLE, table()), SCHEMA, schema())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="The document whose generated parts to update.")
    args = parser.parse_args(argv)
    if args.write is None:
        sys.stdout.write(table() + "\n")
        return 0
    args.write.write_text(render(args.write.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
