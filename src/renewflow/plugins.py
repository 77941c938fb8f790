"""Plugins: the objects installed packages offer through an entry-point group (`name =
"module:callable"` in their metadata), loaded one by one, a broken one logged and left out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger(__name__)


def load_entry_points(group: str, register: Callable[[str, Any], None]) -> list[str]:
    """Registers every entry point of `group`; returns the names registered. A plugin that fails
    to import, or that `register` refuses, is logged and skipped: one broken package must not
    stop the others (nor the process)."""
    loaded: list[str] = []
    for point in entry_points(group=group):
        try:
            register(point.name, point.load())
        except Exception:
            log.exception("plugin %s of %s (%s) failed to load", point.name, group, point.value)
            continue
        loaded.append(point.name)
    return loaded
