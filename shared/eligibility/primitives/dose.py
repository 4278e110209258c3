"""The dose primitive: a drug's daily dose per kg of body weight against a threshold.

``{dose: {valuesets: [...], op: ">=", value: 1, per: kg, lookback: P12M, weight_window: P30D,
equivalents: {"8640": 1, ...}}}``: TRUE when a use of a drug of the value sets overlapping the
look-back has a daily dose (``ClinicalFact.dose``, read by ``shared.clinical.dosage`` from FHIR
R4 Dosage) that, converted to the reference drug (``equivalents``: factor per RxNorm
ingredient, e.g. prednisone-equivalent mg) and divided by the body weight (LOINC 29463-7, kg),
meets ``op value`` mg/kg/day.

Units: the dose is ``mg/d`` or ``mg/kg/d`` (UCUM; the normaliser converted ``g``, ``ug`` and
per-administration doses with ``timing.repeat``); the weight is the catalogued ``kg``
(``analytes.yaml``: ``[lb_av]`` and ``g`` converted through UCUM). A dose already in
``mg/kg/d`` needs no weight.

The weight paired with a use is the most recent readable body weight taken no later than the
end of that use (as-of for an ongoing one) and no earlier than ``weight_window`` before its
start: a newer unread weight in that span makes the use unknown (issue 9), never an older one.

- TRUE: one use meets the threshold (its evidence: the dose as sent, the weight, the result).
- UNKNOWN: no use meets it and one use cannot be judged (no dosage, a dose kept unread - free
  text sig, a dose range, as needed -, no equivalence for its ingredient, no weight), or no use
  of the value sets overlaps the look-back.
- FALSE: every use overlapping the look-back has a read dose and weight, and none meets it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.clinical.dosage import PER_DAY, PER_KG_PER_DAY
from shared.clinical.facts import ClinicalFact
from shared.clinical.medication_codes import INGREDIENT_SYSTEM
from shared.eligibility.context import Context, Trace, cite, derived
from shared.eligibility.durations import Duration
from shared.eligibility.index import fact_time
from shared.eligibility.logic import Truth
from shared.eligibility.params import IsoDuration, Strict, duration
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.primitives.records import NOT_TAKEN
from shared.eligibility.primitives.registry import primitive
from shared.eligibility.reference_tables import RXNORM, Concept, Tables

_OPS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}
_ONGOING = (None, "active", "intended", "on-hold")


class DoseArgs(Strict):
    valuesets: list[str]
    op: Literal[">=", ">", "<=", "<"]
    value: float = Field(description="mg per kg of body weight per day, in equivalents units")
    lookback: IsoDuration
    weight_window: IsoDuration = Field(
        description="how long before a use's start its body weight may have been taken"
    )
    equivalents: dict[str, float] = Field(
        description="RxNorm ingredient -> factor to the reference drug (e.g. prednisone mg)"
    )


class DoseThreshold(Node):
    """A daily dose per kg of body weight (mg/kg/day, in ``equivalents`` units) meets
    ``op value`` for a use of a drug of ``concepts`` overlapping ``lookback`` (see module)."""

    __slots__ = ("concepts", "equivalents", "lookback", "op", "value", "weight", "weight_window")

    def __init__(
        self,
        concepts: list[Concept],
        op: str,
        value: float,
        lookback: Duration,
        weight: Concept,
        weight_window: Duration,
        equivalents: dict[str, float],
    ) -> None:
        self.concepts, self.op, self.value = tuple(concepts), op, value
        self.lookback, self.weight, self.weight_window = lookback, weight, weight_window
        self.equivalents = dict(equivalents)

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        start = ctx.window_start(self.lookback)
        labels = " / ".join(c.label for c in self.concepts)
        wanted = f"{labels} {self.op} {self.value:g} mg/kg/day"
        seen: set[str] = set()
        undecided: list[str] = []
        judged = 0
        for concept in self.concepts:
            for fact in ctx.facts(concept):
                if fact.fact_id in seen or fact.status in NOT_TAKEN:
                    continue
                seen.add(fact.fact_id)
                if fact.effective_start is None and fact.effective_end is None:
                    if fact.unread is None and fact.dose is None:
                        continue  # an undated use with no dose: nothing to judge
                    undecided.append(f"{labels} on record without dates")
                    continue
                if fact_time(fact) > ctx.as_of:
                    continue
                ongoing = fact.effective_end is None and fact.status in _ONGOING
                last = ctx.as_of if ongoing else (fact.effective_end or fact_time(fact))
                if last < start:
                    continue
                if not ongoing:
                    ctx.review_at(self.lookback.after(last))
                per_kg = self._per_kg(ctx, trace, fact, last, undecided)
                if per_kg is None:
                    continue
                judged += 1
                shown = f"{per_kg:.3g} mg/kg/day"
                if _OPS[self.op](per_kg, self.value):
                    trace.findings.append(f"{labels} at {shown} ({wanted}: met)")
                    return Truth.TRUE
                trace.findings.append(f"{labels} at {shown} (below {wanted})")
        if undecided:
            for what in undecided:
                trace.need(what)
            trace.gap(f"{labels} dose per kg cannot be judged: {'; '.join(undecided)}")
            return Truth.UNKNOWN
        if judged == 0:
            trace.need(f"{labels} use with a structured daily dose within {self.lookback.words()}")
            trace.gap(f"no {labels} use on record within {self.lookback.words()}")
            return Truth.UNKNOWN
        return Truth.FALSE

    def _per_kg(
        self,
        ctx: Context,
        trace: Trace,
        fact: ClinicalFact,
        last: datetime,
        undecided: list[str],
    ) -> float | None:
        """The use's dose in reference mg/kg/day, or None (why, in ``undecided``)."""
        name = _drug(fact, ctx.tables.product_names)
        # said in a sentence a person reads: to the second (Synthea sends microseconds)
        moment = fact.effective_start or fact.effective_end
        when = ctx.when(moment.replace(microsecond=0) if moment is not None else None)
        if fact.unread is not None:
            trace.evidence.append(cite(fact, note=f"{name}: not read ({fact.unread.reason})"))
            undecided.append(f"{name} of {when} could not be read")
            return None
        dose = fact.dose
        if dose is None:
            trace.evidence.append(cite(fact, note=f"{name}: no dosage on record"))
            undecided.append(f"structured daily dose of {name} of {when}")
            return None
        if dose.quantity is None:
            reason = dose.unread.reason if dose.unread else "not read"
            path = dose.unread.path if dose.unread else None
            trace.evidence.append(
                cite(fact, note=f"{name}: dose not read ({reason})",
                     details={"unread_path": path} if path else None)
            )
            undecided.append(f"{name} dose of {when} could not be read: {reason}")
            return None
        factor = self._factor(ctx, fact)
        if factor is None:
            trace.evidence.append(cite(fact, note=f"{name}: no dose equivalence in this criterion"))
            undecided.append(f"a dose equivalence for {name}")
            return None
        sent = f" (sent as {dose.received})" if dose.received else ""
        if dose.quantity.unit == PER_KG_PER_DAY:
            per_kg = dose.quantity.value * factor
            trace.evidence.append(
                cite(fact, value=dose.quantity.value, unit=PER_KG_PER_DAY,
                     note=f"{name}: {dose.quantity.value:g} mg/kg/day{sent}")
            )
            return per_kg
        if dose.quantity.unit != PER_DAY:
            undecided.append(f"{name} dose in {dose.quantity.unit}")
            return None
        weight = self._weight(ctx, fact, last)
        if weight is None or weight.unread is not None or weight.value_quantity is None:
            if weight is not None:
                trace.evidence.append(cite(weight, note="body weight: not read"))
            undecided.append(
                f"body weight (readable) between {self.weight_window.words()} before {name} of"
                f" {when} and its end"
            )
            return None
        kg = weight.value_quantity.value
        if weight.value_quantity.comparator is not None or kg <= 0:
            trace.evidence.append(cite(weight, note="body weight: not a single value"))
            undecided.append(f"a body weight that is one value (for {name} of {when})")
            return None
        trace.evidence.append(
            cite(fact, value=dose.quantity.value, unit=PER_DAY,
                 note=f"{name}: {dose.quantity.value:g} mg/day{sent}")
        )
        trace.evidence.append(cite(weight, note=f"body weight for {name} of {when}"))
        per_kg = dose.quantity.value * factor / kg
        trace.evidence.append(
            derived(
                "dose-per-kg",
                round(per_kg, 4),
                PER_KG_PER_DAY,
                effective=fact.effective_start,
                note=(
                    f"{dose.quantity.value:g} mg/day x {factor:g} (equivalence) / {kg:g} kg"
                ),
            )
        )
        return per_kg

    def _factor(self, ctx: Context, fact: ClinicalFact) -> float | None:
        """The equivalence factor of the fact's RxNorm ingredient (a product code rolled up)."""
        products = ctx.tables.product_ingredients
        for coding in fact.codes:
            if coding.system == INGREDIENT_SYSTEM and coding.code in self.equivalents:
                return self.equivalents[coding.code]  # listed by the site crosswalk
            if coding.system != RXNORM:
                continue
            if coding.code in self.equivalents:
                return self.equivalents[coding.code]
            for ingredient in products.get(coding.code, ()):
                if ingredient in self.equivalents:
                    return self.equivalents[ingredient]
        return None

    def _weight(self, ctx: Context, fact: ClinicalFact, last: datetime) -> ClinicalFact | None:
        """The most recent weight taken by ``last`` and not before the use's start minus the
        window (an unread one included: it then decides that the use is unknown)."""
        begin = fact.effective_start or fact.effective_end
        assert begin is not None
        earliest = self.weight_window.before(begin)
        for weight in ctx.facts(self.weight):  # newest first
            moment = fact_time(weight)
            if moment > last or moment > ctx.as_of:
                continue
            if moment < earliest:
                return None
            return weight
        return None

    def requirements(self) -> list[Requirement]:
        how = (
            f"structured daily dose (FHIR Dosage) of a use within {self.lookback.words()};"
            f" {self.op} {self.value:g} mg/kg/day"
        )
        return [
            *(Requirement(c.name, how) for c in self.concepts),
            Requirement(
                self.weight.name,
                f"body weight within {self.weight_window.words()} before the use, to its end",
            ),
        ]


def _drug(fact: ClinicalFact, product_names: dict[str, str]) -> str:
    """The medication's name: the sender's display, else the RxNorm name of a product code in
    ``tables/rxnorm_products.yaml`` (``"312617"`` -> "predniSONE 5 MG Oral Tablet"), else the
    code ("rxnorm 1234"), never a guess."""
    coding = fact.codes[0] if fact.codes else None
    if coding is None:
        return "medication"
    if coding.display:
        return coding.display
    named = next((product_names[c.code] for c in fact.codes
                  if c.system == RXNORM and c.code in product_names), None)
    return named or f"{coding.system.rsplit('/', 1)[-1]} {coding.code}"


@primitive("dose", DoseArgs, concept_fields=("valuesets",))
def _dose(a: DoseArgs, tables: Tables) -> Node:
    if not a.equivalents:
        raise ValueError("dose: equivalents names no ingredient")
    return DoseThreshold(
        [tables.concept(v) for v in a.valuesets],
        a.op,
        a.value,
        duration(a.lookback),
        tables.concept("body_weight"),
        duration(a.weight_window),
        a.equivalents,
    )
