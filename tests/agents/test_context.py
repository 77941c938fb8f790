"""What a step is passed of the previous results, within the budget (no database)."""

from __future__ import annotations

from renewflow.agents.context import MIN_PART, TRUNCATED, build_prompt, previous_results


def _results(*lengths: int) -> list[dict[str, object]]:
    return [
        {"step_id": f"s{i}", "step_order": i, "step_name": f"Step {i}", "text": str(i) * n}
        for i, n in enumerate(lengths, start=1)
    ]


def test_everything_fits() -> None:
    passed = previous_results(_results(10, 20), 100, include=True)
    assert [p["step_order"] for p in passed.parts] == [1, 2]
    assert passed.record["cut"] == []
    assert passed.record["passed_chars"] == 30


def test_the_newest_are_kept_and_the_first_that_does_not_fit_is_truncated() -> None:
    passed = previous_results(_results(5000, 800, 300), 1000, include=True)
    orders = [(p["step_order"], p["truncated"]) for p in passed.parts]
    assert orders == [(2, True), (3, False)]
    assert [c["step_order"] for c in passed.record["cut"]] == [1]
    assert passed.parts[0]["text"].endswith(TRUNCATED)
    assert passed.record["passed_chars"] == 1000


def test_a_sliver_is_cut_rather_than_passed() -> None:
    passed = previous_results(_results(MIN_PART * 3, 900), 1000, include=True)
    assert [p["step_order"] for p in passed.parts] == [2]
    assert passed.record["cut"][0]["original_chars"] == MIN_PART * 3


def test_no_context_asked_none_given() -> None:
    passed = previous_results(_results(10), 100, include=False)
    assert passed.parts == ()
    assert passed.record == {"include_previous_context": False}


def test_the_prompt_shows_what_was_passed_and_names_what_was_cut() -> None:
    passed = previous_results(_results(5000, 10), 100, include=True)
    system, prompt = build_prompt(
        task_name="T",
        step_name="Next",
        step_order=3,
        step_count=3,
        instructions="Do it.",
        context=passed,
    )
    assert "step 3 of 3" in system
    assert prompt.startswith("Do it.")
    assert "## Step 2: Step 2\n" + "2" * 10 in prompt
    assert "step(s) 1 were left out" in prompt
