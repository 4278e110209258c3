"""Allergy primitive: a severe allergy of a category on record (FHIR R4 AllergyIntolerance)."""

from __future__ import annotations

from shared.clinical.facts import AllergyReading, ClinicalFact
from shared.eligibility.context import Context, Trace, cite, note_unread
from shared.eligibility.index import fact_time
from shared.eligibility.logic import Truth
from shared.eligibility.params import Strict
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.primitives.registry import primitive
from shared.eligibility.reference_tables import Concept, Tables

# FHIR R4 AllergyIntolerance (https://hl7.org/fhir/R4/allergyintolerance-definitions.html)
HIGH_CRITICALITY = "high"
"""criticality 'high': "Worst case result of a future exposure is assessed to be
life-threatening or having high potential for organ system failure"."""
UNASSESSED_CRITICALITY = frozenset({None, "unable-to-assess"})
"""criticality 'unable-to-assess' ("Unable to assess the worst case result of a future
exposure") or not sent (0..1)."""
SEVERE_REACTION = "severe"
"""reaction.severity 'severe' (reaction-event-severity: "Severe complications arose due to the
reaction")."""
NO_EVIDENCE = frozenset({"refuted", "entered-in-error"})
"""verificationStatus refuted ("has been refuted with a high degree of certainty") or
entered-in-error: the record is no evidence of an allergy."""
POSSIBLE = "unconfirmed"
"""verificationStatus unconfirmed ("A low level of certainty about the propensity for a
reaction"): a possible allergy, neither counted nor ruled out."""


class SevereAllergyArgs(Strict):
    concept: str
    """the allergy concept (a category value set, e.g. drug_allergy)"""
    manifestations: str
    """a value set of reaction manifestations that make a reaction severe (e.g. anaphylaxis)"""


def severe_because(allergy: AllergyReading, manifestations: Concept) -> list[str]:
    """What in ``allergy`` makes it severe (empty when nothing does): criticality high, a
    reaction of severity severe, a manifestation coded in ``manifestations``."""
    why: list[str] = []
    if allergy.criticality == HIGH_CRITICALITY:
        why.append("criticality 'high'")
    if SEVERE_REACTION in allergy.reaction_severities:
        why.append("a reaction of severity 'severe'")
    for coding in allergy.manifestations:
        key = f"{coding.system}|{coding.code}"
        if key in manifestations.keys or any(
                coding.system == system and coding.code.startswith(prefix)
                for system, prefix in manifestations.prefixes):
            why.append(f"a reaction manifesting as {coding.display or coding.code}"
                       f" ({manifestations.label})")
            break
    return why


def cannot_judge(allergy: AllergyReading) -> bool:
    """No criticality assessed (unable-to-assess or not sent) and no reaction severity sent:
    whether the allergy is severe is not on record."""
    return allergy.criticality in UNASSESSED_CRITICALITY and not allergy.reaction_severities


class SevereAllergyOnRecord(Node):
    """A severe allergy of ``concept``'s category is on record, ever (a history).

    Per allergy (newest first), FHIR R4 AllergyIntolerance: refuted or entered-in-error is no
    evidence; severe (``severe_because``) and not unconfirmed is TRUE, whatever its
    clinicalStatus (active, inactive, resolved: a history) and type (allergy or intolerance);
    severe but unconfirmed, or of a severity not on record (``cannot_judge``), or kept unread,
    makes the answer UNKNOWN naming it unless another allergy is TRUE; one judged not severe
    (criticality low, or only mild/moderate reactions, no listed manifestation) is no evidence.
    Closed-world over the record: none is FALSE (criteria pair it with an attestation).
    """

    __slots__ = ("concept", "manifestations")

    def __init__(self, concept: Concept, manifestations: Concept) -> None:
        self.concept, self.manifestations = concept, manifestations

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        label = self.concept.label
        unknown: list[tuple[ClinicalFact, str]] = []
        unread: list[ClinicalFact] = []
        for fact in ctx.facts(self.concept):
            allergy = fact.allergy
            if allergy is None or fact_time(fact) > ctx.as_of:
                continue
            if allergy.verification in NO_EVIDENCE:
                trace.findings.append(
                    f"a {label} on record with verificationStatus {allergy.verification!r}:"
                    " no evidence")
                continue
            if fact.unread is not None:
                unread.append(fact)
                continue
            why = severe_because(allergy, self.manifestations)
            status = fact.status or "clinicalStatus not sent"
            if why and allergy.verification != POSSIBLE:
                words = ", ".join(why)
                trace.evidence.append(cite(fact, note=f"{label}: {words} ({status})"))
                trace.findings.append(f"severe {label} on record: {words} ({status})")
                return Truth.TRUE
            if why:
                unknown.append((fact, f"a {label} with {', '.join(why)} on record only as"
                                f" verificationStatus 'unconfirmed' (a low level of certainty):"
                                " it can be neither counted nor ruled out"))
            elif cannot_judge(allergy):
                sent = (f"criticality {allergy.criticality!r}" if allergy.criticality
                        else "no criticality")
                unknown.append((fact, f"a {label} on record with {sent} and no reaction"
                                " severity: whether it is severe is not on record"))
            else:
                trace.findings.append(
                    f"a {label} on record judged not severe (criticality"
                    f" {allergy.criticality!r}, reaction severities"
                    f" {list(allergy.reaction_severities)})")
        if unknown or unread:
            for fact in unread:
                note_unread(trace, label, fact)
            for fact, finding in unknown:
                trace.evidence.append(cite(fact, note=finding))
                trace.need(f"confirmation whether the {label} on record is severe")
                trace.findings.append(finding)
            return Truth.UNKNOWN
        trace.findings.append(f"no severe {label} on record")
        return Truth.FALSE

    def requirements(self) -> list[Requirement]:
        return [Requirement(
            self.concept.name,
            "AllergyIntolerance ever (any clinicalStatus): verificationStatus, criticality,"
            f" reaction.severity, reaction.manifestation in {self.manifestations.name}")]


@primitive("severe_allergy", SevereAllergyArgs, concept_fields=("concept", "manifestations"))
def _severe_allergy(a: SevereAllergyArgs, tables: Tables) -> Node:
    return SevereAllergyOnRecord(tables.concept(a.concept), tables.concept(a.manifestations))
