"""The summary the LLM writes from a customer's facts, and the rule that keeps it honest: every
claim cites the facts it rests on, by key, and a claim citing nothing, or anything that is not
among the facts it was given, is dropped.

The model answers a JSON schema whose evidence items are an `enum` of exactly the keys it was
given, so a provider with structured outputs (and the mock, which generates from the schema)
cannot cite anything else; the check below is what holds for a provider that ignores schemas.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_CLAIMS = 6
MAX_CLAIM_CHARS = 400
MAX_EVIDENCE = 4

SYSTEM = (
    "You are a customer-success analyst. Write the renewal-risk summary of one customer as a few "
    "short claims. Each claim must cite, in `evidence`, the keys of the facts it rests on, taken "
    "from the facts given and from nothing else. Claims without evidence are discarded."
)


@dataclass(frozen=True)
class Claim:
    """One sentence of a summary and the fact keys it cites (each among the facts given)."""

    text: str
    evidence: tuple[str, ...]

    def as_insight(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "claim": self.text,
            "evidence": [{"key": key, "value": facts[key]} for key in self.evidence],
        }


@dataclass(frozen=True)
class Summary:
    claims: tuple[Claim, ...]
    dropped: int

    def text(self) -> str | None:
        """The claims as one text, each followed by the keys it cites."""
        if not self.claims:
            return None
        return " ".join(f"{_sentence(c.text)} [{', '.join(c.evidence)}]" for c in self.claims)


def output_schema(fact_keys: list[str]) -> dict[str, Any]:
    """What the model answers: claims, each with its text and 1-4 of `fact_keys` as evidence."""
    return {
        "type": "object",
        "required": ["claims"],
        "additionalProperties": False,
        "properties": {
            "claims": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_CLAIMS,
                "items": {
                    "type": "object",
                    "required": ["signal", "evidence"],
                    "additionalProperties": False,
                    "properties": {
                        # "signal": the mock's heuristics answer it with a sentence about the
                        # customer (usage, risk, engagement) rather than a placeholder
                        "signal": {"type": "string", "minLength": 1, "maxLength": MAX_CLAIM_CHARS},
                        "evidence": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_EVIDENCE,
                            "items": {"type": "string", "enum": sorted(fact_keys)},
                        },
                    },
                },
            }
        },
    }


def prompt(name: str, facts: Mapping[str, Any]) -> str:
    return (
        f"Customer: {name}\n"
        "Facts (key: value):\n"
        + "\n".join(f"- {key}: {json.dumps(facts[key], default=str)}" for key in sorted(facts))
        + "\n\nSummarise the customer's renewal risk in at most "
        f"{MAX_CLAIMS} claims, each citing its evidence keys."
    )


def mock_context(name: str, facts: Mapping[str, Any]) -> dict[str, Any]:
    """The facts in the shape of a workflow context, for the offline mock to answer from (never
    sent to a real provider)."""
    return {
        "customer": {
            "name": name,
            "arr": _number(facts.get("renewal.arr")),
            "currency": facts.get("renewal.currency"),
            "renewalDate": facts.get("renewal.date"),
        },
        "intelligence": {"riskScore": facts.get("score.risk")},
        "data": {
            "usage": {
                "trend": facts.get("usage.trend", "unknown"),
                "changePercent": _number(facts.get("usage.change_pct")),
            },
            "engagement": {"supportTickets": _number(facts.get("support.tickets_28d"))},
        },
    }


def supported(answer: Any, facts: Mapping[str, Any]) -> Summary:
    """The claims of `answer` (the model's parsed JSON, of any shape) that cite at least one
    key and only keys of `facts`, each cited key once; the others are counted as dropped."""
    raw = answer.get("claims") if isinstance(answer, Mapping) else None
    if not isinstance(raw, list):
        return Summary((), 0)
    kept: list[Claim] = []
    dropped = 0
    for item in raw:
        claim = _claim(item, facts)
        if claim is None or len(kept) >= MAX_CLAIMS:
            dropped += 1
        else:
            kept.append(claim)
    return Summary(tuple(kept), dropped)


def _claim(item: Any, facts: Mapping[str, Any]) -> Claim | None:
    if not isinstance(item, Mapping):
        return None
    text = item.get("signal", item.get("text"))
    evidence = item.get("evidence")
    if not isinstance(text, str) or not text.strip() or not isinstance(evidence, list):
        return None
    keys = list(dict.fromkeys(evidence))
    if not keys or len(keys) > MAX_EVIDENCE:
        return None
    if not all(isinstance(key, str) and key in facts for key in keys):
        return None  # a claim resting on anything not given is not supported, even in part
    return Claim(text.strip()[:MAX_CLAIM_CHARS].replace("\x00", ""), tuple(keys))


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
