"""BILAG-2004 organ-domain grades: "at least one grade A or two grade B domains".

BILAG-2004 grades each of nine organ domains A (severe, active disease needing high-dose
treatment) to E (never involved): Isenberg DA et al., Rheumatology 2005;44:902-906 (the
index) and Yee CS et al., Rheumatology 2007;46:1783-1790 (reliability). A trial's
"moderate-to-severe activity" is counted per domain from the latest grade of each domain
documented within the look-back window.

Three-valued: TRUE once enough A or B grades are documented; FALSE only when every one of
the nine domains is graded in the window and the counts fall short (an ungraded domain could
be A); otherwise UNKNOWN, naming the domains still to grade.
"""

from __future__ import annotations

from pydantic import Field

from shared.clinical.facts import ClinicalFact
from shared.eligibility.context import Context, Trace, cite, note_unread
from shared.eligibility.durations import Duration
from shared.eligibility.index import fact_time
from shared.eligibility.logic import Truth
from shared.eligibility.params import IsoDuration, Strict, duration
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.primitives.registry import primitive
from shared.eligibility.reading import marked_unread, project_code
from shared.eligibility.reference_tables import Concept, Tables

DOMAINS = (
    "constitutional",
    "mucocutaneous",
    "neuropsychiatric",
    "musculoskeletal",
    "cardiorespiratory",
    "gastrointestinal",
    "ophthalmic",
    "renal",
    "haematological",
)
"""The nine BILAG-2004 domains (Isenberg 2005, table 1)."""
GRADES = frozenset("ABCDE")


class BilagArgs(Strict):
    concept: str
    min_a: int = Field(ge=1, description="domains graded A that suffice")
    min_b: int = Field(ge=1, description="domains graded B that suffice")
    lookback: IsoDuration


def domain_of(fact: ClinicalFact) -> str | None:
    """``bilag-2004-<domain>`` (TrialWatch eligibility-facts code) -> the domain name."""
    for coding in fact.codes:
        if coding.code.startswith("bilag-2004-"):
            name = coding.code.removeprefix("bilag-2004-")
            if name in DOMAINS:
                return name
    return None


def grade_of(fact: ClinicalFact) -> str | None:
    """The grade A-E as coded in TrialWatch's code system (valueCodeableConcept), else None."""
    return grade_reading(fact)[0]


def grade_reading(fact: ClinicalFact) -> tuple[str | None, str]:
    """``(grade, "")``, or ``(None, why)`` for a value that is no BILAG-2004 grade A-E of
    TrialWatch's code system (``reading.project_code``; a local "A" is not grade A); ``why`` is
    "" for a fact kept unread by the normaliser or with no value at all."""
    if fact.unread is not None:
        return None, ""
    grade, why = project_code(fact)
    if grade is None:
        return None, why
    if grade not in GRADES:
        return None, f"grade {grade!r} is not a BILAG-2004 grade (A-E)"
    return grade, ""


class BilagGrades(Node):
    """At least ``min_a`` domains graded A, or at least ``min_b`` graded B."""

    __slots__ = ("concept", "lookback", "min_a", "min_b")

    def __init__(self, concept: Concept, min_a: int, min_b: int, lookback: Duration) -> None:
        self.concept, self.min_a, self.min_b, self.lookback = concept, min_a, min_b, lookback

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        start = ctx.window_start(self.lookback)
        latest: dict[str, tuple[str, ClinicalFact]] = {}
        unread: dict[str, ClinicalFact] = {}
        for fact in ctx.facts(self.concept):  # newest first
            moment = fact_time(fact)
            domain = domain_of(fact)
            if moment > ctx.as_of or moment <= start or domain is None:
                continue
            if domain in latest or domain in unread:
                continue
            grade, why = grade_reading(fact)
            if grade is None:
                if fact.unread is not None or why:
                    # the domain's latest grade could not be read: no older grade stands in
                    unread[domain] = fact if fact.unread is not None else marked_unread(fact, why)
                    ctx.review_at(self.lookback.after(moment))
                continue
            latest[domain] = (grade, fact)
            ctx.review_at(self.lookback.after(moment))
        a = sorted(d for d, (g, _) in latest.items() if g == "A")
        b = sorted(d for d, (g, _) in latest.items() if g == "B")
        for domain in sorted(latest):
            grade, fact = latest[domain]
            trace.evidence.append(cite(fact, value=grade, note=f"BILAG-2004 {domain}"))
        summary = f"BILAG-2004 grade A: {a or 'none'}; grade B: {b or 'none'}"
        if len(a) >= self.min_a or len(b) >= self.min_b:
            trace.findings.append(summary)
            return Truth.TRUE
        ungraded = [d for d in DOMAINS if d not in latest]
        for domain in sorted(unread):
            note_unread(trace, f"BILAG-2004 {domain} grade", unread[domain])
        if not ungraded:
            trace.findings.append(f"{summary} (all nine domains graded)")
            return Truth.FALSE
        trace.need(f"BILAG-2004 grades within {self.lookback.words()} for: {', '.join(ungraded)}")
        trace.gap(f"{summary}; ungraded domains could still be A or B")
        return Truth.UNKNOWN

    def requirements(self) -> list[Requirement]:
        return [
            Requirement(
                self.concept.name,
                f"latest grade (A-E, valueCodeableConcept) of each of the nine domains within "
                f"{self.lookback.words()}; >= {self.min_a} A or >= {self.min_b} B",
            )
        ]


@primitive("bilag", BilagArgs, concept_fields=("concept",))
def _bilag(a: BilagArgs, tables: Tables) -> Node:
    return BilagGrades(tables.concept(a.concept), a.min_a, a.min_b, duration(a.lookback))
