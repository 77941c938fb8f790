"""AI task processors: named callables that do an AI task's work.

The interface (see `Processor`): called with the task and a `ProcessorContext` (the task's
tenant, and short transactions in it), with no transaction held; returns a `ProcessorResult`.
Plugins register through the entry-point group `renewflow.processors` (name = "module:callable").
"""

from renewflow.tasks.processors.base import (
    ENTRY_POINT_GROUP,
    Processor,
    ProcessorContext,
    ProcessorRegistry,
    ProcessorResult,
)
from renewflow.tasks.processors.builtin import noop, post_webhook, update_contact

__all__ = [
    "ENTRY_POINT_GROUP",
    "Processor",
    "ProcessorContext",
    "ProcessorRegistry",
    "ProcessorResult",
    "noop",
    "post_webhook",
    "update_contact",
]
