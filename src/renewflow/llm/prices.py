"""List prices per model, in USD per million tokens, and the cost of one call.

The vendors' published list prices when this table was written (late 2025); they change, so check
https://openai.com/api/pricing and https://www.anthropic.com/pricing and correct this table (or
pass your own to `LLMClient(prices=...)`). A model not in the table — including every model of an
OpenAI-compatible server, whose cost is your own hardware — gets cost NULL: unknown, not free.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import NamedTuple


class ModelPrice(NamedTuple):
    input_per_mtok: Decimal
    output_per_mtok: Decimal


def _p(input_usd: str, output_usd: str) -> ModelPrice:
    return ModelPrice(Decimal(input_usd), Decimal(output_usd))


PRICES: Mapping[str, ModelPrice] = {
    "mock": _p("0", "0"),
    # OpenAI
    "gpt-5": _p("1.25", "10.00"),
    "gpt-5-mini": _p("0.25", "2.00"),
    "gpt-5-nano": _p("0.05", "0.40"),
    "gpt-4.1": _p("2.00", "8.00"),
    "gpt-4.1-mini": _p("0.40", "1.60"),
    "gpt-4.1-nano": _p("0.10", "0.40"),
    "gpt-4o": _p("2.50", "10.00"),
    "gpt-4o-mini": _p("0.15", "0.60"),
    "o3-mini": _p("1.10", "4.40"),
    "o4-mini": _p("1.10", "4.40"),
    # Anthropic
    "claude-opus-4-1": _p("15.00", "75.00"),
    "claude-opus-4": _p("15.00", "75.00"),
    "claude-sonnet-4-5": _p("3.00", "15.00"),
    "claude-sonnet-4": _p("3.00", "15.00"),
    "claude-haiku-4-5": _p("1.00", "5.00"),
    "claude-3-7-sonnet": _p("3.00", "15.00"),
    "claude-3-5-sonnet": _p("3.00", "15.00"),
    "claude-3-5-haiku": _p("0.80", "4.00"),
    "claude-3-haiku": _p("0.25", "1.25"),
}

# A dated snapshot or the "latest" alias of a listed model costs what the model costs
# ("gpt-4o-2024-08-06", "claude-3-5-haiku-20241022", "claude-3-5-haiku-latest"). Nothing looser:
# "gpt-5-pro" must not be priced as "gpt-5".
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")
_MILLION = Decimal(1_000_000)


def price_of(model: str, prices: Mapping[str, ModelPrice] = PRICES) -> ModelPrice | None:
    """The price of `model` (or of the model a snapshot name belongs to); None if unknown."""
    if model in prices:
        return prices[model]
    base = _SNAPSHOT.sub("", model)
    return prices.get(base)


def cost_usd(
    model: str,
    input_tokens: int | None,
    output_tokens: int | None,
    prices: Mapping[str, ModelPrice] = PRICES,
) -> Decimal | None:
    """The cost of one call in USD (to the millionth of a cent), or None when the model's price
    or the token counts are unknown."""
    price = price_of(model, prices)
    if price is None or input_tokens is None or output_tokens is None:
        return None
    total = (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / _MILLION
    return total.quantize(Decimal("0.00000001"))
