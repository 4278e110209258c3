"""Per-evaluation state: the as-of instant, the fact index, and what each criterion collects."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.clinical.facts import ClinicalFact
from shared.eligibility.construct import construct
from shared.eligibility.decision import Evidence, Scalar
from shared.eligibility.durations import Duration
from shared.eligibility.index import FactIndex, fact_time
from shared.eligibility.reference_tables import Concept, Tables
from shared.time import iso_z


@dataclass(slots=True)
class Trace:
    """What one criterion found: evidence, readable findings, and the data it still needs.

    Missing data matters only where it could change the answer (strong Kleene): a node that is
    TRUE or FALSE contributes no missing items, and an UNKNOWN composite contributes those of its
    UNKNOWN children only. Compositions call ``forget`` after each child that is decided.
    Findings that only say a datum is absent (``gap``) are pruned the same way; evidence and
    the other findings stay, as they explain the answer.
    """

    evidence: list[Evidence] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    gaps: list[int] = field(default_factory=list)
    """Positions in ``findings`` of the findings that only say a datum is absent, ascending."""

    def need(self, what: str) -> None:
        if what not in self.missing:
            self.missing.append(what)

    def gap(self, finding: str) -> None:
        """A finding that only says what is absent: it goes when the absence cannot matter."""
        self.gaps.append(len(self.findings))
        self.findings.append(finding)

    def forget(self, missing: int, gaps: int) -> None:
        """Forget the missing data and gap findings recorded after the first ``missing`` and
        ``gaps`` of them (what a node that turned out decided recorded)."""
        del self.missing[missing:]
        positions = self.gaps
        while len(positions) > gaps:
            del self.findings[positions.pop()]

    def replay(self, other: Trace) -> None:
        """Append what ``other`` recorded (a memoised shared subtree) as if recorded here."""
        self.evidence.extend(other.evidence)
        if other.gaps:
            offset = len(self.findings)
            self.gaps.extend(offset + position for position in other.gaps)
        self.findings.extend(other.findings)
        if other.missing:
            missing = self.missing
            for what in other.missing:
                if what not in missing:
                    missing.append(what)


SharedResult = tuple[Any, Trace, dict[str, Concept], list[datetime], datetime | None]
"""A shared subtree's truth, what it recorded, the concepts it read, its review instants and
the earliest of them. Never modified once made: later evaluations replay it."""


class Refresh(datetime):
    """A review candidate at which a result's wording changes but its outcome cannot (a
    birthday that changes the age said, "age 35 years", not the answer of ``age >= 18``).

    It ends a kept result's validity (``engine.evaluate_incremental`` re-evaluates then, so the
    decision reads as a full evaluation would) but is not a time to wake the evaluator: the
    engine leaves it out of ``Decision.next_review_at``. Aware UTC, as every review instant."""

    __slots__ = ()


def wakes(candidates: list[datetime]) -> datetime | None:
    """The earliest review candidate at which an outcome can change (no ``Refresh``)."""
    return min((t for t in candidates if type(t) is not Refresh), default=None)


@dataclass(slots=True)
class Context:
    as_of: datetime
    index: FactIndex
    tables: Tables
    review_candidates: list[datetime] = field(default_factory=list)
    """Future instants at which the criterion being evaluated could change with no new data."""
    deps: dict[str, Concept] = field(default_factory=dict)
    """The concepts the criterion being evaluated has read (for incremental re-evaluation)."""
    keep: bool = True
    """Whether results are remembered for a later incremental evaluation (``remember`` with
    ``keep_only``): a one-off full evaluation skips what only reuse would pay for."""
    memo: dict[object, SharedResult] = field(default_factory=dict)
    """Results already computed at this as-of (``remember``: shared subtrees, score items)."""
    fresh: list[object] = field(default_factory=list)
    """The keys ``remember`` computed in this evaluation (not carried over), in order: what
    an incremental evaluation adds to the state's reverse index (``engine.Readers``)."""
    _starts: dict[str, datetime] = field(default_factory=dict)
    _rendered: dict[datetime, str] = field(default_factory=dict)

    def when(self, moment: datetime | None) -> str:
        """``when(moment)``, rendered once per evaluation (results of one panel share a time)."""
        if moment is None:
            return "unknown time"
        text = self._rendered.get(moment)
        if text is None:
            text = self._rendered[moment] = when(moment)
        return text

    def window_start(self, window: Duration) -> datetime:
        """``as_of - window``, computed once per evaluation (keyed by the duration's text, whose
        hash Python keeps, unlike the dataclass's)."""
        start = self._starts.get(window.text)
        if start is None:
            start = self._starts[window.text] = window.before(self.as_of)
        return start

    def facts(self, concept: Concept) -> list[ClinicalFact]:
        name = concept.name
        self.deps[name] = concept
        index = self.index
        facts, newest = index.entries.get(name) or index.entry(concept)
        if newest > self.as_of:
            # a future-dated fact becomes visible when as-of reaches it
            as_of = self.as_of
            self.review_candidates.append(min(t for f in facts if (t := fact_time(f)) > as_of))
        return facts

    def read_nothing(self, concepts: tuple[Concept, ...]) -> bool:
        """Read every one of ``concepts`` (as ``facts`` does); True when none has a fact."""
        found = False
        # ``facts`` inlined: score items call this for every item at every evaluation
        deps, index, as_of = self.deps, self.index, self.as_of
        entries = index.entries
        for concept in concepts:
            name = concept.name
            deps[name] = concept
            facts, newest = entries.get(name) or index.entry(concept)
            if newest > as_of:
                self.review_candidates.append(
                    min(t for f in facts if (t := fact_time(f)) > as_of)
                )
            if facts:
                found = True
        return not found

    def remember(
        self, key: object, trace: Trace, compute: Callable[[Trace], Any], keep_only: bool = False
    ) -> Any:
        """``compute(trace)`` once per ``key`` per evaluation, its trace replayed on reuse.

        What it read and its review instants are kept with the result, so an incremental
        re-evaluation (``engine.evaluate_incremental``) reuses it while nothing it read has
        changed and as-of has not reached its earliest review instant. ``key`` must identify
        the computation across evaluations of one trial version (a node, a score item).
        With ``keep_only`` the result is remembered only when the evaluation keeps its state
        (``keep``); otherwise ``compute`` writes to ``trace`` directly, as it would unwrapped.
        """
        if keep_only and not self.keep:
            return compute(trace)
        hit = self.memo.get(key)
        if hit is None:
            outer_deps, outer_reviews = self.deps, self.review_candidates
            self.deps, self.review_candidates = {}, []
            sub = Trace()
            try:
                truth = compute(sub)
                reviews = self.review_candidates
                hit = self.memo[key] = (
                    truth,
                    sub,
                    self.deps,
                    reviews,
                    min(reviews) if reviews else None,
                )
                self.fresh.append(key)
            finally:
                self.deps, self.review_candidates = outer_deps, outer_reviews
        truth, sub, deps, reviews, _ = hit
        self.deps.update(deps)
        self.review_candidates.extend(reviews)
        trace.replay(sub)
        return truth

    def review_at(self, moment: datetime | None) -> None:
        """Note a future instant at which this decision could change with no new data."""
        if moment is not None and moment > self.as_of:
            self.review_candidates.append(moment)


_new_evidence = Evidence.__new__
_set = object.__setattr__
_RECEIVED_NUMBER = re.compile(r"^\s*(?:<=|>=|<|>|=)?\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*$")


def significant_figures(text: str) -> int | None:
    """How many significant figures a number as written has ("44.4" 3, "0.90" 2, "180" 3);
    None when ``text`` is not one plain number (a titer "1:320", a word)."""
    match = _RECEIVED_NUMBER.match(text)
    if match is None:
        return None
    digits = match.group(1).lstrip("+-").replace(".", "").lstrip("0")
    return max(len(digits), 1)


def round_to(value: float, figures: int) -> float:
    """``value`` rounded to ``figures`` significant figures (display only, never judged)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, figures - 1 - math.floor(math.log10(abs(value))))


def as_received(fact: ClinicalFact) -> tuple[float, str, str] | None:
    """The canonical value rounded to the precision the lab sent, with the received text
    ("0.502 mg/dL", "44.4 umol/L"), when the fact keeps a received value that differs from
    the canonical one (issue 9 kind 12); None otherwise (nothing to show beside it).

    Returns (rounded value, the rounded value written with its significant figures, the
    received text).
    """
    received, quantity = fact.received, fact.value_quantity
    if received is None or quantity is None or received.value is None:
        return None
    match = _RECEIVED_NUMBER.match(received.value)
    if match is not None and float(match.group(1)) == quantity.value and (
        received.unit is None or received.unit == quantity.unit
    ):
        return None  # sent as it is kept: nothing to add (the common case: text not written)
    # no unit sent and another number kept: the normaliser read the bound that holds in every
    # accepted unit (">200" -> >0.2 10*9/L); the text says no unit came, so no reader takes the
    # sent number for the kept one
    text = f"{received.value} {received.unit}" if received.unit else (
        received.value if match is None else f"{received.value} with no unit")
    if match is None:
        # a titer or a word: shown beside the value as it is
        return quantity.value, f"{quantity.value:g}", text
    figures = significant_figures(received.value) or 1
    rounded = round_to(quantity.value, figures)
    written = f"{rounded:#.{figures}g}".rstrip(".")
    if "e" in written:  # 180000 sent as "1.8e+05 /uL" reads worse than the plain number
        written = f"{rounded:g}"
    return rounded, written, text


def _sent_as_kept(received: str | None, received_unit: str | None, value: float,
                  unit: str | None) -> bool:
    """True when the received text is the plain writing of ``value`` ("150" for 150.0, "0.5")
    in the same unit (or none): then ``as_received`` is None and ``_written_otherwise`` False,
    so ``cite`` adds nothing, found without the regular expression. False means: ask those
    two (never a different answer, only the longer way)."""
    if received is None:
        return True  # ``as_received`` None, ``_written_otherwise`` False
    if (received_unit is not None and received_unit != unit) or type(value) is not float:
        return False
    plain = str(int(value)) if value.is_integer() else repr(value)
    # a float's repr may be "1e-05", "inf" or "nan", which ``as_received`` reads otherwise
    return received == plain and "e" not in plain and "n" not in plain


def _written_otherwise(received: str | None, value: float) -> bool:
    """Whether ``received`` is not the plain writing of ``value`` ("150" for 150.0, "0.5")."""
    if received is None:
        return False
    plain = str(int(value)) if value.is_integer() else repr(value)
    return received.strip() != plain


def cite(
    fact: ClinicalFact,
    *,
    value: Scalar = None,
    unit: str | None = None,
    note: str | None = None,
    details: dict[str, Any] | None = None,
) -> Evidence:
    """Evidence for one fact, built without re-validation (the fact is already valid)."""
    coding = fact.codes[0] if fact.codes else None
    if value is None and fact.value_quantity is not None:
        value, unit = fact.value_quantity.value, fact.value_quantity.unit
        received = fact.received
        if received is not None and _sent_as_kept(received.value, received.unit, value, unit):
            pass  # the common case: nothing to show beside the value (see ``_sent_as_kept``)
        elif received is not None and (sent := as_received(fact)) is not None:
            # as the lab sent it, beside the canonical value at the precision it was sent with
            value = sent[0]
            details = dict(details or {})
            details["received_value"] = received.value
            details["received_unit"] = received.unit
        elif received is not None and _written_otherwise(received.value, value):
            # the same number in the same unit, written with other digits or a bound ("0.50",
            # "<10"): kept, so a reader shows what was sent and never a re-rendered float
            details = dict(details or {})
            details["received_value"] = received.value
            details["received_unit"] = received.unit
    elif value is None and fact.value_code is not None:
        value = fact.value_code.code
    elif value is None and fact.value_boolean is not None:
        value = fact.value_boolean
    if fact.notes:
        # elements read with a warning (an alias unit, an approximate time): the decision
        # shows them beside the value they concern (issue 9, the reading rule)
        details = dict(details or {})
        details["reading_notes"] = "; ".join(f"{n.path}: {n.reason}" for n in fact.notes)
    # ``construct`` inlined: evidence is the most frequent model the engine makes
    values = {
        "fact_id": fact.fact_id,
        "resource": fact.provenance.resource,
        "code": f"{coding.system}|{coding.code}" if coding else None,
        "value": value,
        "unit": unit,
        "effective": fact.effective_start or fact.effective_end,
        "note": note,
        "details": details or {},
    }
    evidence = _new_evidence(Evidence)
    _set(evidence, "__dict__", values)
    _set(evidence, "__pydantic_fields_set__", set(values))
    _set(evidence, "__pydantic_extra__", None)
    _set(evidence, "__pydantic_private__", None)
    return evidence


def unread_text(concept_label: str, fact: ClinicalFact) -> str:
    """``"platelet count of 2026-02-28 could not be read: value '<<10' is not a number"``."""
    assert fact.unread is not None
    moment = fact.effective_start or fact.effective_end
    day = f" of {moment.date().isoformat()}" if moment is not None else " (undated)"
    return f"{concept_label}{day} could not be read: {fact.unread.reason}"


def note_unread(trace: Trace, concept_label: str, fact: ClinicalFact) -> str:
    """Record that the most recent result a criterion reads was kept unread; return the text.

    The text is a missing datum (so the criterion is UNKNOWN and says why) and a finding; the
    fact is cited with the input path that could not be read. An older readable result must
    not be used in its place (``shared/clinical/README.md``, "Unread results").
    """
    assert fact.unread is not None
    text = unread_text(concept_label, fact)
    trace.need(text)
    trace.gap(text)
    trace.evidence.append(
        cite(
            fact,
            note=f"could not be read: {fact.unread.reason}",
            details={"unread_path": fact.unread.path},
        )
    )
    return text


def derived(
    code: str,
    value: Scalar,
    unit: str | None,
    *,
    effective: datetime | None = None,
    note: str | None = None,
    resource: str | None = None,
    details: dict[str, Any] | None = None,
) -> Evidence:
    """Evidence for a value the engine derived (an age, a computed score)."""
    return construct(
        Evidence,
        {
            "fact_id": None,
            "resource": resource,
            "code": code,
            "value": value,
            "unit": unit,
            "effective": effective,
            "note": note,
            "details": details or {},
        },
    )


def when(moment: datetime | None) -> str:
    if moment is None:
        return "unknown time"
    text = moment.isoformat()
    # facts hold UTC already (UtcDatetime): skip the conversion on the hot path
    return text[:-6] + "Z" if text.endswith("+00:00") else iso_z(moment)
