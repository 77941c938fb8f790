"""The continuous-intelligence agent (spec: autonomous-tasks-log.md; issue 14): every 30 minutes
and on demand, for each customer whose data changed since its last pass, the health and risk
scores recomputed from their components, stored with the trend in `customer_intelligence`, and a
summary written by the LLM whose every claim cites the facts it rests on.

- `ContinuousIntelligence.run`: the slot's run, once however many callers ask (`runs`);
- `run_pass` / `run_tenant`: the pass itself, failing per tenant (`passes`);
- `evidence`: the summary's schema, prompt, and the rule that drops unsupported claims;
- `CronSecrets`: the cron endpoint's secrets, compared in constant time (`cron`);
- `ledger`: the one place that writes the autonomous-run ledger and asks for the budget.
"""

from renewflow.intelligence.cron import CronSecrets
from renewflow.intelligence.evidence import Claim, Summary, output_schema, supported
from renewflow.intelligence.passes import (
    JOB,
    PassLimits,
    PassResult,
    TenantResult,
    run_pass,
    run_tenant,
)
from renewflow.intelligence.runs import EVERY, ContinuousIntelligence, RunOutcome, periodic_job

__all__ = [
    "EVERY",
    "JOB",
    "Claim",
    "ContinuousIntelligence",
    "CronSecrets",
    "PassLimits",
    "PassResult",
    "RunOutcome",
    "Summary",
    "TenantResult",
    "output_schema",
    "periodic_job",
    "run_pass",
    "run_tenant",
    "supported",
]
