"""Text out of uploaded files: txt, md, html, csv and json always; pdf and docx through the
`documents` extra (pypdf, python-docx), imported only when such a file arrives.

Every extractor returns plain text in which headings are Markdown lines (`# Title`), so the
chunker cuts every format the same way. A file is refused (never stored empty) when its type is
unknown (415), it is too large (413), or it cannot be decoded or holds no text (422).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath
from typing import Any, Final

from renewflow.knowledge.errors import DocumentTooLarge, UnreadableDocument, UnsupportedDocument
from renewflow.knowledge.limits import MAX_DOCUMENT_BYTES, MAX_TEXT_CHARS

FORMATS: Final = ("txt", "md", "html", "csv", "json", "pdf", "docx")

_BY_SUFFIX: Final = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".csv": "csv",
    ".json": "json",
    ".pdf": "pdf",
    ".docx": "docx",
}
_BY_MEDIA_TYPE: Final = {
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/csv": "csv",
    "application/json": "json",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
_GENERIC_MEDIA_TYPES: Final = {"", "application/octet-stream"}


@dataclass(frozen=True, slots=True)
class Extracted:
    format: str
    text: str
    title: str | None  # what the file itself calls itself (an HTML <title>, a first heading)


def detect_format(filename: str, content_type: str | None = None) -> str:
    """The format of a file, by its name's suffix, else its declared media type (415 if neither
    is one renewflow reads)."""
    suffix = PurePath(filename).suffix.lower()
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    media = (content_type or "").split(";")[0].strip().lower()
    if media in _BY_MEDIA_TYPE:
        return _BY_MEDIA_TYPE[media]
    what = f"'{suffix}'" if suffix else "no suffix"
    if media not in _GENERIC_MEDIA_TYPES:
        what += f", media type {media}"
    raise UnsupportedDocument(
        f"{filename}: unsupported file type ({what}); renewflow reads " + ", ".join(FORMATS)
    )


def extract(data: bytes, filename: str, content_type: str | None = None) -> Extracted:
    """The text of an uploaded file (see the module docstring for what is refused)."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(
            f"{filename}: {len(data):,} bytes; a document may have at most "
            f"{MAX_DOCUMENT_BYTES:,} bytes ({MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB)"
        )
    fmt = detect_format(filename, content_type)
    if not data:
        raise UnreadableDocument(f"{filename}: the file is empty")
    text, title = _EXTRACTORS[fmt](data, filename)
    text = _tidy(text)
    if not text:
        raise UnreadableDocument(f"{filename}: no text could be extracted from the file")
    if len(text) > MAX_TEXT_CHARS:
        raise DocumentTooLarge(
            f"{filename}: {len(text):,} characters of text; a document may have at most "
            f"{MAX_TEXT_CHARS:,}"
        )
    return Extracted(fmt, text, title.strip() if title and title.strip() else None)


# -- text ----------------------------------------------------------------------------------------


def decode(data: bytes, filename: str) -> str:
    """UTF-8 (with or without a byte-order mark), or UTF-16 with its mark; anything else is
    refused rather than guessed (a wrong guess would index mojibake)."""
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableDocument(
            f"{filename}: not UTF-8 text (undecodable byte at offset {error.start})"
        ) from None
    if "\x00" in text:
        raise UnreadableDocument(f"{filename}: contains NUL characters; not a text file")
    return text


_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = _CONTROL.sub(" ", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _plain(data: bytes, filename: str) -> tuple[str, str | None]:
    return decode(data, filename), None


_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _markdown(data: bytes, filename: str) -> tuple[str, str | None]:
    text = decode(data, filename)
    first = _MD_HEADING.search(text)
    return text, first.group(1) if first else None


# -- html ----------------------------------------------------------------------------------------


class _HTMLText(HTMLParser):
    _SKIP: Final = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _BLOCKS: Final = frozenset(
        {
            "p",
            "div",
            "section",
            "article",
            "li",
            "tr",
            "br",
            "table",
            "ul",
            "ol",
            "blockquote",
            "pre",
            "header",
            "footer",
            "main",
            "nav",
            "aside",
            "dd",
            "dt",
            "figcaption",
        }
    )
    _HEADINGS: Final = {f"h{n}": n for n in range(1, 7)}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: str | None = None
        self._skipping = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skipping += 1
        elif tag in self._HEADINGS:
            self.parts.append("\n\n" + "#" * self._HEADINGS[tag] + " ")
        elif tag in self._BLOCKS:
            self.parts.append("\n\n" if tag == "p" else "\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._HEADINGS or tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data
        elif not self._skipping:
            self.parts.append(data.replace("\n", " "))


def _html(data: bytes, filename: str) -> tuple[str, str | None]:
    parser = _HTMLText()
    parser.feed(decode(data, filename))
    parser.close()
    # a heading's text is on its own line: the parser put "# " before it and breaks after it
    text = re.sub(r"(^|\n)(#{1,6}) +", r"\1\2 ", "".join(parser.parts))
    return text, parser.title


# -- csv and json --------------------------------------------------------------------------------


def _csv(data: bytes, filename: str) -> tuple[str, str | None]:
    text = decode(data, filename)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as error:
        raise UnreadableDocument(f"{filename}: not valid CSV ({error})") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        return "", None
    header, body = rows[0], rows[1:]
    if not body:  # a single row: its cells are the text
        return " ".join(header), None
    # one paragraph per row, each value named by its column: "Plan: Enterprise; Seats: 200"
    lines = []
    for row in body:
        pairs = [
            f"{(header[i] if i < len(header) else f'column {i + 1}').strip()}: {cell.strip()}"
            for i, cell in enumerate(row)
            if cell.strip()
        ]
        lines.append("; ".join(pairs))
    return "\n\n".join(lines), None


def _json(data: bytes, filename: str) -> tuple[str, str | None]:
    text = decode(data, filename)
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise UnreadableDocument(f"{filename}: not valid JSON ({error})") from None
    title = value.get("title") if isinstance(value, dict) else None
    return "\n".join(_json_lines(value, "")), title if isinstance(title, str) else None


def _json_lines(value: Any, path: str) -> Iterator[str]:
    """Each string, number or boolean of a JSON document as `path: value`; an array of objects
    (records) as one paragraph per record."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _json_lines(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _json_lines(item, path)
            if isinstance(item, dict):
                yield ""
    elif value is None:
        return
    elif isinstance(value, str):
        if value.strip():
            yield f"{path}: {value}" if path else value
    else:
        yield f"{path}: {json.dumps(value)}" if path else json.dumps(value)


# -- pdf and docx (optional) ---------------------------------------------------------------------


def _missing_extra(fmt: str, package: str) -> UnsupportedDocument:
    return UnsupportedDocument(
        f"{fmt} files need the '{package}' package, which is not installed "
        "(install renewflow with the 'documents' extra: pip install 'renewflow[documents]')"
    )


def _pdf(data: bytes, filename: str) -> tuple[str, str | None]:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError:
        raise _missing_extra("pdf", "pypdf") from None
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnreadableDocument(f"{filename}: the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata
        title = meta.title if meta is not None else None
    except UnreadableDocument:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as error:
        raise UnreadableDocument(f"{filename}: not a readable PDF ({error})") from None
    return "\n\n".join(pages), title if isinstance(title, str) else None


def _docx(data: bytes, filename: str) -> tuple[str, str | None]:
    try:
        import docx
    except ImportError:
        raise _missing_extra("docx", "python-docx") from None
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as error:  # python-docx raises zip, XML and its own errors alike
        raise UnreadableDocument(f"{filename}: not a readable .docx file ({error})") from None
    parts: list[str] = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name or "") if paragraph.style is not None else ""
        level = re.fullmatch(r"Heading (\d)", style)
        if style == "Title":
            parts.append(f"# {text}")
        elif level:
            parts.append("#" * min(6, int(level.group(1))) + f" {text}")
        else:
            parts.append(text)
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    title = document.core_properties.title or None
    return "\n\n".join(parts), title


_EXTRACTORS: Final[dict[str, Callable[[bytes, str], tuple[str, str | None]]]] = {
    "txt": _plain,
    "md": _markdown,
    "html": _html,
    "csv": _csv,
    "json": _json,
    "pdf": _pdf,
    "docx": _docx,
}
