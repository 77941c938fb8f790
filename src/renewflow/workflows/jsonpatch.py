"""RFC 6902 JSON Patch between two JSON documents (the diff of two workflow versions).

`diff(a, b)` returns operations that turn `a` into `b`: `apply(a, diff(a, b)) == b` for any JSON
values (a property test checks it). Objects are compared key by key; arrays keep their common
prefix and suffix and compare the middle element by element, so editing one step of a workflow
yields patches under `/steps/<i>/...` instead of replacing the whole list. Only `add`, `remove`
and `replace` are produced; `apply` implements those and `test` (enough to check our own output,
not a general-purpose patch library).
"""

from __future__ import annotations

import copy
from typing import Any

Operation = dict[str, Any]


class PatchError(ValueError):
    """A patch cannot be applied to the document (a missing path, a bad index, a failed test)."""


def escape(segment: str) -> str:
    """One JSON Pointer reference segment (RFC 6901): `~` -> `~0`, `/` -> `~1`."""
    return segment.replace("~", "~0").replace("/", "~1")


def unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def diff(source: Any, target: Any) -> list[Operation]:
    """The operations turning `source` into `target` (empty when they are equal)."""
    operations: list[Operation] = []
    _diff(source, target, "", operations)
    return operations


def same(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1`, `1` is `1.0`, and containers compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _diff(source: Any, target: Any, path: str, out: list[Operation]) -> None:
    if same(source, target):
        return
    if isinstance(source, dict) and isinstance(target, dict):
        # Keys in sorted order: PostgreSQL's jsonb does not keep the order they were written in.
        for key in sorted(source):
            if key not in target:
                out.append({"op": "remove", "path": f"{path}/{escape(key)}"})
        for key in sorted(target):
            value = target[key]
            child = f"{path}/{escape(key)}"
            if key in source:
                _diff(source[key], value, child, out)
            else:
                out.append({"op": "add", "path": child, "value": copy.deepcopy(value)})
        return
    if isinstance(source, list) and isinstance(target, list):
        _diff_lists(source, target, path, out)
        return
    out.append({"op": "replace", "path": path, "value": copy.deepcopy(target)})


def _diff_lists(source: list[Any], target: list[Any], path: str, out: list[Operation]) -> None:
    shortest = min(len(source), len(target))
    prefix = 0
    while prefix < shortest and same(source[prefix], target[prefix]):
        prefix += 1
    suffix = 0
    while suffix < shortest - prefix and same(source[-1 - suffix], target[-1 - suffix]):
        suffix += 1
    old = source[prefix : len(source) - suffix]
    new = target[prefix : len(target) - suffix]
    # The middle elements pair up by position; indexes stay valid because nothing before them
    # moves, and the surplus is removed from the highest index down (or inserted in order).
    for i in range(min(len(old), len(new))):
        _diff(old[i], new[i], f"{path}/{prefix + i}", out)
    for i in range(len(old) - 1, len(new) - 1, -1):
        out.append({"op": "remove", "path": f"{path}/{prefix + i}"})
    for i in range(len(old), len(new)):
        out.append({"op": "add", "path": f"{path}/{prefix + i}", "value": copy.deepcopy(new[i])})


def apply(document: Any, patch: list[Operation]) -> Any:
    """`document` with `patch` applied (a copy: the argument is not changed)."""
    result = copy.deepcopy(document)
    for index, operation in enumerate(patch):
        try:
            result = _apply_one(result, operation)
        except PatchError as error:
            raise PatchError(f"operation {index} ({operation.get('op')}): {error}") from None
    return result


def _segments(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"{pointer!r} is not a JSON Pointer")
    return [unescape(segment) for segment in pointer[1:].split("/")]


def _index(container: list[Any], segment: str, *, allow_end: bool) -> int:
    if segment == "-" and allow_end:
        return len(container)
    if not segment.isdigit() or (segment != "0" and segment.startswith("0")):
        raise PatchError(f"{segment!r} is not an array index")
    index = int(segment)
    if index > len(container) or (index == len(container) and not allow_end):
        raise PatchError(f"index {index} is out of range")
    return index


def _apply_one(document: Any, operation: Operation) -> Any:
    op = operation.get("op")
    segments = _segments(str(operation.get("path", "")))
    if op == "test":
        if not same(_get(document, segments), operation.get("value")):
            raise PatchError("test failed")
        return document
    if op not in ("add", "remove", "replace"):
        raise PatchError(f"unsupported operation {op!r}")
    if not segments:
        if op == "remove":
            raise PatchError("cannot remove the whole document")
        return copy.deepcopy(operation["value"])
    parent = _get(document, segments[:-1])
    last = segments[-1]
    if isinstance(parent, dict):
        if op != "add" and last not in parent:
            raise PatchError(f"no member {last!r}")
        if op == "remove":
            del parent[last]
        else:
            parent[last] = copy.deepcopy(operation["value"])
    elif isinstance(parent, list):
        index = _index(parent, last, allow_end=op == "add")
        if op == "add":
            parent.insert(index, copy.deepcopy(operation["value"]))
        elif op == "remove":
            del parent[index]
        else:
            parent[index] = copy.deepcopy(operation["value"])
    else:
        raise PatchError("the parent is not an object or an array")
    return document


def _get(document: Any, segments: list[str]) -> Any:
    node = document
    for segment in segments:
        if isinstance(node, dict):
            if segment not in node:
                raise PatchError(f"no member {segment!r}")
            node = node[segment]
        elif isinstance(node, list):
            node = node[_index(node, segment, allow_end=False)]
        else:
            raise PatchError(f"cannot descend into a scalar at {segment!r}")
    return node
