"""What metrics and tracing cost a step execution: step executions per second through the engine
(`StepRunner.run`, bench/steps.py's world and loop) in three configurations, alternating in the
same run, and the cost of the recording calls a step makes, timed on their own.

Run: `.venv/bin/python -m bench.observability` (DATABASE_URL's server if set, as a superuser able
to create a database; otherwise an embedded PostgreSQL in a temporary directory).

Configurations, each on a pool of its own opened for its round (psycopg is instrumented only for
connections opened while tracing is on):
- `bare`: the process's metrics replaced by one whose recording methods do nothing, tracing off:
  the step without the cost of its observation (the reference);
- `metrics`: prometheus-client's families, as every process records them; tracing off, as it is
  unless the `OTEL_*` environment asks for it;
- `metrics + tracing`: the same, with tracing on: an SDK tracer provider, a batch span processor
  and an exporter that drops the spans (what an OTLP exporter costs beyond that is the network's),
  psycopg instrumented.

Each round runs every configuration once, on customers of its own, in a rotating order (the
first of a round is never always the same); the figures are medians over the rounds of the ratio
to `bare` in the same round, which the machine's drift between rounds does not move.

End to end, a few per cent is within the noise of a shared machine, so the recording calls are
also counted and timed alone: the calls one step makes (recorded while it runs) replayed in a
loop against a fresh `Metrics`, and the tracing helpers with tracing off, in microseconds per
step and as a share of a step's time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

from bench.scratch import scratch_database, vacuum_analyze
from bench.steps import STEPS, _world, engine_rate
from renewflow.db import Database
from renewflow.observability import Metrics, set_default, tracing

CONFIGS = ("bare", "metrics", "metrics + tracing")
# what the engine calls on the process's `Metrics` and on the tracing module
RECORDING = (
    "http_request",
    "http_started",
    "http_finished",
    "llm_call",
    "step_finished",
    "outcome",
    "start_latency",
    "claim_duration",
    "delivery",
)
TRACING = (
    "enabled",
    "capture_content",
    "span",
    "llm_span",
    "llm_answered",
    "failed",
    "inject",
    "extract",
    "set_attributes",
    "current_ids",
)


class NoMetrics(Metrics):
    """A `Metrics` that records nothing: the reference without the cost of metrics."""

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    http_request = http_started = http_finished = llm_call = step_finished = _nothing
    outcome = start_latency = claim_duration = delivery = _nothing


class _DroppingExporter:
    """A span exporter that counts the spans and drops them."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@contextlib.contextmanager
def configured(name: str) -> Iterator[_DroppingExporter | None]:
    """The process observing steps as configuration `name` asks, until the block ends."""
    set_default(NoMetrics(tenant_label=False) if name == "bare" else Metrics(tenant_label=False))
    if name != "metrics + tracing":
        try:
            yield None
        finally:
            set_default(None)
        return
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = _DroppingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))  # type: ignore[arg-type]
    tracing.configure(provider=provider)
    try:
        yield exporter
    finally:
        tracing.disable()
        provider.shutdown()  # flushes: the exporter has seen every span
        set_default(None)


# -- the recording calls, timed alone -------------------------------------------------------------


Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


@contextlib.contextmanager
def recording_calls() -> Iterator[tuple[list[Call], list[Call]]]:
    """Records the calls made, during the block, on the process's `Metrics` and on the tracing
    module's helpers (each with its arguments), leaving their behaviour as it is."""
    metric_calls: list[Call] = []
    tracing_calls: list[Call] = []
    recorder = Metrics(tenant_label=False)
    for name in RECORDING:
        method = getattr(Metrics, name)

        def wrapped(*args: Any, _m: Any = method, **kwargs: Any) -> Any:
            metric_calls.append((_m, args, kwargs))
            return _m(recorder, *args, **kwargs)

        setattr(recorder, name, wrapped)
    originals = {name: getattr(tracing, name) for name in TRACING}

    def spy(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            tracing_calls.append((original, args, kwargs))
            return original(*args, **kwargs)

        return wrapped

    set_default(recorder)
    for name, original in originals.items():
        setattr(tracing, name, spy(original))
    try:
        yield metric_calls, tracing_calls
    finally:
        for name, original in originals.items():
            setattr(tracing, name, original)
        set_default(None)


def replay_seconds(calls: list[Call], target: object | None, repeat: int) -> float:
    """Seconds one replay of `calls` takes (the best of five timings of `repeat` replays); a
    call on `target` when it is given (a method), on its own otherwise; a context manager that
    a call returns is entered and left, as the code does."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            for function, args, kwargs in calls:
                result = function(target, *args, **kwargs) if target else function(*args, **kwargs)
                if hasattr(result, "__enter__"):
                    with result:
                        pass
        best = min(best, (time.perf_counter() - start) / repeat)
    return best


# -- the run ------------------------------------------------------------------------------------


def _round(
    url: str, tenant: UUID, executions: Sequence[UUID], name: str, threads: int
) -> tuple[float, int]:
    """Steps per second of `executions` in configuration `name`, and the spans it exported."""
    with configured(name) as exporter, Database(url, max_size=4) as database:
        rate = engine_rate(database, tenant, executions, threads)
    return rate, exporter.spans if exporter is not None else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--customers", type=int, default=300, help="per configuration and round")
    parser.add_argument("--warmup", type=int, default=40, help="customers per configuration")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    n, w, rounds = args.customers, args.warmup, args.rounds
    per_config = rounds * n + w
    rates: dict[str, list[float]] = {name: [] for name in CONFIGS}
    spans = 0
    with scratch_database() as url:
        with Database(url, max_size=4) as database:
            tenant, _key, executions = _world(database, len(CONFIGS) * per_config + 2)
        vacuum_analyze(url)
        chunks = {
            name: executions[i * per_config : (i + 1) * per_config]
            for i, name in enumerate(CONFIGS)
        }
        for name in CONFIGS:
            _round(url, tenant, chunks[name][:w], name, args.threads)
        for r in range(rounds):
            order = CONFIGS[r % len(CONFIGS) :] + CONFIGS[: r % len(CONFIGS)]
            for name in order:
                mine = chunks[name][w + r * n : w + (r + 1) * n]
                rate, exported = _round(url, tenant, mine, name, args.threads)
                rates[name].append(rate)
                spans += exported
            print(
                f"round {r + 1}: "
                + ", ".join(f"{name} {rates[name][-1]:,.0f}/s" for name in CONFIGS),
                flush=True,
            )
        # the calls of one customer's two steps, tracing off (the default)
        spare = executions[-2:]
        with Database(url, max_size=4) as database, recording_calls() as (m_calls, t_calls):
            engine_rate(database, tenant, spare, 1)
    metric_seconds = replay_seconds(m_calls, Metrics(tenant_label=False), 2000) / len(STEPS) / 2
    tracing_seconds = replay_seconds(t_calls, None, 20000) / len(STEPS) / 2

    bare = statistics.median(rates["bare"])
    step_seconds = 1 / bare
    print()
    print(
        f"{datetime.date.today().isoformat()}, cores: {os.cpu_count()}, threads: {args.threads}, "
        f"{rounds} rounds x {n} customers x {len(STEPS)} steps per configuration"
    )
    print("| configuration | step executions/s (median) | per round | vs bare (median of rounds) |")
    print("| --- | ---: | --- | ---: |")
    for name in CONFIGS:
        ratios = [rate / ref for rate, ref in zip(rates[name], rates["bare"], strict=True)]
        overhead = 1 - statistics.median(ratios)
        print(
            f"| {name} | {statistics.median(rates[name]):,.0f} | "
            f"{' / '.join(f'{x:,.0f}' for x in rates[name])} | "
            f"{statistics.median(ratios):.3f}x ({overhead:+.1%} overhead) |"
        )
    traced_steps = rounds * n * len(STEPS)
    print(f"spans exported with tracing on: {spans / traced_steps:.1f} per step")
    print()
    print("| recording calls, timed alone | calls per step | µs per step | share of a bare step |")
    print("| --- | ---: | ---: | ---: |")
    for label, calls, seconds in (
        ("metrics (prometheus-client)", m_calls, metric_seconds),
        ("tracing helpers, tracing off", t_calls, tracing_seconds),
    ):
        print(
            f"| {label} | {len(calls) / len(STEPS) / 2:.1f} | {seconds * 1e6:.2f} | "
            f"{seconds / step_seconds:.3%} |"
        )


if __name__ == "__main__":
    main()
