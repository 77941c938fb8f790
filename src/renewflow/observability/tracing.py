"""Traces with OpenTelemetry, when an operator configures them (the `renewflow[otel]` extra).

Off unless the standard environment asks for traces (`OTEL_TRACES_EXPORTER`, or an OTLP endpoint
in `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), and `OTEL_SDK_DISABLED`
is not `true`. Off, nothing here imports OpenTelemetry and every helper is a constant no-op:
`span()` returns one shared null context manager, `inject()` returns None.

On, `configure()` builds a tracer provider (resource from `OTEL_SERVICE_NAME` and
`OTEL_RESOURCE_ATTRIBUTES`, sampler from `OTEL_TRACES_SAMPLER`), exports with a batch processor
(the OTLP exporter reads its endpoint, headers, timeout and compression from `OTEL_EXPORTER_OTLP_*`
itself), and instruments psycopg (one span per statement: its text with placeholders, never the
values). What creates the other spans:
- FastAPI's native telemetry, one server span per request named by its route template
  (`fastapi_telemetry()` is the app's configuration);
- the step runner, the worker loop and the LLM client, through `span()` and `llm_span()`.

A span never holds a prompt or an answer unless `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`
is `true`; URLs in spans go through the same redaction as log lines.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from renewflow.errors import InvalidInputError

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_EXPORTERS = ("otlp", "console", "none")
_PROTOCOLS = {
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
}
_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
_PROPAGATORS = ("tracecontext", "baggage", "none")
_OFF: AbstractContextManager[None] = nullcontext()


@dataclass(frozen=True)
class TracingSettings:
    """What the environment asks for; `source` names the variable that turned tracing on."""

    exporters: tuple[str, ...]
    protocol: str
    capture_content: bool
    source: str


def settings_from_environment(env: Mapping[str, str] | None = None) -> TracingSettings | None:
    """The tracing the standard `OTEL_*` variables ask for, None when they ask for none.

    A value renewflow cannot honour (an unknown exporter, protocol, sampler or propagator, an
    endpoint that is not an http(s) URL, tracing asked for without the `otel` extra installed)
    is an `InvalidInputError` naming the variable: the CLI prints it on one line, exit 2."""
    env = os.environ if env is None else env
    disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower()
    if disabled not in ("", "true", "false"):
        raise InvalidInputError("OTEL_SDK_DISABLED", f"must be true or false, not {disabled!r}")
    capture = env.get(CAPTURE_CONTENT_ENV, "").strip().lower()
    if capture not in ("", "true", "false"):
        raise InvalidInputError(CAPTURE_CONTENT_ENV, f"must be true or false, not {capture!r}")
    if disabled == "true":
        return None
    endpoint_variable = next(
        (
            name
            for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
            if env.get(name, "").strip()
        ),
        None,
    )
    raw = env.get("OTEL_TRACES_EXPORTER")
    if raw is None and endpoint_variable is None:
        return None
    exporters = tuple(e.strip().lower() for e in (raw or "otlp").split(",") if e.strip())
    for exporter in exporters:
        if exporter not in _EXPORTERS:
            raise InvalidInputError(
                "OTEL_TRACES_EXPORTER", f"unknown exporter {exporter!r}: use otlp, console or none"
            )
    if not exporters or "none" in exporters:
        if len(exporters) > 1:
            raise InvalidInputError("OTEL_TRACES_EXPORTER", "none cannot be combined with another")
        return None
    protocol_variable = next(
        (
            name
            for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
            if env.get(name, "").strip()
        ),
        None,
    )
    protocol = env[protocol_variable].strip() if protocol_variable else "http/protobuf"
    if "otlp" in exporters:
        if protocol not in _PROTOCOLS:
            raise InvalidInputError(
                protocol_variable or "OTEL_EXPORTER_OTLP_PROTOCOL",
                f"unsupported protocol {protocol!r}: use http/protobuf or grpc",
            )
        if endpoint_variable is not None:
            url = urlsplit(env[endpoint_variable].strip())
            if url.scheme not in ("http", "https") or not url.hostname:
                raise InvalidInputError(endpoint_variable, "must be an http:// or https:// URL")
    _check_sampler(env)
    for propagator in env.get("OTEL_PROPAGATORS", "tracecontext,baggage").split(","):
        if propagator.strip() and propagator.strip() not in _PROPAGATORS:
            raise InvalidInputError(
                "OTEL_PROPAGATORS",
                f"unsupported propagator {propagator.strip()!r}: use tracecontext, baggage or none",
            )
    source = "OTEL_TRACES_EXPORTER" if raw is not None else str(endpoint_variable)
    needed = ["opentelemetry.sdk"] + ([_PROTOCOLS[protocol]] if "otlp" in exporters else [])
    for module in needed:
        if not _importable(module):
            raise InvalidInputError(
                source,
                "tracing is configured but OpenTelemetry is not installed: "
                "pip install 'renewflow[otel]'"
                + (" and opentelemetry-exporter-otlp-proto-grpc" if protocol == "grpc" else ""),
            )
    return TracingSettings(exporters, protocol, capture == "true", source)


def _check_sampler(env: Mapping[str, str]) -> None:
    sampler = env.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if sampler and sampler not in _SAMPLERS:
        raise InvalidInputError(
            "OTEL_TRACES_SAMPLER", f"unknown sampler {sampler!r}: use one of {', '.join(_SAMPLERS)}"
        )
    if sampler.endswith("traceidratio"):
        arg = env.get("OTEL_TRACES_SAMPLER_ARG", "1.0").strip()
        try:
            ratio = float(arg)
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            raise InvalidInputError(
                "OTEL_TRACES_SAMPLER_ARG", f"must be a number from 0 to 1, not {arg!r}"
            )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class _State:
    """What a configured process traces with (only ever built once OpenTelemetry is imported)."""

    def __init__(self, provider: Any, capture_content: bool) -> None:
        from opentelemetry import propagate, trace
        from opentelemetry.trace import Link, SpanKind, Status, StatusCode

        from renewflow import __version__

        self.provider = provider
        self.tracer = provider.get_tracer("renewflow", __version__)
        self.capture_content = capture_content
        self.trace = trace
        self.propagate = propagate
        self.Link = Link
        self.kinds = {
            "internal": SpanKind.INTERNAL,
            "client": SpanKind.CLIENT,
            "consumer": SpanKind.CONSUMER,
        }
        self._status = (Status, StatusCode.ERROR)

    def error(self, description: str) -> Any:
        status, code = self._status
        return status(code, description)


_state: _State | None = None
_owned_provider: Any = None  # shut down (flushing its batches) by `shutdown()`


def enabled() -> bool:
    return _state is not None


def capture_content() -> bool:
    return _state is not None and _state.capture_content


def configure(settings: TracingSettings | None = None, *, provider: Any = None) -> None:
    """Turns tracing on in this process: with the exporters of `settings`, or (tests) with
    `provider`, an SDK `TracerProvider` the caller set up and keeps. Instruments psycopg, so
    call it before opening the database's pools."""
    global _state, _owned_provider  # noqa: PLW0603 - one tracing setup per process
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    if _state is not None:
        disable()
    capture = settings.capture_content if settings is not None else _env_capture()
    if provider is None:
        if settings is None:
            raise ValueError("configure() needs settings or a provider")
        provider = _build_provider(settings)
        _owned_provider = provider
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
    provider.add_span_processor(_redacting_processor())
    PsycopgInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
    _state = _State(provider, capture)


def disable() -> None:
    """Turns tracing off again (tests): psycopg is no longer instrumented for new connections."""
    global _state  # noqa: PLW0603 - one tracing setup per process
    if _state is None:
        return
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    PsycopgInstrumentor().uninstrument()
    _state = None


def shutdown() -> None:
    """Flushes and stops the exporters this module built (at the end of a command)."""
    global _owned_provider  # noqa: PLW0603 - one tracing setup per process
    if _owned_provider is not None:
        _owned_provider.shutdown()
        _owned_provider = None


def _env_capture() -> bool:
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"


def _build_provider(settings: TracingSettings) -> Any:
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    from renewflow import __version__

    # renewflow's name and version, unless the operator names the service (the environment wins)
    resource = Resource.create({"service.name": "renewflow", "service.version": __version__})
    resource = resource.merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    for name in settings.exporters:
        if name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        else:
            module = importlib.import_module(_PROTOCOLS[settings.protocol])
            provider.add_span_processor(BatchSpanProcessor(module.OTLPSpanExporter()))
    return provider


def _redacting_processor() -> Any:
    from opentelemetry.sdk.trace import SpanProcessor

    from renewflow.observability.logs import redact

    class RedactUrls(SpanProcessor):
        """A URL's path or query may carry a secret (a console sign-in link): redacted as soon
        as the span starts, before any exporter sees it."""

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            for key in ("url.path", "url.query", "url.full"):
                value = span.attributes.get(key) if span.attributes else None
                if isinstance(value, str) and redact(value) != value:
                    span.set_attribute(key, redact(value))

    return RedactUrls()


# -- spans ------------------------------------------------------------------------------------


def span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    kind: str = "internal",
    parent: Any = None,
    link_current: bool = False,
) -> AbstractContextManager[Any]:
    """A span around the block (the block gets it, or None when tracing is off). `parent` is a
    context from `extract()`; `link_current` links the new span to the one current here."""
    state = _state
    if state is None:
        return _OFF
    links = None
    if link_current:
        current = state.trace.get_current_span().get_span_context()
        links = [state.Link(current)] if current.is_valid else None
    return _started(state, name, attributes=attributes, kind=kind, parent=parent, links=links)


@contextmanager
def _started(
    state: _State,
    name: str,
    *,
    attributes: Mapping[str, Any] | None,
    kind: str,
    parent: Any,
    links: Any,
) -> Iterator[Any]:
    with state.tracer.start_as_current_span(
        name,
        context=parent,
        kind=state.kinds[kind],
        attributes=dict(attributes) if attributes else None,
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as error:
            failed(current, type(error).__name__)
            raise


def failed(span: Any, error_type: str) -> None:
    """Marks `span` (None: tracing is off) as failed with `error_type` (a short, fixed name)."""
    if span is not None and _state is not None:
        span.set_attribute("error.type", error_type)
        span.set_status(_state.error(error_type))


def inject() -> dict[str, str] | None:
    """The current trace context as W3C headers (`traceparent`, ...), to store with a job it
    enqueues; None when tracing is off or there is no span."""
    state = _state
    if state is None:
        return None
    carrier: dict[str, str] = {}
    state.propagate.inject(carrier)
    return carrier or None


def extract(carrier: Mapping[str, str] | None) -> Any:
    """The context `inject()` stored, to continue its trace (None: none, or tracing is off)."""
    state = _state
    if state is None or not carrier:
        return None
    return state.propagate.extract(dict(carrier))


def current_ids() -> dict[str, str]:
    """The current trace and span ids (hex), for log lines; empty when tracing is off."""
    state = _state
    if state is None:
        return {}
    ctx = state.trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


def fastapi_telemetry() -> TelemetryConfig:
    """The app's `FastAPI(telemetry=...)`: server spans on our provider when tracing is on
    (its metrics and logs stay off: ours are Prometheus and the log lines); nothing at all off."""
    state = _state
    if state is None:
        return {"tracing": False, "metrics": False, "logs": False}
    return {
        "tracer_provider": state.provider,
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "auto_configure": False,
    }


# -- LLM calls (OpenTelemetry GenAI semantic conventions) ----------------------------------------


def llm_span(
    provider: str,
    model: str,
    *,
    max_tokens: int,
    temperature: float,
    structured: bool,
    system: str,
    prompt: str,
) -> AbstractContextManager[Any]:
    """A client span for one LLM call (all its attempts): `chat {model}`, with the GenAI request
    attributes, and the prompt only when content capture is on."""
    state = _state
    if state is None:
        return _OFF
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,  # the attribute's name before semantic conventions 1.37
        "gen_ai.request.model": model,
        "gen_ai.request.max_tokens": max_tokens,
        "gen_ai.request.temperature": temperature,
        "gen_ai.output.type": "json" if structured else "text",
    }
    if state.capture_content:
        if system:
            attributes["gen_ai.system_instructions"] = json.dumps(
                [{"type": "text", "content": system}]
            )
        attributes["gen_ai.input.messages"] = json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
        )
    return _started(
        state, f"chat {model}", attributes=attributes, kind="client", parent=None, links=None
    )


def llm_answered(
    span: Any,
    *,
    model: str,
    input_tokens: int | None,
    output_tokens: int | None,
    finish_reason: str | None,
    attempts: int,
    cost_usd: float | None,
    text: str | None,
) -> None:
    """Records an LLM call's answer on its span (None: tracing is off)."""
    if span is None or _state is None:
        return
    span.set_attribute("gen_ai.response.model", model)
    if input_tokens is not None:
        span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
    if output_tokens is not None:
        span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
    if finish_reason:
        span.set_attribute("gen_ai.response.finish_reasons", [finish_reason])
    span.set_attribute("renewflow.llm.attempts", attempts)
    if cost_usd is not None:
        span.set_attribute("renewflow.llm.cost_usd", cost_usd)
    if text is not None and _state.capture_content:
        span.set_attribute(
            "gen_ai.output.messages",
            json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": text}]}]),
        )


def set_attributes(span: Any, attributes: MutableMapping[str, Any]) -> None:
    """Sets the attributes that are not None on `span` (None: tracing is off)."""
    if span is not None:
        span.set_attributes({k: v for k, v in attributes.items() if v is not None})


__all__ = [
    "TracingSettings",
    "capture_content",
    "configure",
    "current_ids",
    "disable",
    "enabled",
    "extract",
    "failed",
    "fastapi_telemetry",
    "inject",
    "llm_answered",
    "llm_span",
    "set_attributes",
    "settings_from_environment",
    "shutdown",
    "span",
]
