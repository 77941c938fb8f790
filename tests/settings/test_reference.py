"""docs/administration.md's settings reference and JSON Schema are generated from the model: these
tests fail when the document and `TenantSettings` differ (regenerate with
`python -m renewflow.settings.reference --write docs/administration.md`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from renewflow.settings import TenantSettings
from renewflow.settings.reference import SCHEMA, TABLE, main, render, rows

DOC = Path(__file__).resolve().parents[2] / "docs" / "administration.md"


def _between(text: str, markers: tuple[str, str]) -> str:
    start, end = markers
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def test_the_document_is_what_the_model_generates() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, (
        "docs/administration.md differs from the settings model: run "
        "`python -m renewflow.settings.reference --write docs/administration.md`"
    )


def test_the_documented_schema_is_the_models() -> None:
    shown = _between(DOC.read_text(encoding="utf-8"), SCHEMA)
    body = shown.removeprefix("```json").removesuffix("```")
    assert json.loads(body) == TenantSettings.model_json_schema(mode="validation")


def test_every_setting_is_a_row_with_a_description() -> None:
    table = _between(DOC.read_text(encoding="utf-8"), TABLE)
    documented = re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE)
    assert documented == [key for key, *_ in rows()]
    undescribed = [key for key, _kind, _default, what in rows() if not what.strip()]
    assert undescribed == [], "give these fields a description (or a note in reference.NOTES)"
    for key in ("company.vp_customer_success", "notifications.smtp.port", "llm.api_key_secret"):
        assert key in documented


def test_every_leaf_key_of_the_reference_is_a_setting() -> None:
    """A key shown in the table is one PATCH /api/tenant accepts: the reference cannot name a
    setting that does not exist (here: the model's own fields, walked independently)."""

    def fields(model: type, prefix: str = "") -> set[str]:
        found = set()
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            found.add(f"{prefix}{name}")
            for arg in (field.annotation, *getattr(field.annotation, "__args__", ())):
                if isinstance(arg, type) and hasattr(arg, "model_fields"):
                    found |= fields(arg, f"{prefix}{name}.")
        return found

    known = fields(TenantSettings)
    for key, *_ in rows():
        if "<name>" in key:
            continue
        assert key in known, key


def test_a_drifted_document_is_caught(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    stale = text.replace("| `notifications.smtp.port` |", "| `notifications.smtp.portnumber` |")
    assert stale != text
    assert render(stale) != stale
    copy = tmp_path / "administration.md"
    copy.write_text(stale, encoding="utf-8")
    assert main(["--write", str(copy)]) == 0
    assert copy.read_text(encoding="utf-8") == text


def test_a_document_without_the_markers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="markers"):
        render("# no generated parts here\n")
