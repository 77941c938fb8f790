"""Prometheus text exposition for the worker, written by hand (no dependency).

Three families the issue asks for, plus the statement time of a claim:
- `renewflow_jobs_queue_depth{queue,state}` (gauge, read from the database at scrape time),
- `renewflow_jobs_start_latency_seconds{queue}` (histogram: enqueued -> started),
- `renewflow_jobs_claim_duration_seconds{queue}` (histogram: the claim statement itself),
- `renewflow_jobs_outcomes_total{queue,processor,outcome}` (counter).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from renewflow.errors import RenewflowError

log = logging.getLogger(__name__)

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

DepthSource = Callable[[], Mapping[str, Mapping[str, int]]]


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    body = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(10), " ").replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs
    )
    return "{" + body + "}"


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(_BUCKETS)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        for i, bound in enumerate(_BUCKETS):
            if value <= bound:
                self.counts[i] += 1


class Metrics:
    """Thread-safe counters and histograms of one worker process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: dict[tuple[str, str, str], int] = {}
        self._start: dict[str, _Histogram] = {}
        self._claim: dict[str, _Histogram] = {}
        self._depth: DepthSource | None = None

    def set_depth_source(self, source: DepthSource) -> None:
        self._depth = source

    def outcome(self, queue: str, processor: str, outcome: str) -> None:
        with self._lock:
            key = (queue, processor, outcome)
            self._outcomes[key] = self._outcomes.get(key, 0) + 1

    def start_latency(self, queue: str, seconds: float) -> None:
        with self._lock:
            self._start.setdefault(queue, _Histogram()).observe(max(seconds, 0.0))

    def claim_duration(self, queue: str, seconds: float) -> None:
        with self._lock:
            self._claim.setdefault(queue, _Histogram()).observe(seconds)

    def outcomes(self) -> dict[tuple[str, str, str], int]:
        with self._lock:
            return dict(self._outcomes)

    def render(self) -> str:
        lines: list[str] = []
        depth: Mapping[str, Mapping[str, int]] = {}
        if self._depth is not None:
            try:
                depth = self._depth()
            except Exception as error:  # a scrape must not kill the worker
                log.warning("queue depth unavailable: %s", error)
        lines += [
            "# HELP renewflow_jobs_queue_depth Jobs per queue and state.",
            "# TYPE renewflow_jobs_queue_depth gauge",
        ]
        for queue, states in sorted(depth.items()):
            for state, count in sorted(states.items()):
                lines.append(
                    f"renewflow_jobs_queue_depth{_labels((('queue', queue), ('state', state)))} {count}"
                )
        with self._lock:
            lines += [
                "# HELP renewflow_jobs_outcomes_total Finished runs per queue, processor and outcome.",
                "# TYPE renewflow_jobs_outcomes_total counter",
            ]
            for (queue, processor, outcome), count in sorted(self._outcomes.items()):
                labels = _labels((("queue", queue), ("processor", processor), ("outcome", outcome)))
                lines.append(f"renewflow_jobs_outcomes_total{labels} {count}")
            for name, help_text, hists in (
                (
                    "renewflow_jobs_start_latency_seconds",
                    "Time from enqueue to the start of a run.",
                    self._start,
                ),
                (
                    "renewflow_jobs_claim_duration_seconds",
                    "Time one claim statement takes.",
                    self._claim,
                ),
            ):
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
                for queue, hist in sorted(hists.items()):
                    # each bound counts every value at or below it: already cumulative
                    for bound, count in zip(_BUCKETS, hist.counts, strict=True):
                        labels = _labels((("queue", queue), ("le", f"{bound:g}")))
                        lines.append(f"{name}_bucket{labels} {count}")
                    labels = _labels((("queue", queue), ("le", "+Inf")))
                    lines.append(f"{name}_bucket{labels} {hist.total}")
                    lines.append(f"{name}_sum{_labels((('queue', queue),))} {hist.sum:.6f}")
                    lines.append(f"{name}_count{_labels((('queue', queue),))} {hist.total}")
        return "\n".join(lines) + "\n"


def serve_metrics(metrics: Metrics, host: str, port: int) -> ThreadingHTTPServer:
    """Serves `GET /metrics` on a daemon thread; returns the server (its port if `port` was 0)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as error:
        raise RenewflowError(f"cannot serve metrics on {host}:{port}: {error.strerror}") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
