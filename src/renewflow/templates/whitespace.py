"""Whitespace control: `~` stripping and the standalone-line rules.

A direct port of handlebars.js's `WhitespaceControl` visitor, quirks included (for instance the
last inverse of an `else if` chain), because templates are shared with the JavaScript world and
must render byte for byte the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .nodes import Block, Comment, Content, Mustache, Partial, Program, Statement

_PREV_WS = re.compile(r"\r?\n\s*?\Z")
_PREV_WS_ROOT = re.compile(r"(?:^|\r?\n)\s*?\Z")
_NEXT_WS = re.compile(r"\A\s*?\r?\n")
_NEXT_WS_ROOT = re.compile(r"\A\s*?(?:\r?\n|\Z)")
_LEADING_ALL = re.compile(r"\A\s+")
_LEADING_LINE = re.compile(r"\A[ \t]*\r?\n?")
_TRAILING_ALL = re.compile(r"\s+\Z")
_TRAILING_LINE = re.compile(r"[ \t]+\Z")
_INDENT = re.compile(r"[ \t]+\Z")


@dataclass(slots=True)
class _StripInfo:
    open: bool = False
    close: bool = False
    open_standalone: bool = False
    close_standalone: bool = False
    inline_standalone: bool = False


def strip_whitespace(program: Program) -> None:
    _Visitor().program(program)


def _is_prev_whitespace(body: list[Statement], i: int | None, is_root: bool) -> bool:
    if i is None:
        i = len(body)
    prev = body[i - 1] if i - 1 >= 0 else None
    if prev is None:
        return is_root
    if isinstance(prev, Content):
        has_sibling = i - 2 >= 0
        pattern = _PREV_WS if has_sibling or not is_root else _PREV_WS_ROOT
        return pattern.search(prev.original) is not None
    return False


def _is_next_whitespace(body: list[Statement], i: int | None, is_root: bool) -> bool:
    if i is None:
        i = -1
    nxt = body[i + 1] if i + 1 < len(body) else None
    if nxt is None:
        return is_root
    if isinstance(nxt, Content):
        has_sibling = i + 2 < len(body)
        pattern = _NEXT_WS if has_sibling or not is_root else _NEXT_WS_ROOT
        return pattern.search(nxt.original) is not None
    return False


def _omit_right(body: list[Statement], i: int | None, multiple: bool = False) -> None:
    index = 0 if i is None else i + 1
    current = body[index] if index < len(body) else None
    if not isinstance(current, Content) or (not multiple and current.right_stripped):
        return
    original = current.value
    current.value = (_LEADING_ALL if multiple else _LEADING_LINE).sub("", original, count=1)
    current.right_stripped = current.value != original


def _omit_left(body: list[Statement], i: int | None, multiple: bool = False) -> bool:
    index = len(body) - 1 if i is None else i - 1
    current = body[index] if index >= 0 else None
    if not isinstance(current, Content) or (not multiple and current.left_stripped):
        return False
    original = current.value
    current.value = (_TRAILING_ALL if multiple else _TRAILING_LINE).sub("", original, count=1)
    current.left_stripped = current.value != original
    return current.left_stripped


class _Visitor:
    def __init__(self) -> None:
        self.root_seen = False

    def program(self, program: Program) -> None:
        is_root = not self.root_seen
        self.root_seen = True
        body = program.body
        for i, current in enumerate(body):
            strip = self.statement(current)
            if strip is None:
                continue
            prev_ws = _is_prev_whitespace(body, i, is_root)
            next_ws = _is_next_whitespace(body, i, is_root)
            open_standalone = strip.open_standalone and prev_ws
            close_standalone = strip.close_standalone and next_ws
            inline_standalone = strip.inline_standalone and prev_ws and next_ws
            if strip.close:
                _omit_right(body, i, multiple=True)
            if strip.open:
                _omit_left(body, i, multiple=True)
            if inline_standalone:
                _omit_right(body, i)
                if _omit_left(body, i) and isinstance(current, Partial):
                    before = body[i - 1]
                    assert isinstance(before, Content)
                    match = _INDENT.search(before.original)
                    current.indent = match.group(0) if match else ""
            if open_standalone:
                assert isinstance(current, Block)
                inner = current.program or current.inverse
                assert inner is not None
                _omit_right(inner.body, None)
                _omit_left(body, i)
            if close_standalone:
                assert isinstance(current, Block)
                _omit_right(body, i)
                inner = current.inverse or current.program
                assert inner is not None
                _omit_left(inner.body, None)

    def statement(self, node: Statement) -> _StripInfo | None:
        if isinstance(node, Content):
            return None
        if isinstance(node, Mustache):
            return _StripInfo(open=node.strip.open, close=node.strip.close)
        if isinstance(node, Partial | Comment):
            return _StripInfo(open=node.strip.open, close=node.strip.close, inline_standalone=True)
        return self.block(node)

    def block(self, block: Block) -> _StripInfo:
        if block.program is not None:
            self.program(block.program)
        if block.inverse is not None:
            self.program(block.inverse)
        program = block.program or block.inverse
        assert program is not None
        inverse = block.inverse if block.program is not None else None
        first_inverse = last_inverse = inverse
        if inverse is not None and inverse.chained:
            head = inverse.body[0]
            assert isinstance(head, Block)
            assert head.program is not None
            first_inverse = head.program
            while last_inverse is not None and last_inverse.chained:
                tail = last_inverse.body[-1]
                assert isinstance(tail, Block)
                last_inverse = tail.program
        close_strip = block.close_strip
        strip = _StripInfo(
            open=block.open_strip.open,
            close=bool(close_strip and close_strip.close),
            open_standalone=_is_next_whitespace(program.body, None, False),
            close_standalone=_is_prev_whitespace((first_inverse or program).body, None, False),
        )
        if block.open_strip.close:
            _omit_right(program.body, None, multiple=True)
        if inverse is not None:
            assert first_inverse is not None
            assert last_inverse is not None
            inverse_strip = block.inverse_strip
            if inverse_strip is not None and inverse_strip.open:
                _omit_left(program.body, None, multiple=True)
            if inverse_strip is not None and inverse_strip.close:
                _omit_right(first_inverse.body, None, multiple=True)
            if close_strip is not None and close_strip.open:
                _omit_left(last_inverse.body, None, multiple=True)
            if _is_prev_whitespace(program.body, None, False) and _is_next_whitespace(
                first_inverse.body, None, False
            ):
                _omit_left(program.body, None)
                _omit_right(first_inverse.body, None)
        elif close_strip is not None and close_strip.open:
            _omit_left(program.body, None, multiple=True)
        return strip
