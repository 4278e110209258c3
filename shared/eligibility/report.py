"""A coordinator-readable rendering of a decision (plain text, no PHI: the decision holds none).

What to send next is printed once, at the top, with the criteria each item would settle; each
criterion then gives its result, its reason (repeated clauses said once, no file paths) and its
evidence in clinical wording (human units, SNOMED qualifiers as words, dates in ``zone``).
"""

from __future__ import annotations

from datetime import UTC, tzinfo

from shared.eligibility.decision import CriterionKind, Decision, Outcome, Status
from shared.eligibility.readable import (
    clean_reason,
    deceased,
    evidence_line,
    human_time,
    needs,
    status_words,
)

_MARK = {Outcome.PASS: "PASS", Outcome.FAIL: "FAIL", Outcome.UNKNOWN: "????"}


def render_text(
    decision: Decision, labels: dict[str, str] | None = None, zone: tzinfo = UTC
) -> str:
    """``labels`` maps ``system|code`` to a clinical name (the trial's concept table)."""
    names = labels or {}
    died = deceased(decision)
    if died is not None:
        # one statement: no data to ask for, no review, no age at a date after death
        return "\n".join([
            f"Trial {decision.trial.id} version {decision.trial.version},"
            f" as of {human_time(decision.as_of, zone)}",
            f"Status: {status_words(decision.status)}",
            f"{died}.",
            f"Engine: {decision.engine_version}",
            "(the trial's criteria are not shown for a deceased patient; --json has them)",
        ])
    review = human_time(decision.next_review_at, zone) if decision.next_review_at else (
        "none scheduled")
    lines = [
        f"Trial {decision.trial.id} version {decision.trial.version},"
        f" as of {human_time(decision.as_of, zone)}",
        f"Status: {status_words(decision.status)}",
        *_because(decision),
        f"Next review: {review}",
        f"Engine: {decision.engine_version}",
        "",
    ]
    wanted = needs(decision)
    if wanted:
        lines.append("What to send next:")
        lines.extend(f"  - {n.item} (needed for {', '.join(n.unblocks)})" for n in wanted)
        lines.append("")
    year = decision.as_of.astimezone(zone).year
    for result in decision.criteria:
        reason = clean_reason(result.reason, zone).partition(". needs: ")[0]
        lines.append(f"[{_MARK[result.outcome]}] {result.id} ({result.kind.value}): {reason}")
        phrases = dict.fromkeys(evidence_line(e, names, zone, year, decision.as_of)
                                for e in result.evidence)
        lines.extend(f"        evidence: {p}" for p in phrases)
    lines.append("")
    lines.append("Parameters: " + "; ".join(f"{k}={v}" for k, v in decision.parameters.items()))
    return "\n".join(lines)


def _because(decision: Decision) -> list[str]:
    """For a decision that is not eligible, one line naming the criteria that decided it, as
    the patient page's "Because:" does ("Because: I6 (not met); I6.2 (not met). Details
    below."): else the reason came after the whole list of items to send (fresh user, s14)."""
    if decision.status is not Status.INELIGIBLE:
        return []
    failed = [f"{c.id} ({'not met' if c.kind is CriterionKind.INCLUSION else 'excluded'})"
              for c in decision.criteria if c.outcome is Outcome.FAIL]
    return [f"Because: {'; '.join(failed)}. Details below."] if failed else []
