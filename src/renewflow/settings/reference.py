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
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from renewflow.settings.model import COLUMNS, TenantSettings

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


def _kind(annotation: Any) -> str:
    schema = TypeAdapter(annotation).json_schema()
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
        bounds = [
            f"≥ {option['minimum']}" if "minimum" in option else "",
            f"> {option['exclusiveMinimum']}" if "exclusiveMinimum" in option else "",
            f"≤ {option['maximum']}" if "maximum" in option else "",
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
    return f"`{json.dumps(value)}`" if not isinstance(value, str) else f"`{value}`"


def _description(field: FieldInfo, model: type[BaseModel], name: str) -> str:
    text = field.description or ""
    if model is TenantSettings and name in COLUMNS:
        text += f" Stored in the column tenants.{COLUMNS[name]}."
    return " ".join(text.replace("|", "\\|").split())


def rows(model: type[BaseModel] = TenantSettings, prefix: str = "") -> list[tuple[str, ...]]:
    """(dotted key, type, default, description) of every setting, in the model's order."""
    found: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        inner = _model_of(field.annotation)
        mapped = _mapped_model(field.annotation)
        if name in OPAQUE and model is TenantSettings:
            found.append((key, "object", "—", _description(field, model, name)))
        elif inner is not None:
            if field.description:
                found.append((key, "object", "—", _description(field, model, name)))
            found.extend(rows(inner, f"{key}."))
        elif mapped is not None:
            found.append((f"{key}", "object", "—", _description(field, model, name)))
            found.extend(rows(mapped, f"{key}.<name>."))
        else:
            found.append(
                (key, _kind(field.annotation), _default(field), _description(field, model, name))
            )
    return found


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
