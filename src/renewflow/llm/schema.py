"""Checking a value against a step's outputs schema (JSON Schema, Draft 2020-12), safely for
schemas a tenant writes.

`validate` is what the engine checks every LLM answer (and every person's or processor's outputs)
against before its repair retry: it returns `path: problem` lines (`$.risk.score: above the
maximum 1`) that the repair prompt quotes, never raises. The checking is `jsonschema_rs`'s (see
docs/architecture.md, "Hand-written parts, and why"), hardened because the schema is tenant input:

- no `$ref` leaves the schema: a retriever refuses every URI, so nothing is fetched from the network
  or read from disk (`http://`, `file://`, a relative URI against an `$id`);
- regular expressions (`pattern`) are ECMA-262 on the linear-time `regex` engine, which refuses
  lookaround and backreferences, so no pattern can hang a worker;
- `format` is an annotation (the 2020-12 default), as the providers treat it;
- the answer must be plain JSON no deeper than `MAX_DEPTH` (a NaN, a set, a 20,000-deep list would
  otherwise be turned into null, refused with an exception, or overflow the native stack);
- at most `MAX_ERRORS` lines come back, however broken the answer;
- a schema that does not compile (a bad `pattern`, an unknown `type` name, a `$ref` that does not
  resolve or points outside) gives one `$: the schema cannot be used: ...` line, not an exception:
  to the engine it is a step that fails with that reason, not a 500.

Compiled validators are kept in a bounded LRU cache keyed by the schema's canonical JSON.

`schema_problems` is the check when a workflow is saved: everything above plus the keywords renewflow
supports (`SUPPORTED_KEYWORDS`, what the mock provider generates for and the providers' structured
outputs accept), so an unsupported keyword is refused at save time instead of surprising at run
time. `resolve_ref` resolves a local `$ref` for the mock provider's generator.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import jsonschema_rs

MAX_ERRORS = 20
MAX_DEPTH = 128  # of the answer's objects and arrays: far beyond any step's outputs
_CACHE_SIZE = 1024
_LONGEST = 300  # characters of one problem line (an enum of 500 options stays readable)

SUPPORTED_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "$ref",
        "$defs",
        "definitions",
    }
)
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "format",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$comment",
        "$schema",
    }
)
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")


def validate(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Every way `instance` breaks `schema` (at most `MAX_ERRORS`), as `path: problem` lines;
    empty when valid. A schema that cannot be used gives `$: the schema cannot be used: ...`."""
    compiled = _compiled_for(schema)
    if not isinstance(compiled, jsonschema_rs.Validator):
        return [_short(f"$: the schema cannot be used: {problem}") for problem in compiled]
    refused = _not_plain_json(instance)
    if refused is not None:
        return [refused]
    lines: list[str] = []
    try:
        for error in compiled.iter_errors(instance):
            lines.extend(_short(line) for line in _lines(error, instance))
            if len(lines) >= MAX_ERRORS:
                break
    except ValueError as error:  # a value the library cannot read, past `_not_plain_json`
        return [f"$: cannot be checked: {error}"]
    return lines[:MAX_ERRORS]


def schema_problems(schema: Any) -> list[str]:
    """Why a tenant-authored schema cannot be used, as `#/json/pointer: problem` lines (empty when
    it can): it does not compile, a `$ref` leaves the schema or does not resolve, or a keyword is
    outside `SUPPORTED_KEYWORDS` and `ANNOTATIONS`."""
    if not isinstance(schema, dict):
        return ["#: a schema must be an object"]
    compiled = _compiled_for(schema)
    if compiled == (_NOT_JSON,):
        return [_NOT_JSON]
    keywords, refs = _walk(schema)
    problems = [*refs, *keywords]
    # the walk names a bad `$ref` more precisely (and where it is) than the library does
    if not isinstance(compiled, jsonschema_rs.Validator) and not refs:
        problems = [*compiled, *problems]
    return problems


def resolve_ref(root: dict[str, Any], ref: str) -> dict[str, Any]:
    """The schema a local `$ref` (`#`, `#/$defs/name`) points at; ValueError for anything else."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref are supported, not {ref!r}")
    node: Any = root
    for raw in ref[2:].split("/"):
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise ValueError(f"$ref {ref!r} does not resolve")
    if not isinstance(node, dict):
        raise ValueError(f"$ref {ref!r} does not point at a schema")
    return node


# -- compiling ------------------------------------------------------------------------------------

_NOT_JSON = "#: the schema is not plain JSON (or nests too deeply)"


def _compiled_for(schema: Any) -> jsonschema_rs.Validator | tuple[str, ...]:
    try:
        key = json.dumps(
            schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError, RecursionError):
        return (_NOT_JSON,)
    return _compile(key)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile(canonical: str) -> jsonschema_rs.Validator | tuple[str, ...]:
    """The validator for one schema's canonical JSON, or why there is none. A failure is cached
    too: a broken schema is not recompiled for every answer."""
    refused: list[str] = []

    def retrieve(uri: str) -> Any:
        refused.append(uri)
        raise ValueError(f"{uri} is outside the schema")

    try:
        return jsonschema_rs.Draft202012Validator(
            json.loads(canonical),
            validate_formats=False,
            retriever=retrieve,
            pattern_options=jsonschema_rs.RegexOptions(),
        )
    except jsonschema_rs.ValidationError as error:  # the schema breaks the meta-schema, or a $ref
        if refused:
            return (f"#: $ref to {refused[0]!r} refused: {_LOCAL_ONLY}",)
        return (_compile_problem(error),)
    except ValueError as error:  # e.g. "Recursion limit reached" for a schema nested too deeply
        return (f"#: {_short(str(error))}",)


_LOCAL_ONLY = "only local references (#/$defs/...) are allowed"


def _compile_problem(error: jsonschema_rs.ValidationError) -> str:
    where = _pointer(error.instance_path)
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Referencing):
        return f"{where}: $ref does not resolve: {kind.error.message}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Format) and kind.format == "regex":
        return (
            f"{where}: {json.dumps(error.instance)} is not a regular expression renewflow accepts "
            "(ECMA-262 without lookaround or backreferences, so that it runs in linear time)"
        )
    if error.instance_path and error.instance_path[-1] == "type":
        return f"{where}: {json.dumps(error.instance)} is not a type: use {', '.join(_TYPES)}"
    return f"{where}: {error.message}"


# -- the answer -----------------------------------------------------------------------------------


def _not_plain_json(value: Any) -> str | None:
    """Why `value` is not a plain JSON value within `MAX_DEPTH` (None when it is), without
    recursion. The path is only built for the value at fault."""
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 0, ())]
    while stack:
        node, depth, at = stack.pop()
        if isinstance(node, dict):
            if depth >= MAX_DEPTH:
                return f"{_path(at)}: nests deeper than {MAX_DEPTH} levels"
            for name, item in node.items():
                if not isinstance(name, str):
                    return f"{_path(at)}: a property name that is not a string ({name!r})"
                stack.append((item, depth + 1, (*at, name)))
        elif isinstance(node, list):
            if depth >= MAX_DEPTH:
                return f"{_path(at)}: nests deeper than {MAX_DEPTH} levels"
            stack.extend((item, depth + 1, (*at, i)) for i, item in enumerate(node))
        elif isinstance(node, float):
            if not math.isfinite(node):
                return f"{_path(at)}: {node} is not a JSON number"
        elif node is not None and not isinstance(node, str | int):
            return f"{_path(at)}: a {type(node).__name__} is not a JSON value"
    return None


def _path(parts: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _pointer(parts: Any) -> str:
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "#" + "".join(f"/{p}" for p in escaped)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _one_of(error: jsonschema_rs.ValidationError) -> str:
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.OneOfMultipleValid):
        matches = sum(not errors for errors in kind.context)
        return f"matches {matches} of oneOf, not exactly one"
    return "matches 0 of oneOf, not exactly one"


def _contains(error: jsonschema_rs.ValidationError) -> str:
    keyword = error.schema_path[-1] if error.schema_path else "contains"
    if keyword == "contains":
        return "has no item that matches 'contains'"
    return f"has a number of items matching 'contains' outside its {keyword}"


_K = jsonschema_rs.ValidationErrorKind
# The library's errors in our words (the wording the repair prompt and the API have always used);
# a kind not listed keeps the library's message.
_MESSAGES: dict[type[Any], Callable[[Any, jsonschema_rs.ValidationError], list[str]]] = {
    _K.Type: lambda k, e: [f"expected {' or '.join(k.types)}, got {_describe(e.instance)}"],
    _K.Required: lambda k, e: [f"missing required property {k.property!r}"],
    _K.AdditionalProperties: lambda k, e: [f"unexpected property {n!r}" for n in k.unexpected],
    _K.UnevaluatedProperties: lambda k, e: [f"unexpected property {n!r}" for n in k.unexpected],
    _K.Enum: lambda k, e: [f"must be one of {_json(k.options)}"],
    _K.Constant: lambda k, e: [f"must be {_json(k.expected_value)}"],
    _K.Minimum: lambda k, e: [f"below the minimum {k.limit}"],
    _K.Maximum: lambda k, e: [f"above the maximum {k.limit}"],
    _K.ExclusiveMinimum: lambda k, e: [f"must be above {k.limit}"],
    _K.ExclusiveMaximum: lambda k, e: [f"must be below {k.limit}"],
    _K.MultipleOf: lambda k, e: [f"not a multiple of {k.multiple_of}"],
    _K.MinLength: lambda k, e: [f"shorter than {k.limit} characters"],
    _K.MaxLength: lambda k, e: [f"longer than {k.limit} characters"],
    _K.Pattern: lambda k, e: [f"does not match {k.pattern!r}"],
    _K.MinItems: lambda k, e: [f"needs at least {k.limit} items"],
    _K.MaxItems: lambda k, e: [f"allows at most {k.limit} items"],
    _K.UniqueItems: lambda k, e: ["items must be unique"],
    _K.MinProperties: lambda k, e: [f"needs at least {k.limit} properties"],
    _K.MaxProperties: lambda k, e: [f"allows at most {k.limit} properties"],
    _K.Contains: lambda k, e: [_contains(e)],
    _K.AnyOf: lambda k, e: ["matches none of anyOf"],
    _K.OneOfNotValid: lambda k, e: [_one_of(e)],
    _K.OneOfMultipleValid: lambda k, e: [_one_of(e)],
    _K.Not: lambda k, e: ["must not match the 'not' schema"],
    _K.FalseSchema: lambda k, e: ["no value is allowed here"],
}


def _lines(error: jsonschema_rs.ValidationError, instance: Any) -> list[str]:
    path = _path(error.instance_path)
    if _no_properties_allowed(error):
        # the library's shortcut for `additionalProperties: false` beside no `properties`: one
        # error, at the object, for the first property's value; every property is unexpected
        node = instance
        for part in error.instance_path:
            node = node[part]
        if isinstance(node, dict):
            return [f"{path}: unexpected property {name!r}" for name in node]
    render = _MESSAGES.get(type(error.kind))
    messages = render(error.kind, error) if render is not None else [error.message]
    return [f"{path}: {message}" for message in messages]


def _no_properties_allowed(error: jsonschema_rs.ValidationError) -> bool:
    return isinstance(
        error.kind, jsonschema_rs.ValidationErrorKind.FalseSchema
    ) and error.schema_path[-1:] == ["additionalProperties"]


def _short(line: str) -> str:
    return line if len(line) <= _LONGEST else line[: _LONGEST - 1] + "…"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    for kind, name in ((float, "number"), (str, "string"), (list, "array"), (dict, "object")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


# -- the supported subset -------------------------------------------------------------------------

_SCHEMA_MAPS = ("properties", "$defs", "definitions")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf")
_SCHEMA_VALUES = ("items", "additionalProperties", "not")


def _walk(root: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Keywords outside the subset, and `$ref`s that leave the schema or do not resolve, walking
    only where the subset puts schemas (a property named `contains` is not a keyword)."""
    problems: list[str] = []
    refs: list[str] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(root, ())]
    while stack:
        node, at = stack.pop()
        if not isinstance(node, dict):
            continue  # `true`/`false`, or a non-schema the compiler already refused
        where = _pointer(at)
        for keyword in sorted(node):
            value = node[keyword]
            if keyword == "$ref":
                refs.extend(_ref_problem(root, node, where))
            elif keyword == "$schema":
                if at or str(value).rstrip("#") != DRAFT_2020_12:
                    problems.append(f"{where}: $schema must be {DRAFT_2020_12!r}, at the top only")
            elif keyword not in SUPPORTED_KEYWORDS and keyword not in ANNOTATIONS:
                problems.append(
                    f"{where}: the keyword {keyword!r} is not supported "
                    "(renewflow supports the subset listed in docs/llm.md)"
                )
            elif keyword in _SCHEMA_MAPS and isinstance(value, dict):
                stack.extend((sub, (*at, keyword, name)) for name, sub in value.items())
            elif keyword in _SCHEMA_LISTS and isinstance(value, list):
                stack.extend((sub, (*at, keyword, i)) for i, sub in enumerate(value))
            elif keyword in _SCHEMA_VALUES:
                stack.append((value, (*at, keyword)))
    return sorted(problems), sorted(refs)


def _ref_problem(root: dict[str, Any], node: dict[str, Any], where: str) -> list[str]:
    """A `$ref` that leaves the schema, does not resolve, or leads into a cycle of `$ref`s (which
    constrains nothing, and which the mock provider would follow forever)."""
    ref = node["$ref"]
    if not isinstance(ref, str) or not ref.startswith("#"):
        return [f"{where}: $ref to {ref!r} refused: {_LOCAL_ONLY}"]
    seen = {id(node)}
    target: Any = node
    try:
        while isinstance(target, dict) and isinstance(target.get("$ref"), str):
            target = resolve_ref(root, target["$ref"])
            if id(target) in seen:
                return [f"{where}: $ref {ref!r} leads into a cycle of $refs (it allows anything)"]
            seen.add(id(target))
    except ValueError as error:
        if target is node:
            return [f"{where}: {error}"]
    return []
