"""Patient state from a stream of updates: upsert by fact id, newest demographics win.

Re-sent and corrected records share a ``fact_id`` and replace the earlier version. A fact whose
status became ``entered-in-error`` is kept as a tombstone (consumers ignore that status, see
``ClinicalFact``): removing it would let a late re-delivery of the erroneous version resurrect
it, and the audit trail can show what was withdrawn. When both versions carry a numeric
``provenance.version`` (FHIR ``meta.versionId``, HL7 v2 MSH-7), an older version arriving late
is ignored, and so is one of the same version whose status the current one replaced.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.clinical.facts import ClinicalFact, Demographics, PatientFacts, PatientUpdate


def apply_update(state: PatientFacts, update: PatientUpdate) -> PatientFacts:
    facts = {fact.fact_id: fact for fact in state.facts}
    for fact in update.facts:
        current = facts.get(fact.fact_id)
        if current is None or not _is_older(fact, current):
            facts[fact.fact_id] = fact
    return PatientFacts(
        demographics=_merge(state.demographics, update.demographics),
        facts=tuple(facts.values()),
    )


def facts_from_updates(updates: Iterable[PatientUpdate]) -> PatientFacts:
    state = PatientFacts()
    for update in updates:
        state = apply_update(state, update)
    return state


# At the same version, which status stands: a correction replaces the final result (HL7 v2.5.1
# table 0085 C "record coming over is a correction and thus replaces a final result"; FHIR R4
# observation-status corrected/amended come after final), a withdrawal (D/W,
# entered-in-error) ends the result, and a final result replaces a preliminary one.
_STANDING = {
    "registered": 0,
    "preliminary": 0,
    "corrected": 2,
    "amended": 2,
    "entered-in-error": 3,
}
_FINAL = 1  # final, cancelled, unknown, and a status not given


def _is_older(incoming: ClinicalFact, current: ClinicalFact) -> bool:
    """Whether ``incoming`` is an earlier state of ``current``'s record: an older numeric
    version, or the same version with a status ``current`` already replaced (an F re-sent
    with the MSH-7 of its C must not undo the correction)."""
    new, old = incoming.provenance.version, current.provenance.version
    if new is None or old is None or not (new.isdigit() and old.isdigit()):
        return False
    if int(new) != int(old):
        return int(new) < int(old)
    return _standing(incoming) < _standing(current)


def _standing(fact: ClinicalFact) -> int:
    return _STANDING.get(fact.status or "", _FINAL)


def _merge(current: Demographics, newer: Demographics | None) -> Demographics:
    if newer is None:
        return current
    known = {
        name: getattr(newer, name)
        for name in Demographics.model_fields
        if getattr(newer, name) is not None
    }
    return current.model_copy(update=known)
