"""A coordinator-readable rendering of a decision (plain text, no PHI: the decision holds none)."""

from __future__ import annotations

from shared.eligibility.decision import Decision, Evidence, Outcome
from shared.time import iso_z

_MARK = {Outcome.PASS: "PASS", Outcome.FAIL: "FAIL", Outcome.UNKNOWN: "????"}


def _evidence_line(evidence: Evidence) -> str:
    parts = [evidence.resource or evidence.code or "derived"]
    if evidence.value is not None:
        parts.append(f"= {evidence.value}{' ' + evidence.unit if evidence.unit else ''}")
    if evidence.effective is not None:
        parts.append(f"@ {iso_z(evidence.effective)}")
    if evidence.note:
        parts.append(f"({evidence.note})")
    return " ".join(parts)


def render_text(decision: Decision) -> str:
    review = iso_z(decision.next_review_at) if decision.next_review_at else "none scheduled"
    lines = [
        f"Trial {decision.trial.id} version {decision.trial.version}"
        f" as of {iso_z(decision.as_of)}: {decision.status.value.upper()}",
        f"Next review: {review}",
        f"Engine: {decision.engine_version}",
        "",
    ]
    for result in decision.criteria:
        lines.append(
            f"[{_MARK[result.outcome]}] {result.id} ({result.kind.value}): {result.reason}"
        )
        lines.extend(f"        evidence: {_evidence_line(e)}" for e in result.evidence)
        lines.extend(f"        needs: {m}" for m in result.missing)
    lines.append("")
    lines.append("Parameters: " + "; ".join(f"{k}={v}" for k, v in decision.parameters.items()))
    return "\n".join(lines)
