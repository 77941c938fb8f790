"""A safe, fast Handlebars engine for tenant-written prompts, notifications and artifacts.

Safe by construction: template text never becomes code (generated functions see it only as
constants, see codegen.py; strict mode uses closures), data is read only through dict keys and
list/str indexes, and every resource is bounded by `Limits`.
"""

from .errors import (
    HelperError,
    MissingVariableError,
    TemplateError,
    TemplateLimitError,
    TemplateSyntaxError,
)
from .helpers import Helper, HelperOptions, Helpers, default_helpers
from .limits import DEFAULT_LIMITS, Limits
from .runtime import UNDEFINED, SafeString
from .template import Environment, Template, compile

__all__ = [
    "DEFAULT_LIMITS",
    "UNDEFINED",
    "Environment",
    "Helper",
    "HelperError",
    "HelperOptions",
    "Helpers",
    "Limits",
    "MissingVariableError",
    "SafeString",
    "Template",
    "TemplateError",
    "TemplateLimitError",
    "TemplateSyntaxError",
    "compile",
    "default_helpers",
]
