"""Cutting extracted text into chunks: by headings and paragraphs, bounded, with overlap.

A heading (a Markdown `#` line, which every extractor produces) closes the chunk before it and
becomes part of the title of the chunks under it, so a chunk is searchable by the section it
sits in. Paragraphs are packed up to CHUNK_MAX_CHARS; a paragraph longer than that is cut at
sentence ends (then at word ends). The last paragraph (or sentences) of a chunk, up to
CHUNK_OVERLAP_CHARS, opens the next chunk of the same section.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from renewflow.knowledge.limits import CHUNK_MAX_CHARS, CHUNK_OVERLAP_CHARS

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TITLE_SEPARATOR = " › "


@dataclass(frozen=True, slots=True)
class Chunk:
    ordinal: int
    title: str  # the document's title and the headings above the chunk
    body: str


def chunk_text(
    text: str,
    title: str,
    *,
    max_chars: int = CHUNK_MAX_CHARS,
    overlap_chars: int = CHUNK_OVERLAP_CHARS,
) -> list[Chunk]:
    """The chunks of `text` (see the module docstring); never an empty one."""
    chunks: list[Chunk] = []
    headings: list[tuple[int, str]] = []
    for section_headings, paragraphs in _sections(text):
        headings = section_headings
        names = [h for _, h in headings]
        if names and names[0].strip().casefold() == title.strip().casefold():
            names = names[1:]  # the document's own title heading
        section_title = _TITLE_SEPARATOR.join([title, *names])
        for body in _pack(paragraphs, max_chars, overlap_chars):
            chunks.append(Chunk(len(chunks), section_title, body))
    if not chunks and headings:  # a document of headings only: they are its text
        body = "\n".join(h for _, h in headings)
        chunks.append(Chunk(0, title, body[:max_chars]))
    return chunks


def _sections(text: str) -> Iterator[tuple[list[tuple[int, str]], list[str]]]:
    """(the heading path, the paragraphs under it) for each section, in order."""
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    lines: list[str] = []

    def close_paragraph() -> None:
        if lines:
            paragraphs.append(" ".join(lines))
            lines.clear()

    for raw in text.split("\n"):
        line = raw.strip()
        heading = _HEADING.match(line)
        if heading:
            close_paragraph()
            if paragraphs:
                yield list(path), paragraphs
                paragraphs = []
            level = len(heading.group(1))
            path = [(lv, h) for lv, h in path if lv < level] + [(level, heading.group(2))]
        elif not line:
            close_paragraph()
        else:
            lines.append(line)
    close_paragraph()
    if paragraphs:
        yield path, paragraphs
    elif path:
        yield path, []


def _pieces(paragraph: str, max_chars: int) -> Iterator[tuple[str, bool]]:
    """A paragraph as (piece, continues the previous piece's paragraph): whole if it fits, else
    its sentences (a sentence longer than `max_chars` cut at word ends)."""
    if len(paragraph) <= max_chars:
        yield paragraph, False
        return
    first = True
    for sentence in _SENTENCE_END.split(paragraph):
        for part in _words(sentence, max_chars):
            yield part, not first
            first = False


def _words(sentence: str, max_chars: int) -> Iterator[str]:
    if len(sentence) <= max_chars:
        yield sentence
        return
    current = ""
    for whole in sentence.split(" "):
        word = whole
        while len(word) > max_chars:  # one "word" longer than a chunk (a URL, base64)
            if current:
                yield current
                current = ""
            yield word[:max_chars]
            word = word[max_chars:]
        if current and len(current) + 1 + len(word) > max_chars:
            yield current
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        yield current


def _pack(paragraphs: list[str], max_chars: int, overlap_chars: int) -> Iterator[str]:
    pieces = [piece for paragraph in paragraphs for piece in _pieces(paragraph, max_chars)]
    current: list[tuple[str, bool]] = []
    fresh = False  # holds something that no chunk has yielded yet
    for piece in pieces:
        if current and len(_join(current)) + 2 + len(piece[0]) > max_chars:
            yield _join(current)
            # the tail that opens the next chunk: whole pieces from the end, within the overlap
            tail: list[tuple[str, bool]] = []
            for previous in reversed(current):
                if len(_join([previous, *tail])) > overlap_chars:
                    break
                tail.insert(0, previous)
            if tail and len(_join([*tail, piece])) > max_chars:
                tail = []
            current = tail
        current.append(piece)
        fresh = True
    if current and fresh:
        yield _join(current)


def _join(pieces: list[tuple[str, bool]]) -> str:
    """Pieces of one paragraph joined by a space, paragraphs by a blank line."""
    text = ""
    for index, (piece, continues) in enumerate(pieces):
        if index:
            text += " " if continues else "\n\n"
        text += piece
    return text
