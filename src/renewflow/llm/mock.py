"""The mock provider: deterministic, offline, and schema-valid.

The same request always gets the same answer: every value is derived from a SHA-256 of the request
(system and user prompt, model and schema) and of the value's path in the output, so different
prompts give different answers and the same prompt gives the same one across processes.

With the workflow context the prompt was rendered from (`LLMRequest.context`), the answer reads
like an analysis of that customer: values are chosen by their property's name (`riskScore`,
`overallHealth`, `usageTrend`, `missingData`, `summary`, `nextSteps`, `escalate`...) from the
context's facts — risk score, usage trend, contacts, days left, ARR, name. Each such value is
checked against its own schema and replaced by the plain generator's when it does not fit, so the
answer is as valid as without a context. Names no heuristic knows get the plain generator's value.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from renewflow.llm.errors import LLMBadResponse
from renewflow.llm.models import LLMRequest, LLMResponse
from renewflow.llm.schema import resolve_ref, validate

_FORMATS = {
    "date": "2026-01-{day:02d}",
    "date-time": "2026-01-{day:02d}T09:00:00Z",
    "email": "contact-{tag}@example.com",
    "uri": "https://example.com/{tag}",
    "uuid": "{uuid}",
}


class MockProvider:
    """Answers without a network. See `LLMProvider` for the contract."""

    name = "mock"
    # answers in this process, without a network: nothing to release a connection for
    in_process = True

    def __init__(self, default_model: str = "mock") -> None:
        self.default_model = default_model

    def close(self) -> None:
        pass

    def complete(self, request: LLMRequest) -> LLMResponse:
        model = request.model or self.default_model
        seed = hashlib.sha256(
            json.dumps(
                [request.system, request.prompt, model, request.json_schema],
                sort_keys=True,
                ensure_ascii=False,
            ).encode("utf-8")
        ).hexdigest()
        parsed: Any = None
        if request.json_schema is not None:
            try:
                parsed = generate(request.json_schema, seed, context=request.context)
            except ValueError as error:
                raise LLMBadResponse(f"mock: cannot answer this schema: {error}") from None
            text = json.dumps(parsed, ensure_ascii=False)
        elif request.context is not None:
            text = _Facts.of(request.context).analysis(_hash(seed, "$"))
        else:
            text = f"Mock answer {seed[:12]}."
        return LLMResponse(
            text=text,
            model=model,
            parsed=parsed,
            input_tokens=_tokens(request.system) + _tokens(request.prompt),
            output_tokens=_tokens(text),
            latency_ms=0,
            finish_reason="stop",
            provider=self.name,
        )

    def chat(self, request: Any, on_delta: Callable[[str], None] | None = None) -> Any:
        """The next assistant turn of a chat (`renewflow.llm.chat.ChatRequest`), decided by
        `mock_turn`: the same conversation always gets the same turn."""
        from renewflow.llm.chat import ChatResponse, ToolCall

        user_text, results = _last_turn(request.messages)
        names = [t.name for t in request.tools]
        text, calls = mock_turn(user_text, results, names, context=request.context)
        seed = hashlib.sha256(
            json.dumps([request.system, user_text, len(request.messages)]).encode()
        ).hexdigest()
        tool_calls = tuple(
            ToolCall(f"call_{seed[:8]}_{i}", name, args, json.dumps(args))
            for i, (name, args) in enumerate(calls)
        )
        if on_delta is not None and text:
            for piece in re.findall(r"\S+\s*", text):
                on_delta(piece)
        sent = request.system + "".join(m.content for m in request.messages)
        return ChatResponse(
            text=text,
            tool_calls=tool_calls,
            model=request.model or self.default_model,
            input_tokens=_tokens(sent),
            output_tokens=_tokens(text) + sum(_tokens(json.dumps(a)) for _, a in calls),
            finish_reason="tool_calls" if tool_calls else "stop",
            provider=self.name,
        )


# -- chat: deterministic tool calls -------------------------------------------------------------

# `[[tool:<name> {json arguments}]]` in a user message makes the mock call exactly that tool, with
# exactly those arguments (even an unknown tool, or arguments that are not an object): tests use it
# to drive the tool loop's refusals.
_DIRECTIVE = re.compile(r"\[\[tool:([A-Za-z0-9_.-]+)\s*(.*?)\]\]", re.S)
_CHART_WORDS = ("chart", "plot", "graph")
_QUERY_WORDS = (
    ("renewal history", "renewals_history"),
    ("history", "renewals_history"),
    ("contract", "contracts"),
    ("usage", "usage"),
    ("task", "tasks"),
)
_SEARCH_WORDS = ("search", "document", "knowledge", "policy", "playbook", "guide")
_CITATION = re.compile(r"^\[(\d+)\]", re.M)


def _last_turn(messages: Any) -> tuple[str, list[tuple[str, str, bool]]]:
    """The latest user message, and the tool results that came after it (name, text, error)."""
    names: dict[str, str] = {}
    results: list[tuple[str, str, bool]] = []
    user_text = ""
    for message in messages:
        if message.role == "user":
            user_text, results = message.content, []
        elif message.role == "assistant":
            names.update({c.id: c.name for c in message.tool_calls})
        elif message.role == "tool":
            name = names.get(message.tool_call_id or "", "tool")
            results.append((name, message.content, message.is_error))
    return user_text, results


def mock_turn(
    user_text: str,
    tool_results: list[tuple[str, str, bool]],
    tool_names: list[str],
    *,
    context: Mapping[str, Any] | None = None,
) -> tuple[str, list[tuple[str, Any]]]:
    """The mock's next turn: (text, tool calls as (name, arguments)). Tools are called only
    before any result came back in this turn, so the loop always ends with a text answer:

    - a `[[tool:name {...}]]` directive calls that tool with those arguments;
    - "chart", "plot", "graph" call create_chart; "contract", "usage", "task", "history" call
      database_query with the matching named query; "search", "document", "policy"... call
      rag_search with the question;
    - otherwise (or once results are back) the answer is text: what the tools returned, and the
      knowledge passages the question carried, cited by their numbers.
    """
    lowered = user_text.lower()
    if not tool_results:
        found = _DIRECTIVE.search(user_text)
        if found is not None:
            try:
                args: Any = json.loads(found.group(2)) if found.group(2).strip() else {}
            except json.JSONDecodeError:
                args = found.group(2)
            return "", [(found.group(1), args)]
        calls: list[tuple[str, Any]] = []
        if "create_chart" in tool_names and any(w in lowered for w in _CHART_WORDS):
            calls.append(
                (
                    "create_chart",
                    {
                        "type": "bar",
                        "title": "Usage by month",
                        "labels": ["Jan", "Feb", "Mar"],
                        "series": [{"name": "active users", "data": [120, 135, 128]}],
                    },
                )
            )
        elif "database_query" in tool_names:
            for word, query in _QUERY_WORDS:
                if word in lowered:
                    calls.append(("database_query", {"query": query}))
                    break
        if not calls and "rag_search" in tool_names and any(w in lowered for w in _SEARCH_WORDS):
            question = _DIRECTIVE.sub("", user_text).strip()[:200] or "renewal"
            calls.append(("rag_search", {"query": question}))
        if calls:
            return "", calls
    parts = []
    question = user_text.split("\n", 1)[0].strip()
    if len(question) > 120:
        question = question[:117] + "..."
    name = None
    if context is not None:
        customer = context.get("customer")
        if isinstance(customer, Mapping):
            name = customer.get("name")
    parts.append(f"About {name}: " if name else "")
    parts.append(f"you asked {question!r}.")
    for tool, text, failed in tool_results:
        if failed:
            parts.append(f" The {tool} tool failed: {text[:200]}.")
        else:
            parts.append(f" The {tool} tool returned {_summary(text)}.")
    cited = sorted({int(n) for n in _CITATION.findall(user_text)})
    if cited:
        parts.append(" The knowledge base says so " + "".join(f"[{n}]" for n in cited) + ".")
    return "".join(parts), []


def _summary(text: str) -> str:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return f"{len(text)} characters"
    if isinstance(value, dict):
        for key in ("rows", "results", "chunks"):
            if isinstance(value.get(key), list):
                return f"{len(value[key])} {key}"
        if "chartId" in value or "messageId" in value:
            return "a chart"
    return "an answer"


def generate(schema: dict[str, Any], seed: str, *, context: Mapping[str, Any] | None = None) -> Any:
    """A value valid against `schema` (the subset in `renewflow.llm.schema`), fixed by `seed`.

    Objects get every listed property (required ones always), enums a stable member, numbers a
    value within their bounds, arrays 1-2 items (within minItems/maxItems), strings a readable
    token derived from the seed. `pattern` is not generated for: such strings may not match it.

    With a workflow `context`, properties whose names the heuristics know get values derived
    from the customer's facts instead (arrays of sentences get 2-3 items); each is checked
    against its schema and falls back to the plain value when it does not fit.
    """
    if context is None:
        return _Generator(schema, seed).value(schema, "$", depth=0)
    return _ContextGenerator(schema, seed, _Facts.of(context)).value(schema, "$", depth=0)


def _hash(seed: str, path: str) -> int:
    digest = hashlib.sha256(f"{seed}|{path}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class _Generator:
    def __init__(self, root: dict[str, Any], seed: str) -> None:
        self.root = root
        self.seed = seed

    def _hash(self, path: str) -> int:
        return _hash(self.seed, path)

    def value(self, schema: Any, path: str, depth: int) -> Any:
        if depth > 32:
            raise ValueError(f"{path}: schema nests too deeply (a recursive $ref?)")
        if schema is True or schema is None:
            schema = {}
        if schema is False:
            raise ValueError(f"{path}: no value is allowed")
        if "$ref" in schema:
            return self.value(resolve_ref(self.root, schema["$ref"]), path, depth + 1)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            if not schema["enum"]:
                raise ValueError(f"{path}: empty enum")
            return self._enum(schema, path)
        if schema.get("allOf"):
            return self.value(_merge(schema), path, depth + 1)
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                # The first alternative is stable; oneOf's alternatives are expected to be disjoint.
                rest = {k: v for k, v in schema.items() if k != key}
                return self.value({**rest, **schema[key][0]}, path, depth + 1)
        kind = _kind(schema)
        generator = getattr(self, f"_{kind}")
        return generator(schema, path, depth)

    def _enum(self, schema: dict[str, Any], path: str) -> Any:
        options = schema["enum"]
        return options[self._hash(path) % len(options)]

    def _object(self, schema: dict[str, Any], path: str, depth: int) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        names = list(properties) + [n for n in schema.get("required", ()) if n not in properties]
        extra = schema.get("additionalProperties", True)
        return {
            name: self.value(
                properties.get(name, extra if isinstance(extra, dict) else {}),
                f"{path}.{name}",
                depth + 1,
            )
            for name in names
        }

    def _count(self, schema: dict[str, Any], path: str) -> int:
        low = schema.get("minItems", 0)
        high = schema.get("maxItems", max(low, 2))
        return int(min(max(1 + self._hash(path) % 2, low), high))

    def _array(self, schema: dict[str, Any], path: str, depth: int) -> list[Any]:
        low = schema.get("minItems", 0)
        count = self._count(schema, path)
        items = schema.get("items", {})
        values: list[Any] = []
        seen: set[str] = set()
        index = 0
        while len(values) < count and index < count + 16:
            item = self.value(items, f"{path}[{index}]", depth + 1)
            index += 1
            key = json.dumps(item, sort_keys=True)
            if schema.get("uniqueItems") and key in seen:
                continue
            seen.add(key)
            values.append(item)
        if len(values) < low:
            raise ValueError(f"{path}: cannot make {low} distinct items")
        return values

    def _string(self, schema: dict[str, Any], path: str, depth: int) -> str:
        h = self._hash(path)
        tag = f"{h:016x}"[:8]
        fmt = _FORMATS.get(schema.get("format", ""))
        if fmt is not None:
            uuid = f"{h:032x}"[-32:]
            text = fmt.format(
                day=1 + h % 28,
                tag=tag,
                uuid=f"{uuid[:8]}-{uuid[8:12]}-4{uuid[13:16]}-8{uuid[17:20]}-{uuid[20:32]}",
            )
        else:
            label = path.rsplit(".", 1)[-1].split("[", 1)[0].strip("$") or "value"
            text = f"{label} {tag}"
        low = schema.get("minLength", 0)
        high = schema.get("maxLength")
        if len(text) < low:
            text = (text + " " + tag * (low // 8 + 1))[: max(low, len(text))]
            text = text.ljust(low, "x")
        if high is not None and len(text) > high:
            text = text[:high]
        return text

    def _integer(self, schema: dict[str, Any], path: str, depth: int) -> int:
        lo, hi = _integer_bounds(schema)
        if lo > hi:
            raise ValueError(f"{path}: no integer within the bounds")
        return lo + self._hash(path) % (hi - lo + 1)

    def _number(self, schema: dict[str, Any], path: str, depth: int) -> float:
        low, high = _bounds(schema, default=(0.0, 100.0))
        if high < low:
            raise ValueError(f"{path}: no number within the bounds")
        fraction = (self._hash(path) % 1001) / 1000
        value = round(low + fraction * (high - low), 2)
        value = min(max(value, low), high)
        if _exclusive(schema, "min", low) and value <= low:
            value = low + (high - low) / 2
        if _exclusive(schema, "max", high) and value >= high:
            value = low + (high - low) / 2
        return float(value)

    def _boolean(self, schema: dict[str, Any], path: str, depth: int) -> bool:
        return self._hash(path) % 2 == 0

    def _null(self, schema: dict[str, Any], path: str, depth: int) -> None:
        return None


# -- answers from the context --------------------------------------------------------------------

# Context paths a step commonly needs (the core library's `dataRequired`, and the people its
# prompts address); `missingData` lists those the context lacks.
_WATCHED_PATHS = (
    "customer.arr",
    "customer.renewalDate",
    "intelligence.riskScore",
    "intelligence.aiSummary",
    "data.usage.trend",
    "data.engagement.lastMeeting",
    "data.salesforce.opportunityStage",
    "data.salesforce.contacts",
    "accountTeam.ae",
    "csm.manager",
)


def _vocabulary(words: str) -> frozenset[str]:
    return frozenset(words.split())


# How bad an enum member sounds: 0 good, 1 middling, 2 bad. "low" and "high" are read as amounts
# of something bad (risk, likelihood, impact) unless the property names something good.
_BADNESS = {
    **dict.fromkeys(
        _vocabulary(
            "healthy good green strong positive growing growth increasing up renewed expand "
            "expansion on-track ontrack approved yes excellent great none minimal"
        ),
        0,
    ),
    **dict.fromkeys(
        _vocabulary(
            "watch fair amber yellow neutral flat stable steady medium moderate renew-flat "
            "extended partial average mixed"
        ),
        1,
    ),
    **dict.fromkeys(
        _vocabulary(
            "at-risk atrisk risky poor red negative declining decline decreasing down weak lost "
            "churn churned restructure critical rejected no severe"
        ),
        2,
    ),
    "low": 0,
    "high": 2,
}
# Properties about something bad: a high-risk account gets more of it.
_BAD_THINGS = _vocabulary(
    "risk risks likelihood impact severity priority urgency churn probability exposure"
)
# Booleans that are true when the account is in trouble...
_ALARMS = _vocabulary(
    "escalate escalation escalated attention churn risk blocked blocker exceeds exceed war "
    "urgent critical overdue late fail failed lost alert intervene intervention"
)
# ...and those that are true when it is doing well.
_ALL_CLEAR = _vocabulary(
    "approved approve track resolved confirmed signed healthy renewed ready complete completed "
    "success committed agreed renew"
)

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(name)]


@dataclass(frozen=True)
class _Where:
    """Where a value sits: its property's name (an array item takes its array's), whether it is
    an array item, the index of the innermost array item it is in, the words of its name, and
    the path of that innermost array (the items of one array share its hash)."""

    name: str
    item: bool
    index: int
    words: frozenset[str]
    container: str

    @classmethod
    @functools.lru_cache(maxsize=4096)  # the paths of one schema recur in every answer
    def of(cls, path: str) -> _Where:
        names: list[str] = []
        index, item, container = 0, False, path
        for match in _SEGMENT.finditer(path):
            name, position = match.groups()
            item = not name
            if name:
                names.append(name)
            else:
                index, container = int(position), path[: match.start()]
        own = names[-1] if names else ""
        return cls(own, item, index, frozenset(_words(own)), container)

    def has(self, *words: str) -> bool:
        return not self.words.isdisjoint(words)


@dataclass(frozen=True)
class _Contact:
    name: str
    title: str | None
    role: str | None
    primary: bool

    @property
    def first_name(self) -> str:
        return self.name.split()[0]

    def described(self) -> str:
        detail = ", ".join(part for part in (self.title, self.role) if part)
        return f"{self.name} ({detail})" if detail else self.name


def _get(context: Mapping[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        # contexts are plain dicts: checking for one first spares the slow ABC check
        value = value.get(part) if type(value) is dict or isinstance(value, Mapping) else None
        if value is None:
            return None
    return value


def _section(context: Any, name: str) -> Mapping[str, Any]:
    """`context[name]` if that is an object, else an empty one (tenant data may be anything)."""
    value = context.get(name) if isinstance(context, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _person(value: Any) -> str | None:
    """A colleague named by email (`priya.raman@vendor.example`) as a reader would say it."""
    text = _text(value)
    if text is None or "@" not in text:
        return text
    local = text.split("@", 1)[0]
    return " ".join(part.capitalize() for part in re.split(r"[._-]+", local) if part) or text


def _missing(context: Mapping[str, Any]) -> tuple[str, ...]:
    found = []
    for path in _WATCHED_PATHS:
        value = _get(context, path)
        if (
            value is None
            or value in ("", [], {})
            or (path.endswith("trend") and value == "unknown")
        ):
            found.append(path)
    return tuple(found)


def _contacts(raw: Any) -> tuple[_Contact, ...]:
    contacts = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, Mapping) and (name := _text(item.get("name"))):
            contacts.append(
                _Contact(
                    name,
                    _text(item.get("title")),
                    _text(item.get("role")),
                    bool(item.get("isPrimary")),
                )
            )
    return tuple(contacts)


@dataclass(frozen=True)
class _Facts:
    """What the heuristics know about the customer, read defensively from a context (tenant data:
    any field may be missing or of an unexpected type)."""

    name: str
    arr: float | None
    currency: str
    days: int | None
    renewal: date | None
    risk: int
    risk_known: bool
    trend: str  # growing, flat, declining or unknown
    change: float | None
    contacts: tuple[_Contact, ...]
    csm: str
    manager: str | None
    ae: str | None
    stage: str | None
    last_meeting: str | None
    tickets: int | None
    metrics: Mapping[str, float]
    missing: tuple[str, ...]

    @classmethod
    def of(cls, context: Mapping[str, Any]) -> _Facts:
        customer, workflow = _section(context, "customer"), _section(context, "workflow")
        csm, data = _section(context, "csm"), _section(context, "data")
        usage, engagement = _section(data, "usage"), _section(data, "engagement")
        crm = _section(data, "salesforce") or _section(data, "crm")
        trend_text = _text(usage.get("trend")) or "unknown"
        change = _float(usage.get("changePercent"))
        if trend_text == "flat":
            trend = "flat"
        elif "growth" in trend_text or (change is not None and change > 0):
            trend = "growing"
        elif "decline" in trend_text or (change is not None and change < 0):
            trend = "declining"
        else:
            trend = "unknown"
        risk = _int(_section(context, "intelligence").get("riskScore"))
        estimate = {"declining": 65, "flat": 45, "growing": 25}.get(trend, 50)
        metrics = _section(usage, "metrics")
        return cls(
            name=_text(customer.get("name")) or "the customer",
            arr=_float(customer.get("arr")) or _float(workflow.get("renewalARR")),
            currency=_text(customer.get("currency")) or "USD",
            days=_int(workflow.get("daysUntilRenewal")),
            renewal=_day(customer.get("renewalDate")),
            risk=min(max(risk if risk is not None else estimate, 0), 100),
            risk_known=risk is not None,
            trend=trend,
            change=change,
            contacts=_contacts(crm.get("contacts")),
            csm=_text(csm.get("name")) or _text(csm.get("email")) or "the CSM",
            manager=_person(csm.get("manager")),
            ae=_person(_section(context, "accountTeam").get("ae")),
            stage=_text(crm.get("opportunityStage")),
            last_meeting=_text(engagement.get("lastMeeting")),
            tickets=_int(engagement.get("supportTickets")),
            metrics={k: v for k, raw in metrics.items() if (v := _float(raw)) is not None},
            missing=_missing(context),
        )

    # -- derived facts ---------------------------------------------------------------------------

    @property
    def severity(self) -> int:
        """0 low risk, 1 medium, 2 high."""
        return 2 if self.risk >= 70 else 1 if self.risk >= 40 else 0

    @property
    def level(self) -> str:
        return ("low", "medium", "high")[self.severity]

    @property
    def today(self) -> date | None:
        if self.renewal is None or self.days is None:
            return None
        return self.renewal - timedelta(days=self.days)

    def on(self, days_from_today: int) -> str:
        """A date `days_from_today` ahead, never after the renewal date while it is ahead."""
        today = self.today
        if today is None:
            return f"within {days_from_today} days"
        day = today + timedelta(days=days_from_today)
        if self.renewal is not None and self.renewal > today and day > self.renewal:
            day = self.renewal
        return day.isoformat()

    def money(self, amount: float | None = None) -> str:
        value = self.arr if amount is None else amount
        if value is None:
            return "its current ARR"
        symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(self.currency)
        return f"{symbol}{value:,.0f}" if symbol else f"{value:,.0f} {self.currency}"

    def when(self) -> str:
        days = self.days
        if days is None:
            return "renews soon"
        if days < -1:
            return f"is {-days} days past its renewal date"
        return {-1: "is 1 day past its renewal date", 0: "renews today", 1: "renews tomorrow"}.get(
            days, f"renews in {days} days"
        )

    def usage(self) -> str:
        change = abs(self.change) if self.change is not None else None
        if self.trend == "growing":
            return f"usage up {change:g}% over four weeks" if change else "usage growing"
        if self.trend == "declining":
            return f"usage down {change:g}% over four weeks" if change else "usage declining"
        if self.trend == "flat":
            return "usage flat over four weeks"
        return "no recent usage data"

    def risk_phrase(self) -> str:
        if not self.risk_known:
            return f"no risk score on record ({self.level} risk estimated from usage)"
        return f"risk score {self.risk}/100 ({self.level} risk)"

    def contact(self, *roles: str) -> _Contact | None:
        for role in roles:
            for contact in self.contacts:
                if contact.role and role in contact.role.lower():
                    return contact
        return None

    @property
    def champion(self) -> _Contact | None:
        return self.contact("champion")

    @property
    def buyer(self) -> str:
        contact = self.contact("economic", "buyer", "cfo", "decision")
        if contact is None:
            contact = next((c for c in self.contacts if c.primary), None)
        return contact.name if contact else f"the economic buyer at {self.name}"

    @property
    def main_contact(self) -> str:
        contact = self.champion or next((c for c in self.contacts if c.primary), None)
        return contact.name if contact else f"the main contact at {self.name}"

    def people(self) -> list[str]:
        """Our side, for owners: the CSM, the AE, the manager."""
        return [self.csm, self.ae or self.csm, self.manager or self.csm]

    # -- sentences -------------------------------------------------------------------------------

    def analysis(self, h: int) -> str:
        advice = (
            "Keep the cadence and prepare an expansion conversation.",
            "Confirm the renewal path with the champion and watch adoption.",
            f"Escalate now: agree a recovery plan with {self.buyer} this week.",
        )[self.severity]
        if h % 2 and self.severity == 2 and self.manager:
            advice = f"Escalate to {self.manager} and agree a recovery plan with {self.buyer}."
        return (
            f"{self.name} ({self.money()} ARR) {self.when()}: {self.usage()} and "
            f"{self.risk_phrase()}. {advice}"
        )

    def subject(self) -> str:
        if self.days is not None and self.days < 0:
            return f"{self.name} renewal: one step to close it out"
        if self.days is not None and self.days <= 14:
            return f"{self.name} renewal on {self.on(self.days)}: signature this week"
        return f"{self.name}: your renewal and the year ahead"

    def letter(self) -> str:
        contact = self.champion or next((c for c in self.contacts if c.primary), None)
        hello = f"Hi {contact.first_name}," if contact else f"Hello {self.name} team,"
        renewal = self.renewal.isoformat() if self.renewal else "the renewal date"
        if self.days is not None and self.days < 0:
            opening = (
                f"Your subscription passed its renewal date on {renewal}, {-self.days} days ago, "
                "and the renewal is still open"
            )
            ask = f"Could you confirm by {self.on(3)} when the order form will be signed?"
        elif self.days is not None and self.days <= 30:
            opening = f"Your renewal is due on {renewal}, in {self.days} days"
            ask = "Could we book 30 minutes this week to agree the last steps to signature?"
        else:
            opening = f"As your renewal on {renewal} approaches, I would like to plan the next year"
            ask = f"Could we meet before {self.on(14)} to review your goals?"
        change = f" {abs(self.change):g}%" if self.change is not None else ""
        usage = {
            "growing": f"Your team's usage is up{change} over the last four weeks",
            "declining": (
                f"Usage has dropped{change} over the last four weeks, and we want to help your "
                "team get the value back"
            ),
            "flat": "Usage has held steady over the last four weeks",
        }.get(self.trend, "I would like to review how your team uses the product")
        return f"{hello}\n\n{opening}. {usage}. {ask}\n\nBest regards,\n{self.csm}"

    def actions(self) -> list[str]:
        buyer, champion = self.buyer, self.main_contact
        found = [
            f"Book a call with {champion} before {self.on(7)} to confirm the renewal path for "
            f"{self.name}",
            f"Share a usage review with {buyer}: {self.usage()}",
            f"Agree the commercial terms of the {self.money()} renewal with {buyer} by "
            f"{self.on(14)}",
            f"Offer {self.name} a two-year term with a price hold for signature before "
            f"{self.renewal.isoformat() if self.renewal else 'the renewal date'}",
        ]
        if self.manager:
            found.insert(3, f"Bring {self.manager} into the next call with {buyer}")
        if self.severity == 2 or self.trend == "declining":
            found.insert(
                0,
                f"Run an adoption recovery plan at {self.name}: {self.usage()}, "
                f"{self.risk_phrase()}",
            )
        return found

    def blockers(self) -> list[str]:
        found = []
        if self.trend == "declining":
            found.append(f"{self.usage().capitalize()} at {self.name} weakens the business case")
        if self.champion is None:
            found.append(f"No confirmed champion at {self.name}")
        if self.severity == 2:
            found.append(f"{self.buyer} has not committed to renew: {self.risk_phrase()}")
        if self.stage:
            found.append(f"The opportunity is still at {self.stage} and {self.name} {self.when()}")
        found.append(f"Procurement has not received the renewal order form for {self.name}")
        return found

    def risks(self) -> list[str]:
        found = []
        if self.trend in ("declining", "unknown"):
            found.append(f"Adoption: {self.usage()} at {self.name}")
        if self.severity >= 1:
            found.append(f"Renewal intent: {self.risk_phrase()}")
        if self.champion is None:
            found.append(f"Stakeholders: no champion identified at {self.name}")
        found.append(f"Budget: {self.buyer} may push for a discount on {self.money()}")
        found.append(f"Timing: {self.name} {self.when()}")
        return found

    def signals(self) -> list[str]:
        meeting = (
            f"last executive meeting on {self.last_meeting}"
            if self.last_meeting
            else "no executive meeting on record"
        )
        tickets = f", {self.tickets} open support tickets" if self.tickets is not None else ""
        return [
            f"{self.usage().capitalize()} at {self.name}",
            self.risk_phrase().capitalize(),
            f"{meeting.capitalize()}{tickets}",
        ]

    def value(self) -> list[str]:
        found = []
        users, seats = self.metrics.get("active_users"), self.metrics.get("seats_used")
        if users is not None and seats:
            found.append(f"{users:,.0f} active users on {seats:,.0f} seats in use at {self.name}")
        elif users is not None:
            found.append(f"{users:,.0f} active users at {self.name}")
        if (logins := self.metrics.get("logins")) is not None:
            found.append(f"{logins:,.0f} logins in the latest week")
        found.append(f"Adoption trend: {self.usage()}")
        found.append(f"A {self.money()} ARR relationship with {self.csm} as CSM")
        return found

    def tradeables(self) -> list[str]:
        return [
            f"A two-year term for {self.name} in exchange for a price hold",
            f"Signature before {self.renewal.isoformat() if self.renewal else 'the renewal date'}",
            "A published case study or reference call",
            "A seat true-up at the current rate",
        ]

    def objections(self) -> list[str]:
        found = [f"Budget: {self.buyer} wants the renewal at or below {self.money()}"]
        if self.trend == "declining":
            found.append(f"Value: {self.usage()}, so fewer seats are needed")
        found.append(f"Timing: procurement at {self.name} needs two weeks to sign")
        found.append(f"Competition: {self.name} is comparing alternatives")
        return found

    def gaps(self) -> list[str]:
        found = [
            f"No {role} identified at {self.name}"
            for role, keys in (
                ("economic buyer", ("economic", "buyer", "decision")),
                ("champion", ("champion",)),
                ("CFO", ("cfo",)),
            )
            if self.contact(*keys) is None
        ]
        if len(self.contacts) < 3:
            found.append(f"Only {len(self.contacts)} contact(s) mapped at {self.name}")
        return found

    def options(self) -> list[tuple[str, float]]:
        """Alternatives to a full renewal, each with the share of ARR it keeps."""
        seats = self.metrics.get("seats_used")
        reduce = (
            f"Reduce to the {seats:,.0f} seats in use to keep {self.name}"
            if seats
            else f"Reduce the scope to the teams active at {self.name}"
        )
        return [
            (f"Renew {self.name} at current terms for 12 months", 1.0),
            (f"Renew on a two-year term with a 10% discount ({self.money()} today)", 0.9),
            (reduce, 0.7),
        ]

    def candidates(self) -> list[str]:
        order = sorted(
            self.contacts,
            key=lambda c: (c.role is None or "champion" not in c.role.lower(), not c.primary),
        )
        return [c.described() for c in order]


def _pick(options: list[str], where: _Where, offset: int) -> str | None:
    """The `where.index`-th of `options`, turned by `offset`: the items of one array differ, and
    an array longer than the options gets plain values for the rest (never repeats)."""
    if where.index >= len(options):
        return None
    return options[(offset + where.index) % len(options)]


class _ContextGenerator(_Generator):
    """The plain generator with property-name heuristics on top: see the module docstring."""

    def __init__(self, root: dict[str, Any], seed: str, facts: _Facts) -> None:
        super().__init__(root, seed)
        self.facts = facts

    def _fits(self, value: Any, schema: dict[str, Any]) -> bool:
        try:
            return not validate(value, schema)
        except ValueError:  # a $ref inside the leaf, resolved against the wrong root
            return False

    def _guarded(
        self,
        schema: dict[str, Any],
        path: str,
        depth: int,
        heuristic: Callable[[dict[str, Any], _Where, int], Any],
        fallback: Callable[[dict[str, Any], str, int], Any],
    ) -> Any:
        where = _Where.of(path)
        candidate = heuristic(schema, where, self._hash(where.container))
        if candidate is not None and self._fits(candidate, schema):
            return candidate
        return fallback(schema, path, depth)

    # -- enums -----------------------------------------------------------------------------------

    def _enum(self, schema: dict[str, Any], path: str) -> Any:
        where, options = _Where.of(path), schema["enum"]
        target = self._target_badness(where)
        rated = [
            (abs(badness - target), index)
            for index, option in enumerate(options)
            if (badness := self._badness(option, where)) is not None
        ]
        if not rated:
            return super()._enum(schema, path)
        best = min(distance for distance, _ in rated)
        closest = [index for distance, index in rated if distance == best]
        return options[closest[self._hash(path) % len(closest)]]

    def _target_badness(self, where: _Where) -> int:
        facts = self.facts
        if where.has("trend", "usage", "adoption") and facts.trend != "unknown":
            return {"growing": 0, "flat": 1, "declining": 2}[facts.trend]
        if where.has("impact") and facts.arr is not None:
            return 2 if facts.arr >= 250_000 else 1 if facts.arr >= 50_000 else 0
        if where.has("strategy", "plan", "approach") and facts.severity == 0:
            return 0 if facts.trend == "growing" else 1
        return facts.severity

    def _badness(self, option: Any, where: _Where) -> int | None:
        if not isinstance(option, str):
            return None
        word = option.strip().lower().replace("_", "-").replace(" ", "-")
        badness = _BADNESS.get(word)
        if badness is not None and word in ("low", "high") and where.words.isdisjoint(_BAD_THINGS):
            badness = 2 - badness  # engagement "high" is good
        return badness

    # -- leaves ----------------------------------------------------------------------------------

    def _string(self, schema: dict[str, Any], path: str, depth: int) -> str:
        if "pattern" in schema:
            return super()._string(schema, path, depth)
        result: str = self._guarded(schema, path, depth, self._sentence, super()._string)
        return result

    def _sentence(self, schema: dict[str, Any], where: _Where, h: int) -> str | None:
        facts, fmt = self.facts, schema.get("format")
        if fmt in ("date", "date-time"):
            if facts.today is None:
                return None
            offset = (
                0
                if where.has("signed", "recorded", "completed")
                else 7 * (where.index + 1)
                if where.has("due", "milestone", "deadline")
                else 7
            )
            day = facts.on(offset)
            return day if fmt == "date" else f"{day}T09:00:00Z"
        if fmt is not None:
            return None
        text = self._text_for(where, h)
        return _fit_length(text, schema, facts) if text is not None else None

    def _text_for(self, where: _Where, h: int) -> str | None:
        facts = self.facts
        if where.has("subject", "title", "headline"):
            return facts.subject()
        if where.has("body", "message", "email", "draft", "letter", "content"):
            return facts.letter()
        if where.has("missing"):
            return _pick(list(facts.missing), where, 0)
        if where.has("approver", "owner", "assignee", "responsible", "approvedby"):
            if where.has("approver") and facts.manager:
                return facts.manager
            return facts.people()[where.index % 3]
        if where.has("candidate", "candidates", "stakeholder", "stakeholders", "champion"):
            return _pick(facts.candidates(), where, 0)
        if where.has("maker", "buyer", "sponsor", "signer"):
            contact = facts.contact("economic", "buyer", "decision", "cfo")
            return (
                contact.described() if contact else f"No economic buyer on record at {facts.name}"
            )
        if where.has("gap", "gaps"):
            return _pick(facts.gaps(), where, 0)
        if where.has("blocker", "blockers", "obstacle", "issue"):
            return _pick(facts.blockers(), where, h)
        if where.has("objection", "objections", "concern", "concerns"):
            return _pick(facts.objections(), where, h)
        if where.has("risk", "risks", "threat"):
            return _pick(facts.risks(), where, h)
        if where.has("signal", "signals", "indicator", "indicators"):
            return _pick(facts.signals(), where, 0)
        if where.has("value", "realised", "realized", "benefit", "benefits", "win", "wins"):
            return _pick(facts.value(), where, 0)
        if where.has("tradeable", "tradeables", "concession", "concessions", "give"):
            return _pick(facts.tradeables(), where, h)
        if where.has("option", "options", "alternative", "alternatives"):
            return _pick([text for text, _ in facts.options()], where, 0)
        if where.has("ask", "request"):
            return (
                f"Join a call with {facts.buyer} before {facts.on(3)} and approve a recovery "
                f"offer: {facts.name} ({facts.money()} ARR) {facts.when()} with "
                f"{facts.risk_phrase()} and {facts.usage()}"
            )
        if where.has(
            "plan",
            "steps",
            "step",
            "action",
            "actions",
            "checklist",
            "milestone",
            "milestones",
            "recommendation",
            "recommendations",
            "task",
            "tasks",
            "mitigation",
            "todo",
            "next",
        ):
            actions = facts.actions()
            if where.has("plan") and not where.item:  # a plan in one string (`rescuePlan`)
                return ". ".join(actions[:3]) + "."
            return _pick(actions, where, h)
        if where.has(
            "summary",
            "rationale",
            "reason",
            "analysis",
            "assessment",
            "explanation",
            "note",
            "notes",
            "comment",
            "insight",
            "insights",
            "why",
            "status",
            "outcome",
            "narrative",
            "recap",
            "overview",
            "description",
        ):
            return facts.analysis(h)
        return None

    def _integer(self, schema: dict[str, Any], path: str, depth: int) -> int:
        if "multipleOf" in schema:
            return super()._integer(schema, path, depth)
        result: int = self._guarded(schema, path, depth, self._whole, super()._integer)
        return result

    def _whole(self, schema: dict[str, Any], where: _Where, h: int) -> int | None:
        amount = self._amount(schema, where)
        if amount is None:
            return None
        lo, hi = _integer_bounds(schema)
        return min(max(round(amount), lo), hi) if lo <= hi else None

    def _number(self, schema: dict[str, Any], path: str, depth: int) -> float:
        if "multipleOf" in schema:
            return super()._number(schema, path, depth)
        result: float = self._guarded(schema, path, depth, self._real, super()._number)
        return result

    def _real(self, schema: dict[str, Any], where: _Where, h: int) -> float | None:
        amount = self._amount(schema, where)
        if amount is None:
            return None
        low, high = _bounds(schema, default=(-math.inf, math.inf))
        return float(min(max(amount, low), high))

    def _amount(self, schema: dict[str, Any], where: _Where) -> float | None:
        facts = self.facts
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if where.has("health") and where.has("score", "index"):
            return 100.0 - facts.risk
        if where.has("probability", "likelihood", "chance", "confidence"):
            odds = (100 - facts.risk) / 100 * (0.85 if (facts.days or 99) < 7 else 1.0)
            odds = min(max(odds, 0.05), 0.95)
            return round(odds, 2) if high is not None and high <= 1 else round(odds * 100)
        if where.has("risk", "churn") and not where.has("arr", "amount", "value"):
            return float(facts.risk)
        if where.has("discount", "concession"):
            return (0.0, 5.0, 10.0, 15.0)[facts.severity + (1 if facts.risk >= 75 else 0)]
        if facts.arr is None:
            return None
        arr = facts.arr
        if where.has("expansion", "upsell", "potential", "upside"):
            return round(arr * {"growing": 0.2, "flat": 0.08}.get(facts.trend, 0.0), -2)
        if where.has("retained", "retain", "option", "options"):
            return round(arr * facts.options()[where.index % 3][1], -2)
        if where.has("counter", "offer"):
            return round(arr * 0.95, -2)
        if where.has("proposed", "proposal", "target", "quote", "quoted"):
            uplift = {"growing": 1.07, "flat": 1.03}.get(facts.trend, 1.0)
            return round(arr * uplift, -2)
        if where.has("agreed", "final", "signed", "arr", "amount", "revenue", "price"):
            return round(arr * (1 - (0.0, 0.03, 0.08)[facts.severity]), -2)
        return None

    def _boolean(self, schema: dict[str, Any], path: str, depth: int) -> bool:
        result: bool = self._guarded(schema, path, depth, self._truth, super()._boolean)
        return result

    def _truth(self, schema: dict[str, Any], where: _Where, h: int) -> bool | None:
        facts = self.facts
        if where.has("champion"):
            return facts.champion is not None
        if where.has("attention", "intervene", "intervention"):
            return facts.risk >= 50 or facts.trend == "declining"
        if where.has("war"):
            return facts.risk >= 80
        if where.has("exceeds", "exceed"):
            return facts.risk >= 75
        if not where.words.isdisjoint(_ALARMS):
            return facts.risk >= 70
        if where.has("signed"):
            return facts.risk < 40
        if not where.words.isdisjoint(_ALL_CLEAR):
            return facts.risk < 60
        return None

    # -- arrays ----------------------------------------------------------------------------------

    def _count(self, schema: dict[str, Any], path: str) -> int:
        where = _Where.of(f"{path}[0]")
        listed = self._listed(where)
        items = schema.get("items")
        if listed is not None:
            wanted = len(listed)
        elif self._text_for(where, 0) is not None or (
            isinstance(items, dict) and _kind(items) == "object"
        ):
            wanted = 2 + self._hash(path) % 2  # a few sentences, or a few objects
        else:
            return super()._count(schema, path)
        low = schema.get("minItems", 0)
        return int(min(max(wanted, low), schema.get("maxItems", max(wanted, low))))

    def _listed(self, where: _Where) -> list[str] | None:
        """Lists whose length the context gives: missing paths, contacts, stakeholder gaps."""
        facts = self.facts
        if where.has("missing"):
            return list(facts.missing)
        if where.has("candidate", "candidates", "stakeholders"):
            return facts.candidates()
        if where.has("gap", "gaps"):
            return facts.gaps()
        return None

    def _array(self, schema: dict[str, Any], path: str, depth: int) -> list[Any]:
        try:
            return super()._array(schema, path, depth)
        except ValueError:
            # e.g. uniqueItems with more items required than the facts make distinct sentences:
            # the plain generator's answer, as without a context
            return _Generator(self.root, self.seed)._array(schema, path, depth)


def _fit_length(text: str, schema: dict[str, Any], facts: _Facts) -> str:
    """Within minLength/maxLength: padded with the analysis, cut at a word where that is long
    enough (the caller checks the result against the schema either way)."""
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if len(text) < low:
        text = f"{text} {facts.analysis(0)}"
    if high is not None and len(text) > high:
        cut = text[:high]
        at_word = cut.rsplit(" ", 1)[0]
        text = at_word if len(at_word) >= max(low, 1) else cut
    return text


# -- shared helpers ------------------------------------------------------------------------------


def _kind(schema: dict[str, Any]) -> str:
    types = schema.get("type")
    if isinstance(types, list):
        non_null = [t for t in types if t != "null"]
        return non_null[0] if non_null else "null"
    if isinstance(types, str):
        return types
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _integer_bounds(schema: dict[str, Any]) -> tuple[int, int]:
    low, high = _bounds(schema, default=(0, 100))
    lo = math.floor(low) + 1 if _exclusive(schema, "min", low) else math.ceil(low)
    hi = math.ceil(high) - 1 if _exclusive(schema, "max", high) else math.floor(high)
    return lo, hi


def _bounds(schema: dict[str, Any], default: tuple[float, float]) -> tuple[float, float]:
    low: float | None = schema.get("minimum", schema.get("exclusiveMinimum"))
    high: float | None = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is None:
        if high is None:
            return default
        return min(default[0], float(high) - 100), float(high)
    if high is None:
        return float(low), max(default[1], float(low) + 100)
    return float(low), float(high)


def _exclusive(schema: dict[str, Any], side: str, bound: float) -> bool:
    key = "exclusiveMinimum" if side == "min" else "exclusiveMaximum"
    inclusive = "minimum" if side == "min" else "maximum"
    return key in schema and inclusive not in schema


def _merge(schema: dict[str, Any]) -> dict[str, Any]:
    """allOf folded into one schema: properties merged, required united, other keys overlaid."""
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _tokens(text: str) -> int:
    # about four characters per token, the usual rule of thumb for English
    return (len(text) + 3) // 4
