"""The built-in step processors, named by the core library (see `renewflow.workflows.processors`).

- `approval.manager` (after): the approver of an approval step is the person who answered it;
  `approver` defaults to their email.
- `renewal.record-terms` (after): the agreed terms go into the customer's renewal record
  (`customers.metadata.renewal.agreedTerms`).
- `renewal.confirm-signature` (after): a signed renewal closes the active contract as renewed.
- `renewal.record-outcome` (after): renewed closes the contract as renewed, lost as churned,
  extended keeps it active; the outcome and reason go into the renewal record.
- `health.snapshot` (before): a health snapshot (risk score, usage trend) into the context's
  `data.health` and onto the customer (`health_score`, `metadata.lastHealthSnapshot`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from renewflow.db import load_queries
from renewflow.workflows.processors import StepProcessor, StepProcessorInput, StepProcessorResult

_Q = load_queries("renewflow.workflows", "step_processors.sql")

_CONTRACT_STATUS = {"renewed": "renewed", "lost": "churned"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _record(step: StepProcessorInput, values: dict[str, Any]) -> None:
    with step.transaction() as conn:
        conn.execute(
            _Q["merge_renewal_metadata"],
            {"customer_id": step.customer_id, "values": Jsonb(values)},
        )


def approve_as_manager(step: StepProcessorInput) -> StepProcessorResult:
    outputs = dict(step.outputs or {})
    if not outputs.get("approver") and step.actor_user_id is not None:
        with step.transaction() as conn:
            row = conn.execute(_Q["actor_email"], {"user_id": step.actor_user_id}).fetchone()
        if row is not None:
            outputs["approver"] = row["email"]
    if not outputs.get("approver"):
        return StepProcessorResult.fail("approval.manager: the approver is unknown")
    return StepProcessorResult(outputs=outputs)


def record_terms(step: StepProcessorInput) -> StepProcessorResult:
    _record(step, {"agreedTerms": {**(step.outputs or {}), "recordedAt": _now()}})
    return StepProcessorResult()


def confirm_signature(step: StepProcessorInput) -> StepProcessorResult:
    outputs = dict(step.outputs or {})
    if outputs.get("signed"):
        outputs.setdefault("signedOn", datetime.now(UTC).date().isoformat())
        with step.transaction() as conn:
            conn.execute(
                _Q["set_contract_status"], {"customer_id": step.customer_id, "status": "renewed"}
            )
        _record(step, {"signedOn": outputs["signedOn"], "outcome": "renewed"})
    return StepProcessorResult(outputs=outputs)


def record_outcome(step: StepProcessorInput) -> StepProcessorResult:
    outputs = step.outputs or {}
    outcome = outputs.get("outcome")
    status = _CONTRACT_STATUS.get(str(outcome))
    if status is not None:
        with step.transaction() as conn:
            conn.execute(
                _Q["set_contract_status"], {"customer_id": step.customer_id, "status": status}
            )
    _record(
        step, {"outcome": outcome, "outcomeReason": outputs.get("reason"), "recordedAt": _now()}
    )
    return StepProcessorResult()


def health_snapshot(step: StepProcessorInput) -> StepProcessorResult:
    intelligence = step.context.get("intelligence") or {}
    usage = (step.context.get("data") or {}).get("usage") or {}
    risk = intelligence.get("riskScore")
    recorded_at = _now()
    snapshot = {
        "riskScore": risk,
        "usageTrend": usage.get("trend"),
        "recordedAt": recorded_at,
    }
    health_score = 100 - int(risk) if isinstance(risk, int | float) else None
    with step.transaction() as conn:
        conn.execute(
            _Q["record_health_snapshot"],
            {
                "customer_id": step.customer_id,
                "health_score": health_score,
                "snapshot": Jsonb(snapshot),
            },
        )
    return StepProcessorResult(
        outputs={"recordedAt": recorded_at}, data={"health": {**snapshot, "score": health_score}}
    )


def _phase(phase: str, function: Any) -> StepProcessor:
    function.phase = phase
    processor: StepProcessor = function
    return processor


BUILTINS: dict[str, StepProcessor] = {
    "approval.manager": _phase("after", approve_as_manager),
    "renewal.record-terms": _phase("after", record_terms),
    "renewal.confirm-signature": _phase("after", confirm_signature),
    "renewal.record-outcome": _phase("after", record_outcome),
    "health.snapshot": _phase("before", health_snapshot),
}
