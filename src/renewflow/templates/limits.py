"""Resource limits: tenants write templates, so every unbounded dimension gets a ceiling."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Ceilings enforced at compile time (source, depth) and at render time (the rest)."""

    max_source: int = 256 * 1024
    """Characters of template source, partials counted one by one."""
    max_depth: int = 48
    """Nesting of blocks and subexpressions in one template; keeps us far from RecursionError."""
    max_output: int = 4 * 1024 * 1024
    """Characters produced by one loop, one partial or one whole render."""
    max_iterations: int = 100_000
    """`#each` iterations summed over one render, nested loops included."""
    max_partial_depth: int = 16
    """Partials calling partials; a partial that includes itself stops here."""


DEFAULT_LIMITS = Limits()
