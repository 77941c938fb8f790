"""Random templates and contexts for the differential test against handlebars.js."""

from __future__ import annotations

import random
from typing import Any

KEYS = ("a", "b", "n", "s", "flag", "items", "obj", "empty", "nil", "zero", "f")
STRINGS = ("x", "Hello", "a<b>&c", "\"q\" 'q' `q` =", "", " sp ", "line\nbreak", "0")
NUMBERS = (0, 1, -3, 42, 2.5, -0.5, 1e21, 1e-7, 100000, 0.1, 3.0)
PARTIALS = {
    "p1": "[{{a}}|{{n}}]",
    "p2": "{{#each items}}<{{> p1}}>{{/each}}",
    "p3": "line1\n{{s}}\nline3\n",
}
HELPER_ARITY = {
    "eq": 2,
    "ne": 2,
    "gt": 2,
    "gte": 2,
    "lt": 2,
    "lte": 2,
    "not": 1,
    "abs": 1,
    "default": 2,
    "len": 1,
    "upper": 1,
    "lower": 1,
    "round": 1,
    "lookup": 2,
    "json": 1,
}


def value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(STRINGS)
    if roll < 0.55:
        return rng.choice(NUMBERS)
    if roll < 0.65:
        return rng.choice((True, False, None))
    if depth >= 2:
        return rng.choice(STRINGS)
    if roll < 0.82:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {key: value(rng, depth + 1) for key in rng.sample(KEYS, rng.randint(0, 4))}


def context(rng: random.Random) -> dict[str, Any]:
    ctx: dict[str, Any] = {key: value(rng) for key in KEYS if rng.random() < 0.8}
    ctx["items"] = [
        {k: value(rng, 1) for k in rng.sample(KEYS, 3)} for _ in range(rng.randint(0, 3))
    ]
    ctx["obj"] = {"a": value(rng, 1), "n": rng.choice(NUMBERS), "k2": value(rng, 1)}
    ctx["empty"], ctx["nil"], ctx["zero"] = [], None, 0
    return ctx


class Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def path(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.55:
            return rng.choice(KEYS)
        if roll < 0.7:
            return f"{rng.choice(('obj', 'items', 'a', 's'))}.{rng.choice(('a', 'n', 'length', '0', 'k2'))}"
        if roll < 0.78:
            return rng.choice(("this", ".", "this.a", "./n"))
        if roll < 0.88:
            return f"../{rng.choice(KEYS)}"
        return f"@root.{rng.choice(KEYS)}"

    def param(self, depth: int) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.5:
            return self.path()
        if roll < 0.75:
            return rng.choice(('"str"', "'<&>'", "1", "-2.5", "0", "true", "false", "null"))
        if roll < 0.85:
            return rng.choice(("@index", "@key", "@first", "@last"))
        if depth < 3:
            return f"({self.call(depth + 1)})"
        return self.path()

    def call(self, depth: int) -> str:
        rng = self.rng
        name = rng.choice((*HELPER_ARITY, "and", "or", "join"))
        if name in ("and", "or"):
            count = rng.randint(1, 3)
        elif name == "join":
            count = rng.randint(1, 2)
        else:
            count = HELPER_ARITY[name]
        return " ".join([name, *(self.param(depth) for _ in range(count))])

    def text(self) -> str:
        return self.rng.choice(("", " ", "x", "\n", "  \n", " - ", "<p>", "\n  ", "a\\b"))

    def ws(self) -> tuple[str, str]:
        rng = self.rng
        return ("~" if rng.random() < 0.15 else "", "~" if rng.random() < 0.15 else "")

    def statement(self, depth: int) -> str:
        rng = self.rng
        roll = rng.random()
        left, right = self.ws()
        if roll < 0.3 or depth >= 3:
            opener = rng.choice(("{{", "{{", "{{{", "{{&"))
            inner = self.path() if rng.random() < 0.6 else self.call(depth)
            if opener == "{{{":
                return "{{" + left + "{" + inner + "}" + right + "}}"
            return opener + left + inner + right + "}}"
        if roll < 0.36:
            return rng.choice(("{{! note }}", "{{!-- {{x}} --}}", "\n{{! standalone }}\n"))
        if roll < 0.42:
            return rng.choice(
                ("{{> p1}}", "{{> p1 obj}}", "{{> p1 a=s n=1}}", "\n  {{> p3}}\n", "{{> p2}}")
            )
        nl = "\n" if rng.random() < 0.3 else ""
        body = self.program(depth + 1)
        other = self.program(depth + 1)
        kind = rng.choice(("if", "unless", "each", "with", "section", "inverted", "ifelse"))
        if kind in ("if", "unless"):
            cond = self.param(depth) if rng.random() < 0.7 else f"({self.call(depth)})"
            tail = f"{{{{else}}}}{nl}{other}" if rng.random() < 0.5 else ""
            return f"{{{{{left}#{kind} {cond}{right}}}}}{nl}{body}{tail}{{{{/{kind}}}}}{nl}"
        if kind == "ifelse":
            return (
                f"{{{{#if {self.param(depth)}}}}}{body}{{{{else if {self.param(depth)}}}}}"
                f"{nl}{other}{{{{else}}}}{self.text()}{{{{/if}}}}"
            )
        if kind == "each":
            target = rng.choice(("items", "obj", "a", "s", "empty", "nil", "this", "items.[0]"))
            params = " as |v i|" if rng.random() < 0.2 else ""
            extra = rng.choice(
                ("{{@index}}", "{{@key}}:", "{{#if @last}}.{{/if}}", "{{v}}{{i}}", "")
            )
            extra = extra if params or "v}" not in extra else ""
            tail = f"{{{{else}}}}{other}" if rng.random() < 0.4 else ""
            return f"{nl}{{{{#each {target}{params}}}}}{nl}{extra}{body}{tail}{{{{/each}}}}{nl}"
        if kind == "with":
            target = rng.choice(("obj", "a", "items", "nil", "n"))
            return f"{{{{#with {target}}}}}{body}{{{{else}}}}{other}{{{{/with}}}}"
        name = rng.choice(("flag", "a", "items", "obj", "s", "n", "zero", "empty"))
        if kind == "section":
            return f"{{{{#{name}}}}}{nl}{body}{{{{/{name}}}}}"
        return f"{{{{^{name}}}}}{body}{{{{/{name}}}}}"

    def program(self, depth: int) -> str:
        parts = [self.text()]
        for _ in range(self.rng.randint(0, 3 if depth < 2 else 1)):
            parts.append(self.statement(depth))
            parts.append(self.text())
        return "".join(parts)


def cases(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    builder = Builder(rng)
    return [
        {
            "source": builder.program(0),
            "context": context(rng),
            "escape": rng.random() < 0.5,
            "strict": rng.random() < 0.05,
            "partials": PARTIALS,
        }
        for _ in range(count)
    ]
