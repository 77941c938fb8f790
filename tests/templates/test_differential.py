"""Our engine and handlebars.js 4.7 render the same generated templates identically."""

from __future__ import annotations

from typing import Any

from renewflow.templates import TemplateError, compile

from .conftest import RenderJs
from .generator import cases

COUNT = 2500


def _ours(case: dict[str, Any]) -> dict[str, str]:
    try:
        template = compile(
            case["source"], escape=case["escape"], strict=case["strict"], partials=case["partials"]
        )
        return {"ok": template.render(case["context"])}
    except TemplateError as error:
        return {"error": str(error)}


def test_generated_templates_render_like_handlebars_js(handlebars_js: RenderJs) -> None:
    batch = cases(COUNT, seed=20240603)
    theirs = handlebars_js(batch)
    ours = [_ours(case) for case in batch]
    differences = [
        (case["source"], case["context"], mine, reference)
        for case, mine, reference in zip(batch, ours, theirs, strict=True)
        if ("error" in mine) != ("error" in reference) or mine.get("ok") != reference.get("ok")
    ]
    rendered = sum("ok" in result for result in theirs)
    assert rendered > COUNT * 0.8, "the generator should mostly produce valid templates"
    assert differences[:5] == [], f"{len(differences)} of {COUNT} differ"
