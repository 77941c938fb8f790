"""NUL characters (U+0000): PostgreSQL text and jsonb cannot hold them, so input is checked for
them before it reaches the database, and the error names where the character is."""

from __future__ import annotations

from typing import Any

MESSAGE = "must not contain NUL characters (\\u0000)"

Location = tuple[str | int, ...]


def find_nul(value: Any, loc: Location = ()) -> Location | None:
    """The location (keys and indexes, after `loc`) of the first string in `value` holding a NUL,
    a dict key included; None if there is none."""
    if isinstance(value, str):
        return loc if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                return loc
            found = find_nul(item, (*loc, key))
            if found is not None:
                return found
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = find_nul(item, (*loc, index))
            if found is not None:
                return found
    return None
