"""Washout: a drug was taken within ``multiple`` x its elimination half-life before as-of.

TRUE (still within washout) when any exposure's washout has not ended; FALSE when every
exposure's washout has ended; UNKNOWN when a drug's half-life is not in the table or an
exposure's last dose cannot be dated. A washout that ends exactly at as-of has ended. The last
dose is the end of the exposure's period; a MedicationAdministration at one instant is the dose
itself (no stop date is needed).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from shared.clinical.facts import ClinicalFact
from shared.eligibility.context import Context, Trace, cite, note_unread
from shared.eligibility.index import UNIDENTIFIED_MEDICATIONS, fact_time
from shared.eligibility.logic import Truth, any_of
from shared.eligibility.params import IsoDuration, Strict, optional_duration
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.primitives.records import (
    NOT_TAKEN,
    ClinicianFact,
    marked_unidentified_medication,
)
from shared.eligibility.primitives.registry import primitive
from shared.eligibility.reference_tables import RXNORM, Concept, Tables


class WashoutArgs(Strict):
    valuesets: list[str]
    half_life_bound: Literal["upper", "lower", "typical"] = "upper"
    multiple: float = 5.0
    cleared_by: dict[str, str] = Field(
        default_factory=dict, description="ingredient code -> concept of a clearance fact"
    )
    clearance_validity: IsoDuration | None = None


ONGOING = frozenset({"active", "on-hold", "in-progress", "intended"})


def is_administration(fact: ClinicalFact) -> bool:
    """A dose given (FHIR R4 MedicationAdministration), not a statement or an order."""
    return fact.provenance.resource.startswith("MedicationAdministration/")


def longest_washout(
    concepts: list[Concept], tables: Tables, bound: str, multiple: float
) -> timedelta | None:
    """The longest washout (``multiple`` x the ``bound`` half-life, tables/half_lives.yaml) of
    any drug in ``concepts``, or None when a drug's half-life is not in the table (no bound)."""
    longest = timedelta(0)
    for concept in concepts:
        for key in concept.keys:
            half_life = tables.half_lives.get(key.partition("|")[2])
            hours = half_life.hours(bound) if half_life else None
            if hours is None:
                return None
            longest = max(longest, timedelta(hours=hours * multiple))
    return longest


class WashoutActive(Node):
    """Whether a drug of ``concepts`` is still within its washout (module docstring).

    Closed-world over the medication record, so a medication TrialWatch cannot identify
    (``index.UNIDENTIFIED_MEDICATIONS``: coded only by NDC, ATC or a local code, which no value
    set lists and the site medication crosswalk does not map; or by an RxNorm code in neither
    tables/rxnorm_products.yaml nor a drug value set, with no ingredient list from that
    crosswalk) is not read as no drug: with its last dose
    (or its start, when it has no end) within ``look_back`` (the longest washout of the drugs in
    ``concepts``; any time when a half-life is missing) or ongoing, the answer is UNKNOWN naming
    the entry's code path and why, never FALSE. Only a readable exposure within washout (TRUE)
    decides over it.
    """

    __slots__ = ("bound", "clearances", "concepts", "look_back", "multiple")

    def __init__(
        self,
        concepts: list[Concept],
        bound: str,
        multiple: float,
        clearances: dict[str, ClinicianFact] | None = None,
        look_back: timedelta | None = None,
    ) -> None:
        self.concepts, self.bound, self.multiple = tuple(concepts), bound, multiple
        self.clearances = clearances or {}
        self.look_back = look_back

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        results: list[Truth] = []
        seen: set[str] = set()
        for concept in self.concepts:
            drug_keys = {k.partition("|")[2]: k for k in concept.keys}
            for fact in ctx.facts(concept):
                if fact.fact_id in seen or fact.status in NOT_TAKEN or fact_time(fact) > ctx.as_of:
                    continue
                seen.add(fact.fact_id)
                for drug in self._drugs(ctx, fact, drug_keys):
                    results.append(self._exposure(ctx, trace, fact, drug))
        for fact in ctx.facts(UNIDENTIFIED_MEDICATIONS):
            if fact.fact_id in seen or fact.status in NOT_TAKEN or fact_time(fact) > ctx.as_of:
                continue
            seen.add(fact.fact_id)
            if self._may_be_within(ctx, fact):
                results.append(self._unidentified(trace, fact))
        if not results:
            trace.findings.append("no immunosuppressant or biologic exposure on record")
            return Truth.FALSE
        return any_of(results)

    def _may_be_within(self, ctx: Context, fact: ClinicalFact) -> bool:
        """Whether an exposure of any drug in the value sets could still be within washout:
        ongoing, undated, or last dosed (else started) within ``look_back``."""
        if fact.effective_end is None and fact.status in ONGOING:
            return True
        last = fact.effective_end or fact.effective_start
        if self.look_back is None or last is None:
            return True
        if last + self.look_back <= ctx.as_of:
            return False
        ctx.review_at(last + self.look_back)
        return True

    @staticmethod
    def _unidentified(trace: Trace, fact: ClinicalFact) -> Truth:
        note_unread(trace, "medication", marked_unidentified_medication(fact, RXNORM))
        return Truth.UNKNOWN

    @staticmethod
    def _drugs(ctx: Context, fact: ClinicalFact, drug_keys: dict[str, str]) -> list[str]:
        drugs: list[str] = []
        for coding in fact.codes:
            candidates = [coding.code]
            if coding.system == RXNORM:
                candidates.extend(ctx.tables.product_ingredients.get(coding.code, ()))
            drugs.extend(c for c in candidates if c in drug_keys and c not in drugs)
        return drugs

    def _exposure(self, ctx: Context, trace: Trace, fact: ClinicalFact, drug: str) -> Truth:
        half_life = ctx.tables.half_lives.get(drug)
        hours = half_life.hours(self.bound) if half_life else None
        # RxNorm's own name (tables/rxnorm_names.yaml), else the half-life table's, else the code
        name = ctx.tables.rxnorm_names.get(drug) or (half_life.ingredient if half_life else drug)
        if fact.unread is not None:
            # an exposure whose record could not be read is not over: its washout is unknown
            note_unread(trace, name, fact)
            return Truth.UNKNOWN
        if fact.effective_end is None and fact.status in ONGOING:
            # an ongoing drug is within washout whatever its half-life
            trace.evidence.append(cite(fact, note=f"{name}: ongoing ({fact.status})"))
            trace.findings.append(f"{name} ongoing: washout has not started")
            return Truth.TRUE
        if hours is None:
            trace.need(f"elimination half-life of {name} (not in the half-life table)")
            trace.evidence.append(
                cite(fact, note=f"{name}: half-life unknown, washout cannot be computed")
            )
            trace.gap(f"{name} on record, half-life unknown")
            return Truth.UNKNOWN
        washout = timedelta(hours=hours * self.multiple)
        details: dict[str, object] = {
            "drug": name,
            "half_life_hours": hours,
            "half_life_bound": self.bound,
            "washout_multiple": self.multiple,
            "half_life_source": half_life.source if half_life else None,
        }
        last = fact.effective_end
        if last is None and is_administration(fact):
            # FHIR R4 MedicationAdministration.effective[x]: "the start and end time ... that the
            # medication was administered"; a dateTime is the dose itself, so it is the last dose
            last = fact.effective_start
        if last is None:
            start = fact.effective_start
            if start is not None and start + washout > ctx.as_of:
                end = start + washout
                details["washout_end_at_least"] = ctx.when(end)
                trace.evidence.append(
                    cite(
                        fact,
                        note=f"{name}: stop date unknown; started {ctx.when(start)}",
                        details=details,
                    )
                )
                trace.findings.append(
                    f"{name} started {ctx.when(start)}:"
                    f" within washout until at least {ctx.when(end)}"
                )
                ctx.review_at(end)
                return Truth.TRUE
            trace.need(f"stop date (last dose) of {name}")
            trace.evidence.append(cite(fact, note=f"{name}: stop date unknown", details=details))
            return Truth.UNKNOWN
        return self._from_last_dose(ctx, trace, fact, drug, name, last, washout, details)

    def _from_last_dose(
        self,
        ctx: Context,
        trace: Trace,
        fact: ClinicalFact,
        drug: str,
        name: str,
        last: datetime,
        washout: timedelta,
        details: dict[str, object],
    ) -> Truth:
        end = last + washout
        details["last_dose"] = ctx.when(last)
        details["washout_end"] = ctx.when(end)
        if ctx.as_of >= end:
            trace.evidence.append(
                cite(fact, note=f"{name}: washout ended {ctx.when(end)}", details=details)
            )
            trace.findings.append(f"{name} last {ctx.when(last)}: washout ended {ctx.when(end)}")
            return Truth.FALSE
        clearance = self.clearances.get(drug)
        if clearance is not None and clearance.evaluate(ctx, trace) is Truth.TRUE:
            trace.findings.append(
                f"{name}: documented accelerated elimination overrides the washout"
            )
            return Truth.FALSE
        ctx.review_at(end)
        trace.evidence.append(
            cite(fact, note=f"{name}: within washout until {ctx.when(end)}", details=details)
        )
        trace.findings.append(f"{name} last {ctx.when(last)}: within washout until {ctx.when(end)}")
        return Truth.TRUE

    def requirements(self) -> list[Requirement]:
        reqs = [
            Requirement(
                c.name,
                f"medication exposure with status and stop date (a MedicationAdministration's"
                f" time is the dose);"
                f" washout = {self.multiple:g} x half-life ({self.bound} bound)",
            )
            for c in self.concepts
        ]
        for clearance in self.clearances.values():
            reqs.extend(clearance.requirements())
        return reqs


@primitive("washout", WashoutArgs, concept_fields=("valuesets",))
def _washout(a: WashoutArgs, tables: Tables) -> Node:
    clearances = {
        drug: ClinicianFact(tables.concept(concept), optional_duration(a.clearance_validity))
        for drug, concept in a.cleared_by.items()
    }
    concepts = [tables.concept(v) for v in a.valuesets]
    return WashoutActive(
        concepts, a.half_life_bound, a.multiple, clearances,
        longest_washout(concepts, tables, a.half_life_bound, a.multiple),
    )
