"""What a step receives of the previous steps' results, within the task's character budget.

The most recent results matter most to the next step, so they are kept first: walking back from
the step before, each result goes in whole while it fits; the first one that does not fit is cut
to what is left of the budget (if that leaves enough to be useful) and every older one is left out.
`context_data` records all of it: each result passed (with the exact text sent) and each one cut.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A result cut to less than this is noise: it is left out instead.
MIN_PART = 200
TRUNCATED = " [...]"


@dataclass(frozen=True, slots=True)
class PassedContext:
    """The previous results a step gets (oldest first, as the prompt shows them) and the record
    of what was passed and what was cut, for `context_data`."""

    parts: tuple[Mapping[str, Any], ...]
    record: dict[str, Any]


def previous_results(
    previous: Sequence[Mapping[str, Any]], budget: int, *, include: bool
) -> PassedContext:
    """`previous`: the completed earlier steps, in order, each with `step_id`, `step_order`,
    `step_name` and `text` (its result)."""
    if not include:
        return PassedContext((), {"include_previous_context": False})
    left = budget
    passed: list[dict[str, Any]] = []
    cut: list[dict[str, Any]] = []
    for item in reversed(previous):
        text = str(item.get("text") or "")
        base = {
            "step_id": str(item["step_id"]),
            "step_order": item["step_order"],
            "step_name": item["step_name"],
            "original_chars": len(text),
        }
        if len(text) <= left:
            passed.append({**base, "chars": len(text), "truncated": False, "text": text})
            left -= len(text)
        elif not cut and left - len(TRUNCATED) >= MIN_PART:
            kept = text[: left - len(TRUNCATED)] + TRUNCATED
            passed.append({**base, "chars": len(kept), "truncated": True, "text": kept})
            left = 0
        else:
            cut.append({**base, "reason": "over the context budget"})
            left = 0
    passed.reverse()
    cut.reverse()
    record = {
        "include_previous_context": True,
        "budget_chars": budget,
        "passed_chars": sum(p["chars"] for p in passed),
        "passed": passed,
        "cut": cut,
    }
    return PassedContext(tuple(passed), record)


def build_prompt(
    *,
    task_name: str,
    step_name: str,
    step_order: int,
    step_count: int,
    instructions: str,
    context: PassedContext,
) -> tuple[str, str]:
    """(system, prompt) for one step."""
    system = (
        "You are an agent working through a multi-step task, one step at a time. "
        f'Task: "{task_name}". This is step {step_order} of {step_count}: "{step_name}". '
        "Answer with the result of this step only."
    )
    prompt = instructions
    if context.parts:
        sections = [
            f"## Step {p['step_order']}: {p['step_name']}\n{p['text']}" for p in context.parts
        ]
        prompt += "\n\nResults of the previous steps:\n\n" + "\n\n".join(sections)
    if context.record.get("cut"):
        orders = ", ".join(str(c["step_order"]) for c in context.record["cut"])
        prompt += f"\n\n(The results of step(s) {orders} were left out to fit the budget.)"
    return system, prompt
