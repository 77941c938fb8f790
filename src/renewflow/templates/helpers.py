"""The helper registry: a fixed set, extended only by Python code, never by a tenant.

Simple helpers are called as `fn(*params, **hash)`. Helpers registered with `options=True` are
called as `fn(*params, options=HelperOptions)` and may render their block with `options.fn()`.
Every built-in mirrors a one-line JavaScript definition (see docs/templates.md) so a template
renders the same here and in handlebars.js.
"""

from __future__ import annotations

import json as _json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any

from .errors import HelperError
from .runtime import (
    UNDEFINED,
    Frame,
    SafeString,
    js_number,
    js_truthy,
    lookup_field,
    object_keys,
    to_str,
)

HelperFn = Callable[..., Any]

RESERVED = frozenset({"if", "unless", "each", "with"})
"""Compiled inline for speed and exact handlebars.js semantics; not overridable."""


@dataclass(frozen=True, slots=True)
class Helper:
    fn: HelperFn
    takes_options: bool = False


class HelperOptions:
    """What an `options=True` helper receives: hash, `this`, and its block to render."""

    __slots__ = ("_fn", "_inverse", "_scope", "data", "hash", "name")

    def __init__(
        self,
        name: str,
        hash_: dict[str, Any],
        scope: tuple[Any, Any],
        data: Frame,
        *,
        fn: Callable[[tuple[Any, Any], Frame, Any], str] | None,
        inverse: Callable[[tuple[Any, Any], Frame, Any], str] | None,
    ) -> None:
        self.name = name
        self.hash = hash_
        self._scope = scope
        self.data = data
        self._fn = fn
        self._inverse = inverse

    @property
    def this(self) -> Any:
        return self._scope[0]

    def fn(
        self,
        context: Any = UNDEFINED,
        *,
        data: Frame | None = None,
        block_params: tuple[Any, ...] | None = None,
    ) -> str:
        """Render the block with `context` (default: the current one)."""
        if self._fn is None:
            return ""
        scope = self._scope if context is UNDEFINED else push_scope(context, self._scope)
        return self._fn(scope, data or self.data, block_params)

    def inverse(
        self,
        context: Any = UNDEFINED,
        *,
        data: Frame | None = None,
        block_params: tuple[Any, ...] | None = None,
    ) -> str:
        """Render the `{{else}}` part with `context` (default: the current one)."""
        if self._inverse is None:
            return ""
        scope = self._scope if context is UNDEFINED else push_scope(context, self._scope)
        return self._inverse(scope, data or self.data, block_params)

    def create_frame(self, **values: Any) -> Frame:
        """A child data frame; `values` become `@name` variables inside the block."""
        frame = self.data.child()
        frame.extra = {**(self.data.extra or {}), **values}
        return frame


_PRIMITIVES = (str, int, float, bool)


def push_scope(context: Any, scope: tuple[Any, Any]) -> tuple[Any, Any]:
    """handlebars.js adds a `../` level only when the context changes (`context != depths[0]`)."""
    top = scope[0]
    if context is top:
        return scope
    if (type(context) is type(top) and isinstance(context, _PRIMITIVES) and context == top) or (
        (context is None or context is UNDEFINED) and (top is None or top is UNDEFINED)
    ):
        return scope
    return (context, scope)


class Helpers(Mapping[str, Helper]):
    """A registry of helpers by name. Copy `default_helpers()` and register more in Python."""

    def __init__(self, helpers: Mapping[str, Helper] | None = None) -> None:
        self._helpers: dict[str, Helper] = dict(helpers or {})

    def register(self, name: str, fn: HelperFn, *, options: bool = False) -> None:
        if name in RESERVED:
            raise ValueError(f"{name!r} is a built-in block helper and cannot be replaced")
        if not re.fullmatch(r"[A-Za-z_$][\w$-]*", name):
            raise ValueError(f"{name!r} is not a helper name a template can call")
        self._helpers[name] = Helper(fn, options)

    def copy(self) -> Helpers:
        return Helpers(self._helpers)

    def __getitem__(self, name: str) -> Helper:
        return self._helpers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._helpers)

    def __len__(self) -> int:
        return len(self._helpers)


# -- JavaScript semantics the built-ins rely on -----------------------------------------------

_JS_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Infinity", re.ASCII)
_JS_WHITESPACE = " \t\n\r\v\f\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


def to_number(value: Any) -> float | int:
    """JavaScript's `Number(value)`."""
    if value is True:
        return 1
    if value is False or value is None:
        return 0
    if isinstance(value, int | float):
        return value
    if value is UNDEFINED or isinstance(value, dict):
        return math.nan
    if isinstance(value, list | tuple):
        value = to_str(value)
    if isinstance(value, str):
        text = value.strip(_JS_WHITESPACE)
        if not text:
            return 0
        if _JS_NUMBER.fullmatch(text):
            return float(text.replace("Infinity", "inf"))
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
            whole = int(text, 16)
            return whole if whole <= _SAFE_INTEGER else to_float(whole)
        return math.nan
    return math.nan


_SAFE_INTEGER = 2**53


def to_float(number: float | int) -> float:
    """`number` as a double, like JavaScript holds it: an integer beyond the double range is
    ±Infinity (Python's float() raises instead)."""
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


def _is_nan(number: float | int) -> bool:
    return isinstance(number, float) and math.isnan(number)


def _primitive(value: Any) -> Any:
    if isinstance(value, list | tuple | dict):
        return to_str(value)
    return value


_NUMBERS = frozenset({int, float})
"""Exact types whose JavaScript comparison is Python's (NaN compares false in both)."""


def _compare(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Operands as JavaScript's relational operators see them; None when NaN is involved."""
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) and isinstance(b, str) and a is not UNDEFINED:
        return str(a), str(b)
    x, y = to_number(a), to_number(b)
    if _is_nan(x) or _is_nan(y):
        return None
    return x, y


def strict_equal(a: Any, b: Any) -> bool:
    """JavaScript's `===`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return str(a) == str(b)
    return a is b


def _eq(a: Any = UNDEFINED, b: Any = UNDEFINED) -> bool:
    return strict_equal(a, b)


def _ne(a: Any = UNDEFINED, b: Any = UNDEFINED) -> bool:
    return not strict_equal(a, b)


def _gt(a: Any = UNDEFINED, b: Any = UNDEFINED) -> bool:
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return a > b  # type: ignore[no-any-return]
    pair = _compare(a, b)
    return pair is not None and pair[0] > pair[1]


def _gte(a: Any = UNDEFINED, b: Any = UNDEFINED) -> bool:
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return a >= b  # type: ignore[no-any-return]
    pair = _compare(a, b)
    return pair is not None and pair[0] >= pair[1]


def _lt(a: Any = UNDEFINED, b: Any = UNDEFINED) -> bool:
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return a < b  # type: ignore[no-any-return]
    pair = _compare(a, b)
    return pair is not None and pair[0] < pair[1]


def _lte(a: Any = UNDEFINED, b: Any = UNDEFINED) -> bool:
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return a <= b  # type: ignore[no-any-return]
    pair = _compare(a, b)
    return pair is not None and pair[0] <= pair[1]


def _and(*values: Any) -> bool:
    for value in values:
        if value is not True and (value is False or not js_truthy(value)):
            return False
    return True


def _or(*values: Any) -> bool:
    for value in values:  # noqa: SIM110  a plain loop: no generator per call on the hot path
        if value is True or (value is not False and js_truthy(value)):
            return True
    return False


def _not(value: Any = UNDEFINED) -> bool:
    return not js_truthy(value)


def _abs(value: Any = UNDEFINED) -> float | int:
    if type(value) in _NUMBERS:
        return abs(value)  # type: ignore[no-any-return]
    number = to_number(value)
    return abs(number)


def _default(value: Any = UNDEFINED, fallback: Any = UNDEFINED) -> Any:
    if value is None or value is UNDEFINED or (value == "" and isinstance(value, str)):
        return fallback
    return value


def _lookup(value: Any = UNDEFINED, field: Any = UNDEFINED) -> Any:
    return lookup_field(value, field)


def _len(value: Any = UNDEFINED) -> int:
    if isinstance(value, list | tuple | str):
        return len(value)
    if isinstance(value, dict):
        return len(object_keys(value))
    return 0


def _join(values: Any = UNDEFINED, separator: Any = ", ") -> str:
    if not isinstance(values, list | tuple):
        return ""
    sep = separator if isinstance(separator, str) else ", "
    return sep.join("" if v is None or v is UNDEFINED else to_str(v) for v in values)


def _upper(value: Any = UNDEFINED) -> str:
    return to_str(value).upper()


def _lower(value: Any = UNDEFINED) -> str:
    return to_str(value).lower()


def _js_round(value: float) -> float:
    """`Math.round`: halves go towards +Infinity."""
    if not math.isfinite(value):
        return value
    floor = math.floor(value)
    return float(floor + 1 if value - floor >= 0.5 else floor)


def _round(value: Any = UNDEFINED, digits: Any = 0) -> float:
    places = _places(digits, 0, low=-20)
    factor = 10.0**places
    return _js_round(to_float(to_number(value)) * factor) / factor


def _places(value: Any, default: int, *, low: int = 0, high: int = 20) -> int:
    """A helper's count of decimal places: a whole number within [low, high]."""
    number = to_float(to_number(value))
    if not math.isfinite(number):
        return default
    return max(low, min(high, int(number)))


_CURRENCY_SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CAD": "CA$",
    "AUD": "A$",
    "INR": "₹",
    "CNY": "CN¥",
}
_ZERO_DECIMAL = frozenset({"JPY", "KRW"})


def _decimal(value: Any) -> Decimal | None:
    """The number a helper formats, exactly: a float as its shortest repr (what JavaScript prints
    and Intl rounds), an integer with all its digits; None when it is NaN or infinite."""
    number = to_number(value)
    if isinstance(number, int):
        return Decimal(number)
    if not math.isfinite(number):
        return None
    return Decimal(repr(number))


def _grouped(amount: Decimal, places: int, trim: bool) -> str:
    # Enough precision for every digit of any finite double (309 before the point) or integer:
    # the default context's 28 digits made quantize() fail from ~1e25 on.
    digits = max(amount.adjusted(), 0) + places + 2
    with localcontext(Context(prec=max(28, digits), Emax=MAX_EMAX, Emin=MIN_EMIN)):
        rounded = abs(amount).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{rounded:f}"
    whole, _, fraction = text.partition(".")
    if trim:
        fraction = fraction.rstrip("0")
    whole = whole.lstrip("0") or "0"
    head = len(whole) % 3 or 3
    grouped = ",".join([whole[:head], *(whole[i : i + 3] for i in range(head, len(whole), 3))])
    sign = "-" if amount < 0 and (whole != "0" or fraction.strip("0")) else ""
    return sign + grouped + ("." + fraction if fraction else "")


def _format_currency(value: Any = UNDEFINED, currency: Any = "USD") -> str:
    amount = _decimal(value)
    code = to_str(currency).upper() or "USD"
    if amount is None:
        return ""
    places = 0 if code in _ZERO_DECIMAL else 2
    text = _grouped(amount, places, trim=False)
    symbol = _CURRENCY_SYMBOLS.get(code, code + "\u00a0")
    if text.startswith("-"):
        return "-" + symbol + text[1:]
    return symbol + text


def _format_number(value: Any = UNDEFINED, decimals: Any = UNDEFINED) -> str:
    amount = _decimal(value)
    if amount is None:
        return js_number(to_float(to_number(value)))
    if decimals is UNDEFINED or decimals is None:
        return _grouped(amount, 3, trim=True)
    return _grouped(amount, _places(decimals, 0), trim=False)


_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DATE_TOKENS = re.compile(r"YYYY|YY|MMMM|MMM|MM|DD|HH|mm|ss")


def _to_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC, beyond Python's
            return None
    return moment


def _format_date(value: Any = UNDEFINED, pattern: Any = "YYYY-MM-DD") -> str:
    moment = _to_datetime(value)
    if moment is None:
        return ""
    fields = {
        "YYYY": f"{moment.year:04d}",
        "YY": f"{moment.year % 100:02d}",
        "MMMM": _MONTHS[moment.month - 1],
        "MMM": _MONTHS[moment.month - 1][:3],
        "MM": f"{moment.month:02d}",
        "DD": f"{moment.day:02d}",
        "HH": f"{moment.hour:02d}",
        "mm": f"{moment.minute:02d}",
        "ss": f"{moment.second:02d}",
    }
    return _DATE_TOKENS.sub(lambda m: fields[m.group(0)], to_str(pattern))


def _days_between(start: Any = UNDEFINED, end: Any = UNDEFINED) -> float:
    first, second = _to_datetime(start), _to_datetime(end)
    if first is None or second is None:
        return math.nan
    return _js_round((second - first).total_seconds() / 86400)


def _json_value(value: Any, depth: int) -> str | None:
    if depth > 64:
        raise HelperError("json: value nested too deeply (or circular)")
    if value is None:
        return "null"
    if value is UNDEFINED:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # beyond the double range JavaScript holds Infinity, which JSON.stringify writes as null
        return str(value) if math.isfinite(to_float(value)) else "null"
    if isinstance(value, float):
        return js_number(value) if math.isfinite(value) else "null"
    if isinstance(value, str):
        return _json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, list | tuple):
        items = (_json_value(item, depth + 1) for item in value)
        return "[" + ",".join("null" if item is None else item for item in items) + "]"
    if isinstance(value, dict):
        members = []
        for key in object_keys(value):
            item = _json_value(value[key], depth + 1)
            if item is not None:
                members.append(_json.dumps(key, ensure_ascii=False) + ":" + item)
        return "{" + ",".join(members) + "}"
    if isinstance(value, datetime | date):
        return _json.dumps(value.isoformat())
    return _json.dumps(str(value), ensure_ascii=False)


def _json_helper(value: Any = UNDEFINED) -> Any:
    text = _json_value(value, 0)
    return SafeString("" if text is None else text)


def _log(*_values: Any, **_hash: Any) -> Any:
    return UNDEFINED


_BUILTINS: dict[str, HelperFn] = {
    "eq": _eq,
    "ne": _ne,
    "gt": _gt,
    "gte": _gte,
    "lt": _lt,
    "lte": _lte,
    "and": _and,
    "or": _or,
    "not": _not,
    "abs": _abs,
    "default": _default,
    "lookup": _lookup,
    "len": _len,
    "join": _join,
    "upper": _upper,
    "lower": _lower,
    "round": _round,
    "formatCurrency": _format_currency,
    "formatNumber": _format_number,
    "formatDate": _format_date,
    "daysBetween": _days_between,
    "json": _json_helper,
    "log": _log,
}


def default_helpers() -> Helpers:
    """A fresh registry holding the built-ins; safe to extend."""
    return Helpers({name: Helper(fn) for name, fn in _BUILTINS.items()})
