"""Named SQL queries kept in `.sql` files, one section per query (`-- name: query_name`)."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import LiteralString, cast

_SECTION = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
# A query's own comment stays in the file: the server (pg_stat_statements, its logs) and the
# tracing spans, named after a statement's first word, see the statement.
_LEADING_COMMENTS = re.compile(r"\A(?:--[^\n]*\n\s*)+")


@cache
def load_queries(package: str, filename: str = "queries.sql") -> dict[str, LiteralString]:
    """Reads `filename` from `package` into a dict of query name to SQL text.

    The files ship with the package, so their text is as trusted as the code: that is what makes
    the `LiteralString` cast honest. Parameters are always bound, never formatted in.
    """
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    queries: dict[str, LiteralString] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{package}/{filename}: query {name!r} is defined twice")
        queries[name] = cast(LiteralString, _LEADING_COMMENTS.sub("", body.strip()))  # type: ignore[redundant-cast]  # mypy reads LiteralString as str
    return queries
