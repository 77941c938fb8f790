"""The number, currency and date helpers on any value a context can hold: every finite double,
integers of any size, dates at the ends of the calendar. They never raise, and they print what
JavaScript's Intl prints (`toLocaleString("en-US", ...)`), which handlebars.js users reach for."""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
from typing import Any

import pytest

from renewflow.templates import compile

BIG = 1.7976931348623157e308


def render(source: str, n: Any) -> str:
    return compile(source).render({"n": n})


@pytest.mark.parametrize(
    ("source", "value", "expected"),
    [
        ("{{formatNumber n}}", 1e25, "10,000,000,000,000,000,000,000,000"),
        ("{{formatNumber n}}", -1e25, "-10,000,000,000,000,000,000,000,000"),
        ("{{formatCurrency n}}", 1e26, "$100,000,000,000,000,000,000,000,000.00"),
        ("{{formatNumber n}}", BIG, "179,769,313,486,231,570" + ",000" * 97),
        ("{{formatCurrency n}}", -BIG, "-$179,769,313,486,231,570" + ",000" * 97 + ".00"),
        ("{{formatNumber n 2}}", 1e300, "1" + ",000" * 100 + ".00"),
        ("{{formatNumber n}}", 5e-324, "0"),
        ("{{formatNumber n 20}}", 5e-324, "0." + "0" * 20),
        ("{{formatNumber n}}", 10**400, "10" + ",000" * 133),
        ("{{formatCurrency n 'JPY'}}", 10**30, "¥1" + ",000" * 10),
        ("{{formatNumber n 'Infinity'}}", 3.14159, "3"),
        ("{{formatNumber n}}", math.inf, "Infinity"),
        ("{{formatCurrency n}}", math.nan, ""),
        ("{{formatNumber n}}", "0x" + "f" * 300, "Infinity"),
        ("{{round n 2}}", 10**400, "Infinity"),
        ("{{gt n 1}}", 10**400, "true"),
        ("{{lt '2' n}}", 10**400, "true"),
        ("{{{json n}}}", [10**400, 1e308], "[null,1e+308]"),
        ("{{formatDate n}}", "0001-01-01T00:00:00+01:00", ""),
        ("{{formatDate n}}", "9999-12-31T23:00:00-01:00", ""),
        ("{{formatDate n}}", "0001-01-01T00:00:00-01:00", "0001-01-01"),
        ("{{daysBetween n '2024-01-01'}}", "0001-01-01T00:00:00+01:00", "NaN"),
    ],
)
def test_helpers_at_the_ends_of_the_number_line(source: str, value: Any, expected: str) -> None:
    assert render(source, value) == expected


def _doubles() -> list[float]:
    rng = random.Random(20240603)
    values = [10.0**e for e in range(-12, 309)] + [BIG, 5e-324, 0.5, 1.5, 2.5, 1.005, 0.0005]
    values += [rng.uniform(-1, 1) * 10 ** rng.randint(-8, 308) for _ in range(2_000)]
    values = [v for v in values if math.isfinite(v)]
    return values + [-v for v in values[:300]]


_INTL = r"""
const values = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(values.map((v) => [
  v.toLocaleString("en-US", {maximumFractionDigits: 3}),
  v.toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2}),
  v.toLocaleString("en-US", {style: "currency", currency: "USD"}),
])));
"""


def _without_negative_zero(text: str) -> str:
    """Intl writes "-0.00" for a negative number that rounds to zero; ours write "0.00"."""
    digits = text.lstrip("-$").replace(",", "").replace(".", "")
    return text.replace("-", "", 1) if digits.strip("0") == "" else text


def test_number_helpers_print_what_intl_prints_for_every_finite_double() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is needed to compare with JavaScript's Intl; not on PATH")
    values = _doubles()
    out = subprocess.run(
        [node, "-e", _INTL], input=json.dumps(values), capture_output=True, text=True, check=True
    )
    theirs = json.loads(out.stdout)
    number, fixed, currency = (
        compile("{{formatNumber n}}"),
        compile("{{formatNumber n 2}}"),
        compile("{{formatCurrency n}}"),
    )
    differences = [
        (value, ours, expected)
        for value, expected in zip(values, theirs, strict=True)
        if (ours := [t.render({"n": value}) for t in (number, fixed, currency)])
        != [_without_negative_zero(text) for text in expected]
    ]
    assert differences[:5] == [], f"{len(differences)} of {len(values)} differ"
