"""The mock provider: deterministic, offline, and schema-valid.

The same request always gets the same answer: every value is derived from a SHA-256 of the request
(system and user prompt, model and schema) and of the value's path in the output, so different
prompts give different answers and the same prompt gives the same one across processes.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from renewflow.llm.errors import LLMBadResponse
from renewflow.llm.models import LLMRequest, LLMResponse
from renewflow.llm.schema import resolve_ref

_FORMATS = {
    "date": "2026-01-{day:02d}",
    "date-time": "2026-01-{day:02d}T09:00:00Z",
    "email": "contact-{tag}@example.com",
    "uri": "https://example.com/{tag}",
    "uuid": "{uuid}",
}


class MockProvider:
    """Answers without a network. See `LLMProvider` for the contract."""

    name = "mock"
    # answers in this process, without a network: nothing to release a connection for
    in_process = True

    def __init__(self, default_model: str = "mock") -> None:
        self.default_model = default_model

    def close(self) -> None:
        pass

    def complete(self, request: LLMRequest) -> LLMResponse:
        model = request.model or self.default_model
        seed = hashlib.sha256(
            json.dumps(
                [request.system, request.prompt, model, request.json_schema],
                sort_keys=True,
                ensure_ascii=False,
            ).encode("utf-8")
        ).hexdigest()
        parsed: Any = None
        if request.json_schema is not None:
            try:
                parsed = generate(request.json_schema, seed)
            except ValueError as error:
                raise LLMBadResponse(f"mock: cannot answer this schema: {error}") from None
            text = json.dumps(parsed, ensure_ascii=False)
        else:
            text = f"Mock answer {seed[:12]}."
        return LLMResponse(
            text=text,
            model=model,
            parsed=parsed,
            input_tokens=_tokens(request.system) + _tokens(request.prompt),
            output_tokens=_tokens(text),
            latency_ms=0,
            finish_reason="stop",
            provider=self.name,
        )


def generate(schema: dict[str, Any], seed: str) -> Any:
    """A value valid against `schema` (the subset in `renewflow.llm.schema`), fixed by `seed`.

    Objects get every listed property (required ones always), enums a stable member, numbers a
    value within their bounds, arrays 1-2 items (within minItems/maxItems), strings a readable
    token derived from the seed. `pattern` is not generated for: such strings may not match it.
    """
    return _Generator(schema, seed).value(schema, "$", depth=0)


class _Generator:
    def __init__(self, root: dict[str, Any], seed: str) -> None:
        self.root = root
        self.seed = seed

    def _hash(self, path: str) -> int:
        digest = hashlib.sha256(f"{self.seed}|{path}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def value(self, schema: Any, path: str, depth: int) -> Any:
        if depth > 32:
            raise ValueError(f"{path}: schema nests too deeply (a recursive $ref?)")
        if schema is True or schema is None:
            schema = {}
        if schema is False:
            raise ValueError(f"{path}: no value is allowed")
        if "$ref" in schema:
            return self.value(resolve_ref(self.root, schema["$ref"]), path, depth + 1)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = schema["enum"]
            if not options:
                raise ValueError(f"{path}: empty enum")
            return options[self._hash(path) % len(options)]
        if schema.get("allOf"):
            return self.value(_merge(schema), path, depth + 1)
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                # The first alternative is stable; oneOf's alternatives are expected to be disjoint.
                rest = {k: v for k, v in schema.items() if k != key}
                return self.value({**rest, **schema[key][0]}, path, depth + 1)
        kind = _kind(schema)
        generator = getattr(self, f"_{kind}")
        return generator(schema, path, depth)

    def _object(self, schema: dict[str, Any], path: str, depth: int) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        names = list(properties) + [n for n in schema.get("required", ()) if n not in properties]
        extra = schema.get("additionalProperties", True)
        return {
            name: self.value(
                properties.get(name, extra if isinstance(extra, dict) else {}),
                f"{path}.{name}",
                depth + 1,
            )
            for name in names
        }

    def _array(self, schema: dict[str, Any], path: str, depth: int) -> list[Any]:
        low = schema.get("minItems", 0)
        high = schema.get("maxItems", max(low, 2))
        count = min(max(1 + self._hash(path) % 2, low), high)
        items = schema.get("items", {})
        values: list[Any] = []
        seen: set[str] = set()
        index = 0
        while len(values) < count and index < count + 16:
            item = self.value(items, f"{path}[{index}]", depth + 1)
            index += 1
            key = json.dumps(item, sort_keys=True)
            if schema.get("uniqueItems") and key in seen:
                continue
            seen.add(key)
            values.append(item)
        if len(values) < low:
            raise ValueError(f"{path}: cannot make {low} distinct items")
        return values

    def _string(self, schema: dict[str, Any], path: str, depth: int) -> str:
        h = self._hash(path)
        tag = f"{h:016x}"[:8]
        fmt = _FORMATS.get(schema.get("format", ""))
        if fmt is not None:
            uuid = f"{h:032x}"[-32:]
            text = fmt.format(
                day=1 + h % 28,
                tag=tag,
                uuid=f"{uuid[:8]}-{uuid[8:12]}-4{uuid[13:16]}-8{uuid[17:20]}-{uuid[20:32]}",
            )
        else:
            label = path.rsplit(".", 1)[-1].split("[", 1)[0].strip("$") or "value"
            text = f"{label} {tag}"
        low = schema.get("minLength", 0)
        high = schema.get("maxLength")
        if len(text) < low:
            text = (text + " " + tag * (low // 8 + 1))[: max(low, len(text))]
            text = text.ljust(low, "x")
        if high is not None and len(text) > high:
            text = text[:high]
        return text

    def _integer(self, schema: dict[str, Any], path: str, depth: int) -> int:
        low, high = _bounds(schema, default=(0, 100))
        lo = math.floor(low) + 1 if _exclusive(schema, "min", low) else math.ceil(low)
        hi = math.ceil(high) - 1 if _exclusive(schema, "max", high) else math.floor(high)
        if lo > hi:
            raise ValueError(f"{path}: no integer within the bounds")
        return lo + self._hash(path) % (hi - lo + 1)

    def _number(self, schema: dict[str, Any], path: str, depth: int) -> float:
        low, high = _bounds(schema, default=(0.0, 100.0))
        if high < low:
            raise ValueError(f"{path}: no number within the bounds")
        fraction = (self._hash(path) % 1001) / 1000
        value = round(low + fraction * (high - low), 2)
        value = min(max(value, low), high)
        if _exclusive(schema, "min", low) and value <= low:
            value = low + (high - low) / 2
        if _exclusive(schema, "max", high) and value >= high:
            value = low + (high - low) / 2
        return float(value)

    def _boolean(self, schema: dict[str, Any], path: str, depth: int) -> bool:
        return self._hash(path) % 2 == 0

    def _null(self, schema: dict[str, Any], path: str, depth: int) -> None:
        return None


def _kind(schema: dict[str, Any]) -> str:
    types = schema.get("type")
    if isinstance(types, list):
        non_null = [t for t in types if t != "null"]
        return non_null[0] if non_null else "null"
    if isinstance(types, str):
        return types
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _bounds(schema: dict[str, Any], default: tuple[float, float]) -> tuple[float, float]:
    low: float | None = schema.get("minimum", schema.get("exclusiveMinimum"))
    high: float | None = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is None:
        if high is None:
            return default
        return min(default[0], float(high) - 100), float(high)
    if high is None:
        return float(low), max(default[1], float(low) + 100)
    return float(low), float(high)


def _exclusive(schema: dict[str, Any], side: str, bound: float) -> bool:
    key = "exclusiveMinimum" if side == "min" else "exclusiveMaximum"
    inclusive = "minimum" if side == "min" else "maximum"
    return key in schema and inclusive not in schema


def _merge(schema: dict[str, Any]) -> dict[str, Any]:
    """allOf folded into one schema: properties merged, required united, other keys overlaid."""
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _tokens(text: str) -> int:
    # about four characters per token, the usual rule of thumb for English
    return (len(text) + 3) // 4
