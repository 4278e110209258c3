"""Decisions shaped for the pages: criteria with their evidence in clinical wording, and the
worklist with one "what to send next" list per patient."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, tzinfo
from typing import Any

from services.evaluator.adapters.trial_text import TrialText, trial_text
from services.evaluator.core.coordination import WorklistEntry
from services.evaluator.core.ports import CoordinatorDesk
from shared.contracts.events import EnrolmentConfirmation
from shared.eligibility.decision import Decision, Outcome
from shared.eligibility.engine import DECEASED_ID, permanent_failures
from shared.eligibility.readable import (
    KIND_ORDER,
    Need,
    asked_now,
    asked_too_early,
    clean_reason,
    dates_in_text,
    deceased,
    dose_words,
    evidence_line,
    fold_unidentified,
    need_key,
    need_kind,
    needs,
    plain_words,
    review_reasons,
    said_once,
    waiting_until,
)
from shared.sites import SiteScope


@dataclass(frozen=True, slots=True)
class CriterionView:
    id: str
    kind: str
    outcome: str
    summary: str
    protocol_text: str
    reason: str
    evidence: list[str]
    missing: list[str]


def criterion_views(decision: Decision, text: TrialText, zone: tzinfo) -> list[CriterionView]:
    year = decision.as_of.astimezone(zone).year
    views = []
    for c in decision.criteria:
        described = text.criteria.get(c.id)
        phrases = list(dict.fromkeys(evidence_line(e, text.labels, zone, year, decision.as_of)
                                     for e in c.evidence))
        views.append(CriterionView(
            id=c.id, kind=c.kind.value, outcome=c.outcome.value,
            summary=described.summary if described else c.id,
            protocol_text=described.protocol_text if described else "",
            reason=_not_in_evidence(_asked_now(_after_dash(clean_reason(c.reason, zone))),
                                    phrases, year),
            evidence=phrases,
            missing=fold_unidentified(
                said_once(dose_words(plain_words(dates_in_text(m, zone)))
                          for m in asked_now(c))),
        ))
    return views


async def worklist_views(
    desk: CoordinatorDesk, trial_id: str, missing: str | None, limit: int = 500,
    sites: SiteScope = None, zone: tzinfo = UTC,
) -> tuple[list[WorklistEntry], list[tuple[str, list[tuple[str, int]]]]]:
    """The trial's worklist (closest to eligible first) of patients of ``sites`` (None: every
    site), each item's instants written as days in ``zone`` (``readable.dates_in_text``),
    filtered to the patients who need ``missing`` (a need's key, ``readable.need_key``, or an
    item as written) when given, and every need's key with how many patients need it, grouped
    by kind (``readable.need_kind``; each kind's
    items most needed first, the kinds in ``readable.KIND_ORDER``)."""
    # the engine's ISO instants in each item as days, as the patient page writes them
    entries = [replace(e, needs=tuple(Need(item=dates_in_text(n.item, zone), unblocks=n.unblocks)
                                      for n in e.needs))
               for e in await desk.worklist(trial_id, limit, sites)]
    # keyed by the need (``readable.need_key``), not by its per-patient text: one entry for
    # SLEDAI-2K whichever descriptors each patient lacks; a patient counted once per key
    counts: dict[str, int] = {}
    for entry in entries:
        for key in dict.fromkeys(need_key(n.item) for n in entry.needs):
            counts[key] = counts.get(key, 0) + 1
    if missing:  # a key; an item as written (a link made before keys) still filters
        entries = [e for e in entries
                   if any(missing in (n.item, need_key(n.item)) for n in e.needs)]
    grouped: dict[str, list[tuple[str, int]]] = {}
    for item, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        grouped.setdefault(need_kind(item), []).append((item, count))
    return entries, sorted(grouped.items(), key=lambda kv: KIND_ORDER.index(kv[0]))


def unmet(decision: Decision) -> list[tuple[str, str, Outcome]]:
    """The criteria ``decision`` found failing or could not check, in its order, as (id,
    the trial text's short label ("" when the text has none), outcome): what an
    enrolment against a decision that is not eligible names and confirms."""
    text = trial_text(decision.trial)
    return [(c.id, text.criteria[c.id].summary if c.id in text.criteria else "", c.outcome)
            for c in decision.criteria if c.outcome is not Outcome.PASS]


def patient_context(decision: Decision, zone: tzinfo) -> dict[str, Any]:
    """What the patient page shows of one decision: the criteria, what to send (grouped), the
    criteria failed for good, why the next automatic review happens, and death."""
    text = trial_text(decision.trial)
    wanted = needs(decision)
    return {
        "decision": decision, "title": text.title,
        "criteria": criterion_views(decision, text, zone),
        # the engine's ISO instants as days, as evidence dates are written
        "needs": tuple(Need(item=dates_in_text(n.item, zone), unblocks=n.unblocks)
                       for n in wanted),
        "settled": [(c.id, text.criteria[c.id].summary if c.id in text.criteria else c.id)
                    for c in permanent_failures(decision) if c.id != DECEASED_ID],
        "review_why": review_reasons(decision, text.labels, zone),
        "waiting": [(cid, text.criteria[cid].summary if cid in text.criteria else cid, when)
                    for cid, when in waiting_until(decision)],
        "died": deceased(decision),
        "unmet": unmet(decision),
        # criteria failed now but not for good: the items to send matter only if these change
        "failing": [(c.id, text.criteria[c.id].summary if c.id in text.criteria else c.id)
                    for c in decision.criteria if c.outcome is Outcome.FAIL],
    }


def confirmation_words(confirmed: EnrolmentConfirmation | None) -> str:
    """What an enrolment overrode, for the patient page's action history: "confirmed despite
    I6.2 not met" (the criteria the confirmed decision found failing), "...; I4 could not be
    checked" (those it could not decide); empty for an action without a confirmation."""
    if confirmed is None:
        return ""
    said = []
    if confirmed.failing:
        said.append(f"{', '.join(confirmed.failing)} not met")
    if confirmed.unknown:
        said.append(f"{', '.join(confirmed.unknown)} could not be checked")
    return "confirmed despite " + ("; ".join(said) or f"a decision {confirmed.status}")


def needed_items(needs: tuple[Need, ...]) -> list[str]:
    return [n.item for n in needs]


_FILLER = re.compile(r"\b(?:on|last|within)\b|[^\w>=<.]+")


def _gist(text: str, year: int) -> str:
    """``text`` without punctuation, the decision's own ``year`` (which evidence lines leave
    out: ``readable.evidence_line``) and the words that differ between an evidence line and
    the engine's wording of the same finding ("methotrexate 24 Feb, washout ended 26 Feb
    2026" and "methotrexate last 24 Feb 2026: washout ended 26 Feb 2026" are one gist)."""
    return " ".join(w for w in _FILLER.sub(" ", text.lower()).split() if w != str(year))


def _asked_now(reason: str) -> str:
    """The reason without its findings about a statement asked too early
    (``readable.asked_too_early``: "not documented: clinician: low CrCl is ..." while CrCl
    cannot be computed)."""
    return "; ".join(p for p in reason.split("; ") if not asked_too_early(p, reason))


def _not_in_evidence(reason: str, evidence: list[str], year: int) -> str:
    """The reason's "; "-separated findings that no evidence line of the row already says (the
    row lists the evidence just above it: each drug, each statement, said once). A finding
    with a verdict of its own ("... meets >= 30", "no platelet count within 30 days") is kept."""
    said = {_gist(e, year) for e in evidence}
    return "; ".join(part for part in reason.split("; ") if _gist(part, year) not in said)


def _after_dash(reason: str) -> str:
    """The engine's reason repeats the criterion summary before " — ": the page shows it once."""
    head, dash, rest = reason.partition(" — ")
    said = rest if dash else head
    return said.partition(". needs: ")[0]  # the page lists what is missing on its own line
