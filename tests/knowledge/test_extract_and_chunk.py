"""Extraction of every format and chunking, without a database."""

from __future__ import annotations

import builtins
import io
import itertools
import json
from typing import Any

import pytest

from renewflow.errors import PayloadTooLargeError, UnsupportedMediaError
from renewflow.knowledge import (
    DocumentTooLarge,
    UnreadableDocument,
    UnsupportedDocument,
    extract,
)
from renewflow.knowledge.chunking import chunk_text
from renewflow.knowledge.limits import CHUNK_MAX_CHARS


def test_html_drops_scripts_and_keeps_headings() -> None:
    page = (
        b"<html><head><title>QBR guide</title><style>p{}</style></head><body>"
        b"<h1>QBR guide</h1><script>alert(1)</script><h2>Agenda</h2>"
        b"<p>Review adoption &amp; outcomes.</p><ul><li>Usage</li><li>Roadmap</li></ul>"
        b"</body></html>"
    )
    got = extract(page, "guide.html")
    assert got.title == "QBR guide"
    assert got.format == "html"
    assert "alert" not in got.text
    assert "p{}" not in got.text
    assert "## Agenda" in got.text
    assert "Review adoption & outcomes." in got.text


def test_csv_rows_become_named_values() -> None:
    got = extract(b"plan,seats\nEnterprise,200\nTeam,15\n", "plans.csv")
    assert got.text == "plan: Enterprise; seats: 200\n\nplan: Team; seats: 15"


def test_json_values_are_paths() -> None:
    data = {"title": "Pricing", "tiers": [{"name": "Gold", "discount": 5}], "note": None}
    got = extract(json.dumps(data).encode(), "pricing.json")
    assert got.title == "Pricing"
    assert "tiers.name: Gold" in got.text
    assert "tiers.discount: 5" in got.text


def test_utf16_with_a_mark_and_utf8_bom_are_read() -> None:
    assert extract("Renewal ✓".encode("utf-16"), "a.txt").text == "Renewal ✓"
    assert extract(b"\xef\xbb\xbfRenewal", "a.txt").text == "Renewal"


def test_docx_headings_and_tables() -> None:
    import docx

    document = docx.Document()
    document.add_heading("Escalations", level=1)
    document.add_paragraph("Page the war room within one hour.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Severity"
    table.rows[0].cells[1].text = "P1"
    buffer = io.BytesIO()
    document.save(buffer)
    got = extract(buffer.getvalue(), "esc.docx")
    assert "# Escalations" in got.text
    assert "war room" in got.text
    assert "Severity | P1" in got.text


def _pdf(text: str) -> bytes:
    """A one-page PDF showing `text` (Helvetica), with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_pdf_text_is_extracted() -> None:
    got = extract(_pdf("Renewal terms: thirty days notice"), "terms.pdf")
    assert got.format == "pdf"
    assert "thirty days notice" in got.text


def test_a_missing_extra_is_415_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pypdf(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pypdf"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pypdf)
    with pytest.raises(UnsupportedDocument) as missing:
        extract(_pdf("x"), "terms.pdf")
    assert "renewflow[documents]" in str(missing.value)
    assert isinstance(missing.value, UnsupportedMediaError)  # 415 through the API


def test_the_media_type_decides_when_the_name_has_no_suffix() -> None:
    assert extract(b"# Hi\n\ntext", "README", "text/markdown").format == "md"
    with pytest.raises(UnsupportedDocument, match="image/png"):
        extract(b"\x89PNG", "logo", "image/png")


def test_text_over_the_limit_is_413(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    module = sys.modules["renewflow.knowledge.extract"]

    monkeypatch.setattr(module, "MAX_TEXT_CHARS", 10)
    with pytest.raises(DocumentTooLarge) as large:
        extract(b"renewal renewal renewal", "a.txt")
    assert isinstance(large.value, PayloadTooLargeError)  # 413 through the API


def test_unreadable_is_422_on_the_file_field() -> None:
    with pytest.raises(UnreadableDocument) as bad:
        extract(b"\xff\xfe\x00", "a.csv")  # a BOM, then half a code unit
    assert bad.value.field == "file"


def test_chunks_follow_headings_are_bounded_and_overlap() -> None:
    sentences = " ".join(f"Sentence {n} about renewal pricing and churn." for n in range(120))
    text = f"# Guide\n\nIntro paragraph.\n\n## Pricing\n\n{sentences}\n\n## Support\n\nShort."
    chunks = chunk_text(text, "Guide")
    assert all(0 < len(c.body) <= CHUNK_MAX_CHARS for c in chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert chunks[0].title == "Guide"
    assert chunks[0].body == "Intro paragraph."
    pricing = [c for c in chunks if c.title == "Guide › Pricing"]
    assert len(pricing) > 2
    # every sentence is in some chunk, and consecutive chunks of a section share their seam
    for n in range(120):
        assert any(f"Sentence {n} " in c.body for c in pricing)
    for first, second in itertools.pairwise(pricing):
        assert first.body.split(". ")[-1].rstrip(".") in second.body
    assert chunks[-1].title == "Guide › Support"
    assert chunks[-1].body == "Short."


def test_a_giant_word_is_cut() -> None:
    chunks = chunk_text("x" * (CHUNK_MAX_CHARS * 2 + 5), "T")
    assert [len(c.body) for c in chunks] == [CHUNK_MAX_CHARS, CHUNK_MAX_CHARS, 5]
