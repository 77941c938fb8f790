"""Extra processors for a worker, named on its command line (development; installed plugins use
the `renewflow.processors` entry-point group). The worker itself is `renewflow.worker`."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from renewflow.errors import InvalidInputError
from renewflow.tasks.processors import Processor


def load_extra_processors(specs: Sequence[str]) -> list[tuple[str, Processor]]:
    """`name=module:callable` pairs, imported now; a bad one is a clear error, not a traceback."""
    loaded: list[tuple[str, Processor]] = []
    for spec in specs:
        name, _, target = spec.partition("=")
        module_name, _, attr = target.partition(":")
        if not name or not module_name or not attr:
            raise InvalidInputError("--processor", f"expected name=module:callable, got {spec!r}")
        try:
            processor = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as error:
            raise InvalidInputError("--processor", f"cannot load {target!r}: {error}") from None
        loaded.append((name, processor))
    return loaded
