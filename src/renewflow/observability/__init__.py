"""What an operator sees of renewflow: metrics, traces and log lines.

- Metrics with prometheus-client (`metrics`): the API's `/metrics` and the worker's metrics port;
  multiprocess mode for `renewflow serve --processes N`.
- Traces with OpenTelemetry (`tracing`), only when the `OTEL_*` environment asks for them and the
  `renewflow[otel]` extra is installed; otherwise nothing imports OpenTelemetry.
- Log lines as text or JSON (`logs`), carrying the ids of `context` (request, tenant, execution,
  job) and never a secret.

A process sets itself up once, at its start: `renewflow serve` and `renewflow worker` call
`setup_process`; an HTTP process that `renewflow serve --processes N` starts calls `inherit`
(from the app factory) and configures itself as its parent did, from the environment the parent
exported with `export_for_children`.
"""

from __future__ import annotations

import os

from renewflow.observability import context, tracing
from renewflow.observability.http import REQUEST_ID_HEADER, install, route_template
from renewflow.observability.logs import (
    LogFormat,
    adopt_uvicorn_loggers,
    configure_logging,
    configured_format,
    redact,
)
from renewflow.observability.metrics import (
    MULTIPROC_ENV,
    TENANT_LABEL_ENV,
    Metrics,
    default,
    multiprocess,
    prepare_multiprocess_dir,
    serve_metrics,
    set_default,
    tenant_label_from_environment,
)
from renewflow.observability.tracing import TracingSettings

LOG_FORMAT_ENV = "RENEWFLOW_LOG_FORMAT"
LOG_LEVEL_ENV = "RENEWFLOW_LOG_LEVEL"
# set by `renewflow serve` for the HTTP processes it starts: configure yourself from the
# environment (an internal variable, not a setting)
INHERIT_ENV = "RENEWFLOW_OBSERVABILITY_INHERIT"


def check_environment() -> TracingSettings | None:
    """Validates the environment's observability settings (the tracing it asks for, the metrics'
    tenant label): an `InvalidInputError` naming the variable, for the CLI to print on one line
    and exit 2, before anything starts."""
    tenant_label_from_environment()
    return tracing.settings_from_environment()


def setup_process(log_level: str, log_format: LogFormat) -> None:
    """Logging, then tracing if the environment asks for it (see `check_environment`)."""
    settings = check_environment()
    configure_logging(log_level, log_format)
    if settings is not None:
        tracing.configure(settings)


def export_for_children(log_level: str, log_format: LogFormat) -> None:
    """Leaves in the environment what the processes this one starts need to `inherit`."""
    os.environ[LOG_LEVEL_ENV] = log_level
    os.environ[LOG_FORMAT_ENV] = log_format.value
    os.environ[INHERIT_ENV] = "1"


def inherit() -> None:
    """In a process started by `export_for_children`'s process, not yet set up: logs and traces
    as its parent's (whose checks the environment already passed). Otherwise nothing."""
    if os.environ.get(INHERIT_ENV) != "1" or configured_format() is not None:
        return
    configure_logging(
        os.environ.get(LOG_LEVEL_ENV, "info"),
        LogFormat(os.environ.get(LOG_FORMAT_ENV, LogFormat.TEXT.value)),
    )
    settings = tracing.settings_from_environment()
    if settings is not None and not tracing.enabled():
        tracing.configure(settings)


__all__ = [
    "INHERIT_ENV",
    "LOG_FORMAT_ENV",
    "LOG_LEVEL_ENV",
    "MULTIPROC_ENV",
    "REQUEST_ID_HEADER",
    "TENANT_LABEL_ENV",
    "LogFormat",
    "Metrics",
    "TracingSettings",
    "adopt_uvicorn_loggers",
    "check_environment",
    "configure_logging",
    "configured_format",
    "context",
    "default",
    "export_for_children",
    "inherit",
    "install",
    "multiprocess",
    "prepare_multiprocess_dir",
    "redact",
    "route_template",
    "serve_metrics",
    "set_default",
    "setup_process",
    "tenant_label_from_environment",
    "tracing",
]
