"""Render the issue's reference template with renewflow, pybars4 and handlebars.js (node).

Run: `.venv/bin/python -m bench.templates` (node and npm optional; handlebars@4.7 is installed
into a temporary directory). Each engine renders for about two seconds after a warm-up; node
times itself so process start-up is not counted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from renewflow.templates import compile

SOURCE = (
    "Analyze risk for {{customer.name}} with ARR ${{customer.arr}}. Current usage: "
    "{{data.usage.trend}}. Days until renewal: {{workflow.daysUntilRenewal}}.\n"
    "{{#if (and customer.hasAccountPlan (gte workflow.renewalARR 100000))}}Strategic account war "
    "room required.{{/if}}\n"
    "{{#each contacts}}- {{name}} ({{role}}){{/each}} Overdue {{abs workflow.daysOverdue}} days.\n"
)
CONTEXT: dict[str, Any] = {
    "customer": {"name": "Acme Corp", "arr": 100000, "hasAccountPlan": True},
    "data": {"usage": {"trend": "+12% growth"}},
    "workflow": {"daysUntilRenewal": 130, "renewalARR": 150000, "daysOverdue": -3},
    "contacts": [
        {"name": "Sarah Chen", "role": "CFO"},
        {"name": "Eric Estrada", "role": "VP"},
        {"name": "Li", "role": "Admin"},
    ],
}
SECONDS = 2.0

NODE_BENCH = """
const H = require('handlebars');
H.registerHelper('gte', (a, b) => a >= b);
H.registerHelper('and', (...a) => a.slice(0, -1).every(Boolean));
H.registerHelper('abs', (a) => Math.abs(a));
const [src, ctx] = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const t = H.compile(src, {noEscape: true});
for (let i = 0; i < 50000; i++) t(ctx);
let n = 0; const t0 = process.hrtime.bigint(); let elapsed = 0;
while (elapsed < %s) {
  for (let i = 0; i < 10000; i++) t(ctx);
  n += 10000; elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
}
console.log(JSON.stringify({rate: n / elapsed, output: t(ctx)}));
"""


def _rate(render: Any) -> tuple[float, str]:
    for _ in range(2000):
        render()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < SECONDS:
        for _ in range(1000):
            render()
        count += 1000
    return count / elapsed, str(render())


def renewflow_rate() -> tuple[float, str]:
    template = compile(SOURCE)
    return _rate(lambda: template.render(CONTEXT))


def pybars_rate() -> tuple[float, str] | None:
    try:
        import pybars
    except ImportError:
        return None
    helpers = {
        "gte": lambda this, a, b: a >= b,
        "and": lambda this, *args: all(args),
        "abs": lambda this, a: abs(a),
    }
    template = pybars.Compiler().compile(SOURCE)
    return _rate(lambda: template(CONTEXT, helpers=helpers))


def handlebars_js_rate() -> tuple[float, str] | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None
    with tempfile.TemporaryDirectory() as directory:
        install = [npm, "install", "--no-audit", "--no-fund", "--silent", "handlebars@4.7"]
        if subprocess.run(install, cwd=directory, capture_output=True, check=False).returncode:
            return None
        script = Path(directory) / "bench.js"
        script.write_text(NODE_BENCH % SECONDS, encoding="utf-8")
        result = subprocess.run(
            [node, str(script)],
            cwd=directory,
            input=json.dumps([SOURCE, CONTEXT]),
            capture_output=True,
            text=True,
            check=True,
        )
    report = json.loads(result.stdout)
    return float(report["rate"]), str(report["output"])


def main() -> None:
    ours, expected = renewflow_rate()
    print(f"renewflow.templates  {ours:>12,.0f} renders/s")
    for name, measured in (("pybars4", pybars_rate()), ("handlebars.js", handlebars_js_rate())):
        if measured is None:
            print(f"{name:<20} unavailable")
            continue
        rate, output = measured
        same = "same output" if output == expected else "DIFFERENT OUTPUT"
        print(f"{name:<20} {rate:>12,.0f} renders/s  renewflow is {ours / rate:.2f}x  ({same})")


if __name__ == "__main__":
    main()
