"""RFC 6902 diff: exact operations for the common edits, and apply(a, diff(a, b)) == b always."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renewflow.workflows.jsonpatch import PatchError, apply, diff, same


@pytest.mark.parametrize(
    ("source", "target", "patch"),
    [
        ({"a": 1}, {"a": 1}, []),
        ({"a": 1}, {"a": 2}, [{"op": "replace", "path": "/a", "value": 2}]),
        ({"a": 1}, {}, [{"op": "remove", "path": "/a"}]),
        ({}, {"b": [1]}, [{"op": "add", "path": "/b", "value": [1]}]),
        (
            {"a/b": 1, "m~n": 1},
            {"a/b": 2, "m~n": 3},
            [
                {"op": "replace", "path": "/a~1b", "value": 2},
                {"op": "replace", "path": "/m~0n", "value": 3},
            ],
        ),
        (
            [1, 2, 3],
            [1, 3],
            [{"op": "remove", "path": "/1"}],
        ),
        ([1, 2, 3], [1, 9, 2, 3], [{"op": "add", "path": "/1", "value": 9}]),
        ([1, 2, 3], [2, 3], [{"op": "remove", "path": "/0"}]),
        (
            [1, 2],
            [1, 2, 3, 4],
            [
                {"op": "add", "path": "/2", "value": 3},
                {"op": "add", "path": "/3", "value": 4},
            ],
        ),
        (
            {"steps": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]},
            {"steps": [{"id": "a", "name": "A"}, {"id": "b", "name": "Bee"}]},
            [{"op": "replace", "path": "/steps/1/name", "value": "Bee"}],
        ),
        (1, True, [{"op": "replace", "path": "", "value": True}]),
        ({"x": 1}, {"x": 1.0}, []),
        ({"x": None}, {"x": False}, [{"op": "replace", "path": "/x", "value": False}]),
    ],
)
def test_diff_produces_these_operations(source: Any, target: Any, patch: list[Any]) -> None:
    assert diff(source, target) == patch
    assert same(apply(source, patch), target)


def test_apply_does_not_change_its_argument() -> None:
    source = {"a": [1, {"b": 2}]}
    apply(source, [{"op": "replace", "path": "/a/1/b", "value": 3}])
    assert source == {"a": [1, {"b": 2}]}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ([{"op": "remove", "path": "/missing"}], "operation 0 (remove): no member 'missing'"),
        (
            [{"op": "replace", "path": "/a/5", "value": 1}],
            "operation 0 (replace): index 5 is out of range",
        ),
        (
            [{"op": "add", "path": "/a/01", "value": 1}],
            "operation 0 (add): '01' is not an array index",
        ),
        ([{"op": "test", "path": "/a/0", "value": 2}], "operation 0 (test): test failed"),
        (
            [{"op": "move", "path": "/a", "from": "/b"}],
            "operation 0 (move): unsupported operation 'move'",
        ),
        ([{"op": "add", "path": "a", "value": 1}], "operation 0 (add): 'a' is not a JSON Pointer"),
    ],
)
def test_apply_rejects_bad_patches(patch: list[Any], message: str) -> None:
    with pytest.raises(PatchError) as raised:
        apply({"a": [1]}, patch)
    assert str(raised.value) == message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text("ab~/", max_size=2),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text("ab~/", max_size=2), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(json_values, json_values)
def test_applying_the_diff_yields_the_target(source: Any, target: Any) -> None:
    patch = diff(source, target)
    assert same(apply(source, patch), target)
    assert (patch == []) == same(source, target)
