"""The hand-written parts against the libraries that do the same: speed on our workload,
conformance where they differ, and safety with tenant-authored input.

Run: `.venv/bin/python -m bench.handwritten` (no database; jsonschema, jsonschema_rs and jsonpatch
from the dev extra). Every case that may hang or crash runs in a child process with a time limit;
the only server contacted is one this benchmark starts on 127.0.0.1.

- JSON Schema (`renewflow.llm.schema`, which checks every LLM answer against its step's outputs
  schema, tenant-authored): against `jsonschema` (Draft 2020-12, pure Python) and `jsonschema_rs`
  (Rust). Workload: every outputs schema of the core workflow library and the email-draft
  processor's, each with four answers the mock provider generates for it and two broken ones
  (a required property dropped, a property of the wrong type). The libraries compile a schema
  into a validator: timed once compiled (a cache per workflow version) and built per call.
- JSON Patch (`renewflow.workflows.jsonpatch`, the diff between two workflow versions): against
  `jsonpatch.make_patch`, on the core workflows with the edits an author makes; each patch is
  checked by applying it with the other implementation.
- JSON Merge Patch (`renewflow.settings.patch.merge_patch`, the tenant settings' PATCH): the
  examples of RFC 7396, appendix A.
"""

from __future__ import annotations

import argparse
import copy
import http.server
import json
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonpatch as lib_patch
import jsonschema  # type: ignore[import-untyped]  # no stubs; a benchmark only
import jsonschema_rs
import referencing

from renewflow.llm.mock import generate
from renewflow.llm.schema import validate
from renewflow.settings.patch import merge_patch
from renewflow.tasks.processors.email_draft import DRAFT_SCHEMA
from renewflow.workflows import jsonpatch as our_patch
from renewflow.workflows.files import core_library

ROOT = Path(__file__).resolve().parents[1]
Schema = dict[str, Any]
Check = Callable[[Any], list[str]]

# -- JSON Schema: the validators ----------------------------------------------------------------


def _ours(schema: Schema) -> Check:
    return lambda instance: validate(instance, schema)


def _jsonschema(schema: Schema, *, registry: bool = True) -> Check:
    """Draft 2020-12 with an empty registry (no `$ref` leaves the schema), or (`registry=False`)
    as the library behaves when none is given."""
    if registry:
        validator = jsonschema.Draft202012Validator(schema, registry=referencing.Registry())
    else:
        validator = jsonschema.Draft202012Validator(schema)
    return lambda instance: [error.message for error in validator.iter_errors(instance)]


def _jsonschema_rs(schema: Schema, *, offline: bool = True) -> Check:
    """With retrieval of `$ref`s off (`offline`), or as the library behaves by default."""
    validator = jsonschema_rs.validator_for(schema, offline=offline)
    return lambda instance: [error.message for error in validator.iter_errors(instance)]


VALIDATORS: dict[str, Callable[[Schema], Check]] = {
    "renewflow": _ours,
    "jsonschema": _jsonschema,
    "jsonschema_rs": _jsonschema_rs,
}
# as each library behaves without options (the safety cases show why the options matter)
DEFAULTS: dict[str, Callable[[Schema], Check]] = {
    "renewflow": _ours,
    "jsonschema (defaults)": lambda s: _jsonschema(s, registry=False),
    "jsonschema_rs (defaults)": lambda s: _jsonschema_rs(s, offline=False),
}
# with the options that keep every `$ref` inside the schema
HARDENED: dict[str, Callable[[Schema], Check]] = {
    "jsonschema (empty registry)": _jsonschema,
    "jsonschema_rs (offline=True)": _jsonschema_rs,
}


def _outcome(make: Callable[[Schema], Check], schema: Schema, instance: Any) -> str:
    try:
        errors = make(schema)(instance)
    except RecursionError:
        return "error: RecursionError"
    except Exception as error:
        kind = type(error)
        module = "" if kind.__module__ == "builtins" else f"{kind.__module__.split('.')[0]}."
        return f"error: {module}{kind.__name__}"
    return "invalid" if errors else "valid"


# -- JSON Schema: speed ---------------------------------------------------------------------------


def schema_workload() -> list[tuple[Schema, list[Any]]]:
    """Each outputs schema of the core library (and the email draft's), with four generated
    answers and two broken ones."""
    schemas = [
        step.execution.outputs
        for config in core_library()
        for step in config.steps
        if step.execution.outputs
    ]
    schemas.append(DRAFT_SCHEMA)
    workload = []
    for schema in schemas:
        answers = [generate(schema, f"seed-{k}") for k in range(4)]
        missing = copy.deepcopy(answers[0])
        if schema.get("required"):
            missing.pop(schema["required"][0], None)
        wrong = copy.deepcopy(answers[1])
        name = next(iter(schema["properties"]))
        wrong[name] = {"unexpected": [1, 2]}
        workload.append((schema, [*answers, missing, wrong]))
    return workload


def _per_second(work: Callable[[], int], seconds: float) -> float:
    work()  # warm-up
    best = 0.0
    for _ in range(3):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            count += work()
        best = max(best, count / elapsed)
    return best


def schema_speed(seconds: float) -> dict[str, float]:
    workload = schema_workload()
    for schema, instances in workload:  # every validator agrees on the workload
        for instance in instances:
            verdicts = {name: not make(schema)(instance) for name, make in VALIDATORS.items()}
            if len(set(verdicts.values())) != 1:
                raise RuntimeError(f"validators disagree on {instance!r}: {verdicts}")
    compiled = {
        name: [(make(schema), instances) for schema, instances in workload]
        for name, make in VALIDATORS.items()
        if name != "renewflow"
    }

    def run_compiled(checks: list[tuple[Check, list[Any]]]) -> Callable[[], int]:
        def work() -> int:
            n = 0
            for check, instances in checks:
                for instance in instances:
                    check(instance)
                    n += 1
            return n

        return work

    def run_building(make: Callable[[Schema], Check]) -> Callable[[], int]:
        def work() -> int:
            n = 0
            for schema, instances in workload:
                for instance in instances:
                    make(schema)(instance)
                    n += 1
            return n

        return work

    return {
        "renewflow.llm.schema": _per_second(run_building(_ours), seconds),
        "jsonschema, compiled once": _per_second(run_compiled(compiled["jsonschema"]), seconds),
        "jsonschema, built per call": _per_second(run_building(_jsonschema), seconds),
        "jsonschema_rs, compiled once": _per_second(
            run_compiled(compiled["jsonschema_rs"]), seconds
        ),
        "jsonschema_rs, built per call": _per_second(run_building(_jsonschema_rs), seconds),
    }


# -- JSON Schema: conformance ---------------------------------------------------------------------

# (what, schema, instance, what JSON Schema 2020-12 says)
CONFORMANCE: list[tuple[str, Schema, Any, str]] = [
    ("`uniqueItems`: 1 and 1.0 are equal", {"uniqueItems": True}, [1, 1.0], "invalid"),
    ("`enum`: true is not 1 inside an array", {"enum": [[1, True]]}, [1, 1], "invalid"),
    ("`const`: true is not 1 inside an object", {"const": {"a": True}}, {"a": 1}, "invalid"),
    ("`integer`: 1.0 is an integer", {"type": "integer"}, 1.0, "valid"),
    ("`multipleOf` 0.01 of 0.07", {"multipleOf": 0.01}, 0.07, "valid"),
    ("`format` is an annotation by default", {"format": "email"}, "not an address", "valid"),
    ("`maxLength` counts code points", {"maxLength": 1}, "\U0001f600", "valid"),
    ("`pattern` is ECMA-262: `\\d` is ASCII", {"pattern": "^\\d+$"}, "\u0663\u0664", "invalid"),
    ("`pattern` with `\\p{L}` (ECMA-262 u)", {"pattern": "^\\p{L}+$"}, "\u00e9t\u00e9", "valid"),
    (
        "`$ref: #` (the root, a tree)",
        {"properties": {"c": {"$ref": "#"}}},
        {"c": {"c": {}}},
        "valid",
    ),
    (
        "`$ref` beside other keywords",
        {"$defs": {"s": {"type": "string"}}, "$ref": "#/$defs/s", "maxLength": 2},
        "abc",
        "invalid",
    ),
    (
        "`patternProperties` with `additionalProperties: false`",
        {"patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": False},
        {"x1": 1},
        "valid",
    ),
    ("`minProperties`", {"minProperties": 1}, {}, "invalid"),
    ("`contains`", {"contains": {"const": 1}}, [2, 3], "invalid"),
    (
        "`if` / `then`",
        {"if": {"properties": {"a": {"const": 1}}}, "then": {"required": ["b"]}},
        {"a": 1},
        "invalid",
    ),
    ("an unknown `type` name", {"type": "text"}, "x", "error"),
]


def conformance() -> list[tuple[str, str, dict[str, str]]]:
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for what, schema, instance, expected in CONFORMANCE:
            rows.append(
                (
                    what,
                    expected,
                    {name: _outcome(make, schema, instance) for name, make in VALIDATORS.items()},
                )
            )
    return rows


# -- JSON Schema: safety, each case in a child process ------------------------------------------


class _Counting(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        body = json.dumps({"const": "fetched from the network"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/schema+json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _local_server() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/schema.json"
    finally:
        server.shutdown()


def _child(validator: str, schema: Schema, instance: Any, timeout: float) -> tuple[str, float]:
    """Validates in a child process: its verdict (with the first error's text) and seconds, or
    `timeout`, or the signal that killed it."""
    payload = json.dumps({"validator": validator, "schema": schema, "instance": instance})
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.handwritten", "--child"],
            input=payload,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return f"still running after {timeout:g} s (killed)", timeout
    seconds = time.perf_counter() - start
    if done.returncode < 0:
        return f"crashed (signal {-done.returncode})", seconds
    if done.returncode != 0:
        return f"crashed (exit {done.returncode})", seconds
    answer = json.loads(done.stdout)
    return answer["verdict"], answer["seconds"]


def _run_child() -> None:
    """`--child`: one validation from stdin, its verdict and time on stdout."""
    request = json.loads(sys.stdin.read())
    make = {**DEFAULTS, **HARDENED}[request["validator"]]
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    try:
        errors = make(request["schema"])(request["instance"])
        verdict = f"invalid: {errors[0][:70]}" if errors else "valid"
    except RecursionError:
        verdict = "error: RecursionError"
    except Exception as error:
        verdict = f"error: {type(error).__name__}: {str(error).splitlines()[0][:60]}"
    print(json.dumps({"verdict": verdict, "seconds": time.perf_counter() - start}))


def _nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"c": value}
    return value


def safety(redos_length: int) -> list[tuple[str, str, float, str]]:
    """(case, validator, seconds, what happened) for the tenant-authored inputs that hurt."""
    rows: list[tuple[str, str, float, str]] = []
    node = {"$defs": {"n": {"type": "object", "properties": {"c": {"$ref": "#/$defs/n"}}}}}
    with tempfile.TemporaryDirectory() as temp, _local_server() as url:
        secret = Path(temp, "secret.json")
        secret.write_text(json.dumps({"const": "read from the server's disk"}))
        # (case, schema, answer, time limit, whether the hardened options change it)
        cases: list[tuple[str, Schema, Any, float, bool]] = [
            (
                "`$ref` to an http URL (a server on 127.0.0.1)",
                {"properties": {"a": {"$ref": url}}},
                {"a": 1},
                10.0,
                True,
            ),
            (
                "`$ref` to a file:// URL of the server's disk",
                {"properties": {"a": {"$ref": secret.as_uri()}}},
                {"a": 1},
                10.0,
                True,
            ),
            (
                f"`pattern: ^(a+)+$`, {redos_length} a's and a '!'",
                {"pattern": "^(a+)+$"},
                "a" * redos_length + "!",
                20.0,
                False,
            ),
            (
                "`pattern: ^(a+)+$`, 40 a's and a '!'",
                {"pattern": "^(a+)+$"},
                "a" * 40 + "!",
                5.0,
                False,
            ),
            (
                "a `$ref` cycle (`a` -> `a`)",
                {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
                {},
                10.0,
                False,
            ),
        ]
        for depth in (60, 900):
            schema = {**node, "$ref": "#/$defs/n"}
            case = f"recursive schema, answer nested {depth} deep"
            cases.append((case, schema, _nested(depth), 10.0, False))
        for case, schema, instance, timeout, hardened in cases:
            for name in [*DEFAULTS, *(HARDENED if hardened else ())]:
                before = _Counting.hits
                verdict, seconds = _child(name, schema, instance, timeout)
                if _Counting.hits > before:
                    verdict += f" ({_Counting.hits - before} request(s) to the URL)"
                rows.append((case, name, seconds, verdict))
    return rows


# -- JSON Patch -----------------------------------------------------------------------------------


def _edits(config: dict[str, Any], other: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A workflow config after each of the edits an author makes."""
    edits: dict[str, dict[str, Any]] = {}
    steps = config["steps"]
    prompted = next((i for i, s in enumerate(steps) if s["execution"].get("llmPrompt")), None)
    if prompted is not None:
        edited = copy.deepcopy(config)
        edited["steps"][prompted]["execution"]["llmPrompt"] += "\nBe concise."
        edits["one prompt edited"] = edited
    inserted = copy.deepcopy(config)
    extra = copy.deepcopy(steps[0])
    extra["id"] = "added-step"
    inserted["steps"].insert(min(1, len(steps)), extra)
    edits["a step inserted"] = inserted
    if len(steps) > 1:
        removed = copy.deepcopy(config)
        del removed["steps"][0]
        edits["the first step removed"] = removed
        swapped = copy.deepcopy(config)
        swapped["steps"][0], swapped["steps"][1] = swapped["steps"][1], swapped["steps"][0]
        edits["two steps swapped"] = swapped
    bumped = copy.deepcopy(config)
    bumped["version"] = "9.9.9"
    bumped["description"] = str(bumped.get("description", "")) + " (revised)"
    edits["version and description"] = bumped
    edits["another workflow"] = copy.deepcopy(other)
    return edits


def patch_workload() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    configs = [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in core_library()]
    pairs = []
    for i, config in enumerate(configs):
        other = configs[(i + 1) % len(configs)]
        for edit, target in _edits(config, other).items():
            pairs.append((edit, config, target))
    return pairs


def _lib_apply(document: Any, patch: list[dict[str, Any]]) -> Any:
    return lib_patch.apply_patch(document, patch)


def patch_comparison(seconds: float) -> dict[str, Any]:
    pairs = patch_workload()
    by_edit: dict[str, dict[str, int]] = {}
    ours_apply_theirs_fails = 0
    for edit, source, target in pairs:
        ours = our_patch.diff(source, target)
        theirs = lib_patch.make_patch(source, target).patch
        if _lib_apply(source, ours) != target:
            raise RuntimeError(f"jsonpatch does not apply our patch for {edit!r} as intended")
        if our_patch.apply(source, ours) != target:
            raise RuntimeError(f"our patch for {edit!r} does not give the target")
        try:
            if our_patch.apply(source, theirs) != target:
                ours_apply_theirs_fails += 1
        except our_patch.PatchError:
            ours_apply_theirs_fails += 1  # `move` / `copy`: our apply reads our own output only
        row = by_edit.setdefault(edit, {"ours": 0, "theirs": 0, "ours_b": 0, "theirs_b": 0})
        row["ours"] += len(ours)
        row["theirs"] += len(theirs)
        row["ours_b"] += len(json.dumps(ours))
        row["theirs_b"] += len(json.dumps(theirs))

    def diffs(make: Callable[[Any, Any], Any]) -> Callable[[], int]:
        def work() -> int:
            for _, source, target in pairs:
                make(source, target)
            return len(pairs)

        return work

    speed = {
        "renewflow.workflows.jsonpatch.diff": _per_second(diffs(our_patch.diff), seconds),
        "jsonpatch.make_patch": _per_second(diffs(lib_patch.make_patch), seconds),
    }
    return {
        "pairs": len(pairs),
        "by_edit": by_edit,
        "speed": speed,
        "ours_apply_theirs_fails": ours_apply_theirs_fails,
    }


# RFC 6902 appendix A (and two of section 4's rules); None: the patch must be refused
RFC6902: list[tuple[str, Any, list[dict[str, Any]], Any]] = [
    (
        "A.1 add an object member",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
    ),
    (
        "A.2 add an array element",
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    (
        "A.3 remove an object member",
        {"baz": "qux", "foo": "bar"},
        [{"op": "remove", "path": "/baz"}],
        {"foo": "bar"},
    ),
    (
        "A.4 remove an array element",
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
    ),
    (
        "A.5 replace a value",
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        "A.6 move a value",
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        "A.8 test a value: success",
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (
        "A.9 test a value: error",
        {"baz": "qux"},
        [{"op": "test", "path": "/baz", "value": "bar"}],
        None,
    ),
    (
        "A.12 add to a nonexistent target",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz/bat", "value": "qux"}],
        None,
    ),
    (
        "A.14 ~ escape ordering",
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": 10}],
        {"/": 9, "~1": 10},
    ),
    (
        "A.15 comparing strings and numbers",
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": "10"}],
        None,
    ),
    (
        "A.16 add an array value with `-`",
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
    (
        "an index with a leading zero",
        {"foo": [1, 2]},
        [{"op": "replace", "path": "/foo/01", "value": 3}],
        None,
    ),
    ("test: true is not 1", {"a": 1}, [{"op": "test", "path": "/a", "value": True}], None),
]


def patch_conformance() -> list[tuple[str, str, str]]:
    rows = []
    for what, document, patch, expected in RFC6902:
        verdicts = []
        for apply in (our_patch.apply, _lib_apply):
            try:
                result = apply(copy.deepcopy(document), patch)
                ok = expected is not None and result == expected
                verdicts.append("as the RFC" if ok else f"wrong: {json.dumps(result)[:40]}")
            except Exception as error:
                ok = expected is None
                verdicts.append(
                    "refused, as the RFC" if ok else f"refused ({type(error).__name__})"
                )
        rows.append((what, verdicts[0], verdicts[1]))
    return rows


def patch_safety() -> list[tuple[str, str, str]]:
    """Large and deep documents (a tenant's own workflow config): seconds, or what failed."""
    rows = []
    big = [{"id": f"s{i}", "n": i} for i in range(2000)]
    cases = [
        ("2,000-item list reversed", {"a": big}, {"a": big[::-1]}),
        (
            "2,000-item list, one item inserted at the front",
            {"a": big},
            {"a": [{"id": "new"}, *big]},
        ),
        (
            "nested 64 deep (the API's JSON limit), leaf changed",
            _nested(64),
            _leaf_changed(_nested(64)),
        ),
        ("nested 900 deep, leaf changed", _nested(900), _leaf_changed(_nested(900))),
    ]
    for what, source, target in cases:
        verdicts = []
        for make in (our_patch.diff, lambda a, b: lib_patch.make_patch(a, b).patch):
            start = time.perf_counter()
            try:
                ops = make(source, target)
                verdicts.append(f"{time.perf_counter() - start:.3f} s, {len(ops)} ops")
            except RecursionError:
                verdicts.append("RecursionError")
        rows.append((what, verdicts[0], verdicts[1]))
    return rows


def _leaf_changed(value: Any) -> Any:
    node = value
    while node.get("c"):
        node = node["c"]
    node["leaf"] = True
    return value


# RFC 7396 appendix A: (target, patch, result)
RFC7396: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


# -- the report -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.5, help="per timed implementation")
    parser.add_argument("--redos-length", type=int, default=26)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _run_child()
        return
    versions = {name: _version(name) for name in ("jsonschema", "jsonschema-rs", "jsonpatch")}
    print(f"Python {sys.version.split()[0]}, " + ", ".join(f"{k} {v}" for k, v in versions.items()))

    workload = schema_workload()
    print(f"\n## JSON Schema: speed ({len(workload)} schemas x 6 answers)\n")
    speed = schema_speed(args.seconds)
    ours = speed["renewflow.llm.schema"]
    print("| validator | validations/s | µs each | vs renewflow |")
    print("| --- | ---: | ---: | ---: |")
    for name, rate in speed.items():
        print(f"| {name} | {rate:,.0f} | {1e6 / rate:.1f} | {rate / ours:.2f}x |")

    print("\n## JSON Schema: conformance (Draft 2020-12)\n")
    print("| case | the spec | " + " | ".join(VALIDATORS) + " |")
    print("| --- | --- |" + " --- |" * len(VALIDATORS))
    agree = dict.fromkeys(VALIDATORS, 0)
    rows = conformance()
    for what, expected, outcomes in rows:
        cells = []
        for name, outcome in outcomes.items():
            right = outcome.split(":")[0] == expected
            agree[name] += right
            cells.append(f"{outcome} {'✓' if right else '✗'}")
        print(f"| {what} | {expected} | " + " | ".join(cells) + " |")
    print(
        "| **as the spec** | | " + " | ".join(f"**{agree[n]}/{len(rows)}**" for n in agree) + " |"
    )

    print("\n## JSON Schema: safety with tenant-authored schemas (defaults, child processes)\n")
    print("| case | validator | seconds | outcome |")
    print("| --- | --- | ---: | --- |")
    for case, name, seconds, verdict in safety(args.redos_length):
        print(f"| {case} | {name} | {seconds:.3f} | {verdict} |")

    print("\n## JSON Patch: the diff of two workflow versions\n")
    result = patch_comparison(args.seconds)
    print(f"{result['pairs']} pairs (8 core workflows x the edits below)\n")
    print("| edit | ops, renewflow | ops, jsonpatch | bytes, renewflow | bytes, jsonpatch |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for edit, row in result["by_edit"].items():
        print(
            f"| {edit} | {row['ours']} | {row['theirs']} | {row['ours_b']:,} | {row['theirs_b']:,} |"
        )
    base = result["speed"]["renewflow.workflows.jsonpatch.diff"]
    print("\n| diff | diffs/s | vs renewflow |")
    print("| --- | ---: | ---: |")
    for name, rate in result["speed"].items():
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f}x |")
    print(
        f"\njsonpatch applies every patch of ours to the intended result; our `apply` "
        f"(add/remove/replace/test only) cannot apply {result['ours_apply_theirs_fails']} of "
        f"{result['pairs']} of jsonpatch's (they use `move`/`copy`)."
    )
    print("\n| RFC 6902 case | renewflow `apply` | jsonpatch.apply_patch |")
    print("| --- | --- | --- |")
    for what, ours_verdict, theirs_verdict in patch_conformance():
        print(f"| {what} | {ours_verdict} | {theirs_verdict} |")
    print("\n| large or deep document | renewflow diff | jsonpatch.make_patch |")
    print("| --- | --- | --- |")
    for what, ours_verdict, theirs_verdict in patch_safety():
        print(f"| {what} | {ours_verdict} | {theirs_verdict} |")

    merged = sum(merge_patch(t, p) == r for t, p, r in RFC7396)
    print(f"\n## JSON Merge Patch: RFC 7396 appendix A: {merged}/{len(RFC7396)} as the RFC")


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
