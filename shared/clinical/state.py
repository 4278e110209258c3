"""Patient state from a stream of updates: upsert by fact id, newest demographics win.

Re-sent and corrected records share a ``fact_id`` and replace the earlier version. A fact whose
status became ``entered-in-error`` is kept as a tombstone (consumers ignore that status, see
``ClinicalFact``): removing it would let a late re-delivery of the erroneous version resurrect
it, and the audit trail can show what was withdrawn. When both versions carry a numeric
``provenance.version`` (FHIR ``meta.versionId``, HL7 v2 MSH-7), an older version arriving late
is ignored, and so is one of the same version whose status the current one replaced.

A result re-sent as pending after it was resulted (FHIR R4 observation-status ``registered``,
HL7 v2.5.1 table 0085 I/O, after a value) is no change either standard allows: table 0085 F
"can only be changed with a corrected result" (C) or withdrawn (D/W), and FHIR ``registered``
("no result yet available") precedes preliminary and final. The pending version would be
ignored by every criterion and let an older result decide, so the result is kept in doubt
instead: the earlier fact, unread, naming the pending status, until a value is sent again.

A result sent final again with another value and no correction is no change either standard
allows: HL7 v2.5.1 table 0085 F "Final results; Can only be changed with a corrected result"
(C "Record coming over is a correction and thus replaces a final result"; D/W withdraw it), and
FHIR R4 observation-status (Observation.status) says a result modified after being final is
``amended`` ("Subsequent to being Final, the observation has been modified subsequent. This
includes updates/new information and corrections") or ``corrected`` ("... modified to correct
an error in the test result"), never ``final`` again: a new ``meta.versionId`` that still says
final with another value is the same undeclared change, so FHIR follows the same rule. Which
value stands is unknown, so neither is read: the result is kept in doubt (unread, naming table
0085 and the status, echoing neither value) until a correction (C, amended, corrected) or a
withdrawal (D, W, entered-in-error) comes. The same value sent again (an interface engine
re-delivering its queue, another spelling of the same number) is no change.

A result sent preliminary after it was final (or corrected, amended) is the same undeclared
change: table 0085 P "Preliminary results" after F, FHIR R4 ``preliminary`` after ``final``.
With another value it is kept in doubt the same way (a later final cannot then launder the
change: F 5, P 180, F 180 read 180 before); with the same value it is no change and the final
stands.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.clinical.facts import (
    ClinicalFact,
    Demographics,
    FactKind,
    PatientFacts,
    PatientUpdate,
    ReadingNote,
)


def apply_update(state: PatientFacts, update: PatientUpdate) -> PatientFacts:
    facts = {fact.fact_id: fact for fact in state.facts}
    for fact in update.facts:
        current = facts.get(fact.fact_id)
        if current is None or not _is_older(fact, current):
            if current is not None and _pends_after_result(fact, current):
                fact = _in_doubt(current, fact)
            elif current is not None and _final_disagrees(fact, current):
                fact = _finals_in_doubt(current, fact)
            elif current is not None and _preliminary_after_result(fact, current):
                if _result(fact) == _result(current):
                    continue  # the same value: the final stands, no change
                fact = _finals_in_doubt(current, fact, _PRELIMINARY_REASON)
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


# FHIR R4 observation-status of a result not produced yet (HL7 v2.5.1 table 0085 I/O map to it)
_PENDING = "registered"
# statuses under which no result stands: nothing to keep in doubt
_NO_RESULT = frozenset({_PENDING, "entered-in-error", "cancelled"})


def _pends_after_result(incoming: ClinicalFact, current: ClinicalFact) -> bool:
    """Whether ``incoming`` says pending for an observation ``current`` already resulted."""
    return (
        incoming.kind is FactKind.OBSERVATION
        and incoming.status == _PENDING
        and current.status not in _NO_RESULT
    )


def _in_doubt(current: ClinicalFact, pending: ClinicalFact) -> ClinicalFact:
    """``current`` kept unread under ``pending``'s provenance (its version orders later ones)."""
    reason = (
        f"re-sent as pending ({pending.provenance.resource}, status registered: HL7 v2.5.1"
        " table 0085 I/O, FHIR R4 observation-status) after this result was sent; a result"
        " is changed only by a correction or withdrawn (table 0085 F, C, D, W), so its value"
        " is in doubt until the sender sends one again"
    )
    return current.model_copy(
        update={
            "unread": ReadingNote(path="status", reason=reason),
            "provenance": pending.provenance,
            "components": (),
        }
    )


# FHIR R4 observation-status under which a result stands (table 0085 F/U, C map to them)
_RESULTED = frozenset({"final", "corrected", "amended"})


def _final_disagrees(incoming: ClinicalFact, current: ClinicalFact) -> bool:
    """Whether ``incoming`` is sent ``final`` with another result than the one ``current``
    stands for (table 0085 F: changed only by a correction C; FHIR R4 amended/corrected).

    ``current`` may itself be a result in doubt (its value cleared): any final then disagrees,
    so only a correction or a withdrawal settles it.
    """
    return (
        incoming.kind is FactKind.OBSERVATION
        and incoming.status == "final"
        and current.status in _RESULTED
        and _result(incoming) != _result(current)
    )


def _preliminary_after_result(incoming: ClinicalFact, current: ClinicalFact) -> bool:
    """Whether ``incoming`` says ``preliminary`` (HL7 v2.5.1 table 0085 P, R, S) for an
    observation ``current`` already stands for as final, corrected or amended: table 0085 F
    "can only be changed with a corrected result"; FHIR R4 observation-status preliminary comes
    before final, and a result changed after final is amended or corrected."""
    return (
        incoming.kind is FactKind.OBSERVATION
        and incoming.status == "preliminary"
        and current.status in _RESULTED
    )


_PRELIMINARY_REASON = (
    "a preliminary result was sent after this final result ({resource}) with another value;"
    " HL7 v2.5.1 table 0085 F 'Final results; Can only be changed with a corrected result'"
    " (C), P 'Preliminary results'; FHIR R4 observation-status: preliminary comes before final,"
    " a result changed after final is amended or corrected. Which value stands is unknown"
    " until the sender sends a correction (C, amended, corrected) or withdraws the result"
    " (D, W)"
)


def _result(fact: ClinicalFact) -> tuple[object, ...]:
    """What a result says, to tell a re-delivery from another value: the canonical value
    (``5`` and ``5.0`` x10^9/L are one value), else, for a value that was not read, the value
    and unit as sent; and its components' results (FHIR R4 Observation.component)."""
    read = (fact.value_quantity, fact.value_code, fact.value_boolean)
    sent = fact.received if read == (None, None, None) else None
    return (*read, sent, tuple(_result(component) for component in fact.components))


def _finals_in_doubt(
    current: ClinicalFact, final: ClinicalFact, why: str | None = None
) -> ClinicalFact:
    """``current`` kept unread under ``final``'s provenance (its version orders later ones),
    at the later of the two observation times (an older result must not overtake it), with no
    value of either kept: which of them stands is unknown. ``final`` is the later final (or
    preliminary, with ``why`` naming it: ``{resource}`` is filled in); ``current`` keeps its
    status, so a later final with another value is judged against a final in doubt."""
    reason = (why or (
        "two final results disagree: this result was sent final again"
        " ({resource}) with another value and no correction; HL7 v2.5.1"
        " table 0085 F 'Final results; Can only be changed with a corrected result' (C);"
        " FHIR R4 observation-status: a result changed after final is amended or corrected."
        " Which value stands is unknown until the sender sends a correction (C, amended,"
        " corrected) or withdraws the result (D, W)"
    )).format(resource=final.provenance.resource)
    later = final if _later(final, current) else current
    return current.model_copy(
        update={
            "unread": ReadingNote(path="status", reason=reason),
            "provenance": final.provenance,
            "effective_start": later.effective_start,
            "effective_end": later.effective_end,
            "time_bounds": later.time_bounds,
            "value_quantity": None,
            "value_code": None,
            "value_boolean": None,
            "interpretation": None,
            "reference_range": None,
            "reference_ranges": (),
            "components": (),
            "received": None,
        }
    )


def _later(incoming: ClinicalFact, current: ClinicalFact) -> bool:
    new, old = incoming.effective_start, current.effective_start
    return new is not None and (old is None or new > old)


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
