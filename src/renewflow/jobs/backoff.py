"""Exponential backoff between attempts."""

from __future__ import annotations


def retry_delay(attempt: int, *, base: float = 2.0, cap: float = 600.0) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): base, 2*base, 4*base, ...,
    never more than `cap`. Deterministic on purpose: tests and operators can predict it, and the
    spread of claim times across workers already de-synchronises retries."""
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    exponent = min(attempt - 1, 62)
    return float(min(cap, base * (2**exponent)))
