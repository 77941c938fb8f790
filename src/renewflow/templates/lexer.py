"""Tokenizer mirroring handlebars.js's `handlebars.l`, rule for rule and in the same order.

Rule order matters exactly as in jison (first match wins, not longest), which is why, for
example, `{{elsewhere}}` lexes as `{{else` + `where` there and here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from .errors import TemplateSyntaxError


class Token(NamedTuple):
    kind: str
    value: str
    pos: int
    text: str


# Opening delimiters, tried in handlebars.l order; only valid where a `{{` starts.
_OPENERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("OPEN_RAW_BLOCK", r"\{\{\{\{"),
        ("OPEN_PARTIAL", r"\{\{~?>"),
        ("OPEN_PARTIAL_BLOCK", r"\{\{~?#>"),
        ("OPEN_BLOCK", r"\{\{~?#\*?"),
        ("OPEN_ENDBLOCK", r"\{\{~?/"),
        ("INVERSE", r"\{\{~?\^\s*~?\}\}"),
        ("INVERSE", r"\{\{~?\s*else\s*~?\}\}"),
        ("OPEN_INVERSE", r"\{\{~?\^"),
        ("OPEN_INVERSE_CHAIN", r"\{\{~?\s*else"),
        ("OPEN_UNESCAPED", r"\{\{~?\{"),
        ("OPEN", r"\{\{~?&"),
        ("COMMENT", r"\{\{~?!--[\s\S]*?--~?\}\}|\{\{~?!--()"),
        ("COMMENT", r"\{\{~?![\s\S]*?\}\}"),
        ("OPEN", r"\{\{~?\*?"),
    )
)

_LOOKAHEAD = r"(?=[=~}\s/.)|])"
_LITERAL_LOOKAHEAD = r"(?=[~}\s)])"
_ID_CHARS = r"[^\s!\"#%-,./;->@\[-\^`{-~]+"

_INNER: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("OPEN_SEXPR", r"\("),
        ("CLOSE_SEXPR", r"\)"),
        ("CLOSE_RAW_BLOCK", r"\}\}\}\}"),
        ("EQUALS", r"="),
        ("ID", r"\.\."),
        ("ID", r"\." + _LOOKAHEAD),
        ("SEP", r"[/.]"),
        ("SPACE", r"\s+"),
        ("CLOSE_UNESCAPED", r"\}~?\}\}"),
        ("CLOSE", r"~?\}\}"),
        ("STRING", r'"(?:\\"|[^"])*"'),
        ("STRING", r"'(?:\\'|[^'])*'"),
        ("DATA", r"@"),
        ("BOOLEAN", r"(?:true|false)" + _LITERAL_LOOKAHEAD),
        ("UNDEFINED", r"undefined" + _LITERAL_LOOKAHEAD),
        ("NULL", r"null" + _LITERAL_LOOKAHEAD),
        ("NUMBER", r"-?[0-9]+(?:\.[0-9]+)?" + _LITERAL_LOOKAHEAD),
        ("OPEN_BLOCK_PARAMS", r"as\s+\|"),
        ("CLOSE_BLOCK_PARAMS", r"\|"),
        ("ID", _ID_CHARS + _LOOKAHEAD),
        ("ID", r"\[(?:\\\]|[^\]])*\]"),
    )
)

_ENDS_MUSTACHE = frozenset({"CLOSE", "CLOSE_UNESCAPED"})
_BRACKET_ESCAPE = re.compile(r"\\([\\\]])")


def _escaped_content_end(source: str, start: int) -> int:
    """End of the text after `\\{{`: at least two characters, then the next (escaped) `{{`."""
    j = source.find("{{", start + 2)
    if j < 0:
        return len(source)
    for k in (j - 2, j - 1):
        if k >= start + 2 and source.startswith("\\" * (j - k), k):
            return k
    return j


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    append = tokens.append
    pos = 0
    end = len(source)
    while pos < end:
        i = source.find("{{", pos)
        if i < 0:
            append(Token("CONTENT", source[pos:], pos, source[pos:]))
            break
        text = source[pos:i]
        if text.endswith("\\\\"):
            text = text[:-1]
        elif text.endswith("\\"):
            if len(text) > 1:
                append(Token("CONTENT", text[:-1], pos, text[:-1]))
            stop = _escaped_content_end(source, i)
            append(Token("CONTENT", source[i:stop], i, source[i:stop]))
            pos = stop
            continue
        if text:
            append(Token("CONTENT", text, pos, text))
        pos = _mustache(source, i, append)
    append(Token("EOF", "", end, ""))
    return tokens


def _mustache(source: str, pos: int, emit: Callable[[Token], None]) -> int:
    """Lex one `{{ ... }}` starting at `pos`; returns the offset after it."""
    for kind, pattern in _OPENERS:
        m = pattern.match(source, pos)
        if m is None:
            continue
        text = m.group(0)
        if kind == "COMMENT" and m.lastindex == 1:
            raise TemplateSyntaxError("unterminated comment: expected '--}}'", source, pos)
        emit(Token(kind, text, pos, text))
        pos = m.end()
        if kind in ("COMMENT", "INVERSE"):
            return pos
        break
    end = len(source)
    while True:
        if pos >= end:
            raise TemplateSyntaxError("unclosed mustache: expected '}}'", source, pos)
        if source.startswith("{{", pos):
            raise TemplateSyntaxError("unexpected '{{' inside a mustache", source, pos)
        for kind, pattern in _INNER:
            m = pattern.match(source, pos)
            if m is None:
                continue
            text = m.group(0)
            if kind != "SPACE":
                value = text
                if kind == "STRING":
                    quote = text[0]
                    value = text[1:-1].replace("\\" + quote, quote)
                elif kind == "ID" and text.startswith("["):
                    value = _BRACKET_ESCAPE.sub(r"\1", text)
                emit(Token(kind, value, pos, text))
            pos = m.end()
            if kind in _ENDS_MUSTACHE:
                return pos
            break
        else:
            raise TemplateSyntaxError(f"unexpected character {source[pos]!r}", source, pos)
