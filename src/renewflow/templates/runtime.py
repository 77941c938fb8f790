"""Values at render time, with JavaScript's semantics where handlebars.js relies on them.

The lookup rules here are the security boundary: data is walked only through dict keys, list and
tuple indexes, and string indexes; nothing ever reads an attribute or calls a value from the data.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, Final

from .errors import TemplateLimitError
from .limits import Limits


class _Undefined:
    """JavaScript's `undefined`: what a missing key yields, distinct from `None` (null)."""

    __slots__ = ()
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()


class SafeString(str):
    """A helper result that is already HTML and must not be escaped again."""

    __slots__ = ()


_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#x27;",
    "`": "&#x60;",
    "=": "&#x3D;",
}
_NEEDS_ESCAPE = re.compile("[&<>\"'`=]")
_ESCAPE_TABLE = str.maketrans(_ESCAPES)


def escape_html(text: str) -> str:
    """Exactly handlebars.js's `escapeExpression` character set."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return text.translate(_ESCAPE_TABLE)


def js_number(value: float) -> str:
    """`Number.prototype.toString()` for a float: `1.0` is "1", `1e21` is "1e+21"."""
    if math.isnan(value):
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    # ECMA-262 Number::toString: value = 0.digits × 10^n
    n = len(digit_tuple) + exponent
    k = len(digits)
    prefix = "-" if sign else ""
    if k <= n <= 21:
        return prefix + digits + "0" * (n - k)
    if 0 < n <= 21:
        return prefix + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return prefix + "0." + "0" * -n + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{prefix}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def to_str(value: Any) -> str:
    """What `'' + value` gives in JavaScript, for the values our data can hold."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None or value is UNDEFINED:
        return ""
    if kind is float:
        return js_number(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, list | tuple):
        return ",".join("" if item is None or item is UNDEFINED else to_str(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, int):
        return "true" if value is True else "false" if value is False else str(int(value))
    if isinstance(value, float):
        return js_number(float(value))
    return str(value)


def is_empty(value: Any) -> bool:
    """handlebars.js's `isEmpty` (what `#with` tests): falsy except 0, or an empty list."""
    kind = type(value)
    if kind is int or (kind is float and not math.isnan(value)):
        return False
    if kind is list or kind is tuple:
        return not value
    return not js_truthy(value)


def if_falsy(value: Any) -> bool:
    """What sends `#if` to its inverse: JavaScript-falsy (0 included) or an empty list."""
    kind = type(value)
    if kind is list or kind is tuple:
        return not value
    return not js_truthy(value)


def js_truthy(value: Any) -> bool:
    """JavaScript's `Boolean(value)`: an empty list or dict is true, so is a SafeString object."""
    kind = type(value)
    if kind is SafeString:
        return True
    if kind is list or kind is dict or kind is tuple:
        return True
    if kind is float:
        return not math.isnan(value) and value != 0.0
    if value is None or value is UNDEFINED:
        return False
    if isinstance(value, str | int | float):
        return bool(value)
    return True


def _index(key: str) -> int:
    """A canonical array index ("0", "12") or -1; "01", "-1" and "1.0" are plain keys in JS."""
    if key.isdigit() and key.isascii() and (key == "0" or key[0] != "0"):
        return int(key)
    return -1


def lookup(value: Any, key: str) -> Any:
    """One path segment: a dict key, a list/str index or `length`; never an attribute."""
    kind = type(value)
    if kind is dict:
        return value.get(key, UNDEFINED)
    if isinstance(value, dict):
        return dict.get(value, key, UNDEFINED)
    if isinstance(value, list | tuple | str):
        if key == "length":
            return len(value)
        i = _index(key)
        if 0 <= i < len(value):
            item = value[i]
            return str.__str__(item) if isinstance(value, str) else item
    return UNDEFINED


def lookup_field(value: Any, key: Any) -> Any:
    """The `lookup` helper: `obj && lookupProperty(obj, field)`, where the key may be a number."""
    if not js_truthy(value):
        return value
    if type(key) is int or (type(key) is float and key.is_integer()):
        key = str(int(key))
    elif not isinstance(key, str):
        key = to_str(key)
    return lookup(value, key)


def object_keys(value: dict[Any, Any]) -> list[str]:
    """`Object.keys` order: integer-like keys ascending first, then insertion order."""
    keys = [key for key in value if isinstance(key, str)]
    if any(key[:1].isdigit() for key in keys):
        numeric = sorted((key for key in keys if 0 <= _index(key) < 2**32 - 1), key=int)
        if numeric:
            taken = set(numeric)
            keys = numeric + [key for key in keys if key not in taken]
    return keys


class RenderState:
    """Per-render counters and the strict-mode list of missing paths."""

    __slots__ = ("iterations", "limits", "missing", "partial_depth")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.iterations = 0
        self.partial_depth = 0
        self.missing: dict[str, None] = {}

    def count_iterations(self, n: int) -> None:
        self.iterations += n
        if self.iterations > self.limits.max_iterations:
            raise TemplateLimitError(
                f"more than {self.limits.max_iterations} loop iterations in one render"
            )

    def check_output(self, text: str) -> str:
        if len(text) > self.limits.max_output:
            raise TemplateLimitError(f"output longer than {self.limits.max_output} characters")
        return text


class Frame:
    """handlebars.js's `data` object: `@root`, `@index`, `@key`, `@first`, `@last`, parents."""

    __slots__ = (
        "block_params",
        "extra",
        "first",
        "index",
        "key",
        "last",
        "parent",
        "partial_block",
        "root",
        "state",
    )

    def __init__(self, parent: Frame | None, root: Any, state: RenderState) -> None:
        self.parent = parent
        self.root = root
        self.state = state
        self.index: Any = UNDEFINED
        self.key: Any = UNDEFINED
        self.first: Any = UNDEFINED
        self.last: Any = UNDEFINED
        self.block_params: tuple[Any, Any] | None = None
        self.partial_block: Any = None
        self.extra: dict[str, Any] | None = None

    def child(self) -> Frame:
        """`createFrame`: a copy whose `@../` is this frame."""
        frame = Frame(self, self.root, self.state)
        frame.index = self.index
        frame.key = self.key
        frame.first = self.first
        frame.last = self.last
        frame.block_params = self.block_params
        frame.partial_block = self.partial_block
        frame.extra = self.extra
        return frame

    def get(self, name: str) -> Any:
        if name == "root":
            return self.root
        if name == "index":
            return self.index
        if name == "key":
            return self.key
        if name == "first":
            return self.first
        if name == "last":
            return self.last
        if self.extra is not None:
            return self.extra.get(name, UNDEFINED)
        return UNDEFINED
