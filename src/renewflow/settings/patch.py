"""JSON Merge Patch (RFC 7396) and the dotted keys a change touches."""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396, section 2: an object merges member by member, `null` removes a member, any
    other value replaces what was there (arrays included)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def leaves(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of a JSON document by its dotted key (an array is a leaf; an empty object has
    none, as if absent)."""
    if isinstance(doc, dict):
        found: dict[str, Any] = {}
        for key, value in doc.items():
            found.update(leaves(value, f"{prefix}.{key}" if prefix else str(key)))
        return found
    return {prefix: doc} if prefix else {}


def changed_keys(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The dotted keys whose value differs between two documents. A secret counts as one key
    (`secrets.<name>`), whatever in its envelope changed."""
    old, new = leaves(_secrets_whole(before)), leaves(_secrets_whole(after))
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def _secrets_whole(doc: dict[str, Any]) -> dict[str, Any]:
    secrets = doc.get("secrets")
    if not isinstance(secrets, dict):
        return doc
    return {
        **doc,
        "secrets": {name: repr(sorted(dict(value).items())) for name, value in secrets.items()},
    }


def nest(pairs: dict[str, Any]) -> dict[str, Any]:
    """`{"notifications.smtp.port": 25}` as the merge patch `{"notifications": {"smtp": {"port":
    25}}}` (the CLI's `set KEY=VALUE`)."""
    patch: dict[str, Any] = {}
    for dotted, value in pairs.items():
        parts = dotted.split(".")
        node = patch
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"{dotted}: {part} is set to a value and to an object")
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise ValueError(f"{dotted}: set to a value and to an object")
        node[parts[-1]] = value
    return patch
