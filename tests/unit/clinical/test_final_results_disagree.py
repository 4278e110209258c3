"""A final result sent final again with another value, and no correction, is in doubt.

Each case is the eligible vignette (platelets 180 x10^9/L on 2026-02-26, as of
2026-03-01T09:00:00Z, NCT06920433 I6.1 platelets >= 20) plus a CBC from the lab's interface
engine (WBC, hemoglobin, platelets under one filler order), then the same CBC sent again.

Standards that decide the reading:
- HL7 v2.5.1 table 0085 (OBX-11, 7.4.2.11): F "Final results; Can only be changed with a
  corrected result"; C "Record coming over is a correction and thus replaces a final result";
  D "Deletes the OBX record", W "Post original as wrong". A second F for the same observation
  (filler order OBR-3 + OBX-3 + OBX-4, ``hl7v2._identity``) with another value is a change the
  table does not allow: which of the two values stands is unknown until a C (or D/W) comes.
- FHIR R4 observation-status (Observation.status, required binding): final "The observation is
  complete and there are no further actions needed"; amended "Subsequent to being Final, the
  observation has been modified subsequent. This includes updates/new information and
  corrections"; corrected "Subsequent to being Final, the observation has been modified to
  correct an error in the test result". A new meta.versionId still saying final with another
  value is the same undeclared change: the same rule applies.

Before (main at 95c5362): the second F upserted over the first (``state.apply_update``), so F
platelets 5 followed by F platelets 180 read 180 and she was ELIGIBLE (I6.1 true on 180); the
FHIR versions 1 (final 5) and 2 (final 180) likewise. Now the result is kept unread in doubt
(naming table 0085 and that two final results disagree, echoing neither value): I6.1 is unknown
and she is not eligible, until a C (FHIR amended/corrected) or D/W comes.
"""

from __future__ import annotations

from typing import Any

from shared.clinical.facts import PatientFacts
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.test_real_feed_examples import (
    AS_OF,
    UCUM,
    _add,
    _bundle,
    _observation,
    outcome,
)

PLATELETS = "I6.1"
PLATELET_LOINC = "777-3"


def _cbc(control_id: str, sent: str, platelets: str, status: str = "F") -> str:
    """An ORU^R01 as a lab interface engine sends a CBC: real-looking MSH (application,
    facility with an OID, MSH-7 with offset, processing id, accept/application ack), PID, ORC,
    OBR with filler number and collection time, several OBX with UCUM units and ranges."""
    return "\r".join([
        f"MSH|^~\\&|COBAS-LIS|ST-MARY-LAB^2.16.840.1.113883.3.4321^ISO|TRIALWATCH|TW-INTAKE|"
        f"{sent}||ORU^R01^ORU_R01|{control_id}|P|2.5.1|||AL|NE||UNICODE UTF-8",
        "PID|1||vignette^^^TEST-EHR^MR||Doe^Jane||19900101|F",
        "ORC|RE|ORD-4471^EPIC|FIL-88120^COBAS-LIS||CM",
        "OBR|1|ORD-4471^EPIC|FIL-88120^COBAS-LIS|58410-2^CBC panel - Blood by Automated"
        " count^LN|||20260228074500+0000|||||||||||||||20260228091200+0000|||F",
        "OBX|1|NM|6690-2^Leukocytes [#/volume] in Blood by Automated count^LN||6.2|"
        f"10*9/L^^UCUM|4.0-11.0|N|||{status}|||20260228074500+0000",
        "OBX|2|NM|718-7^Hemoglobin [Mass/volume] in Blood^LN||11.0|g/dL^^UCUM|12.0-16.0|L|||"
        f"{status}|||20260228074500+0000",
        f"OBX|3|NM|777-3^Platelets [#/volume] in Blood by Automated count^LN||{platelets}|"
        f"10*9/L^^UCUM|150-400|{'LL' if float(platelets) < 20 else 'N'}|||{status}|||"
        "20260228074500+0000",
    ]) + "\r"


def _state(*messages: str) -> PatientFacts:
    updates = parse_fhir(_bundle(), source_system="test-ehr")
    for message in messages:
        updates += parse_hl7v2(message, source_system="st-mary-lab")
    return facts_from_updates(updates)


def _decide(*messages: str) -> Any:
    return evaluate(load_trial("NCT06920433"), _state(*messages), AS_OF)


def _lab_platelets(state: PatientFacts) -> Any:
    return next(
        fact for fact in state.facts
        if fact.provenance.format == "hl7v2"
        and any(code.code == PLATELET_LOINC for code in fact.codes)
    )


FIRST = _cbc("LAB000123", "20260228101500+0000", "5")
SECOND = _cbc("LAB000187", "20260228143000+0000", "180")


def test_a_first_final_platelet_count_of_5_makes_her_ineligible() -> None:
    assert _decide(FIRST).status == Status.INELIGIBLE


def test_a_second_final_with_another_value_and_no_correction_leaves_i6_1_unknown() -> None:
    decision = _decide(FIRST, SECOND)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == PLATELETS)
    assert "0085" in reason
    assert "final" in reason


def test_the_in_doubt_result_names_table_0085_and_echoes_neither_value() -> None:
    fact = _lab_platelets(_state(FIRST, SECOND))
    assert fact.unread is not None
    assert "table 0085" in fact.unread.reason
    assert "two final results" in fact.unread.reason
    assert "180" not in fact.unread.reason
    assert " 5 " not in f" {fact.unread.reason} "
    assert fact.value_quantity is None
    assert fact.received is None
    # the later message's provenance, so its MSH-7 orders what comes after
    assert fact.provenance.resource == "HL7v2/LAB000187/OBX/3"


def test_the_other_results_of_the_re_sent_cbc_agree_and_are_read() -> None:
    state = _state(FIRST, SECOND)
    hemoglobin = next(
        fact for fact in state.facts
        if fact.provenance.format == "hl7v2" and fact.codes[0].code == "718-7"
    )
    assert hemoglobin.unread is None
    assert hemoglobin.value_quantity is not None
    assert hemoglobin.value_quantity.value == 110


def test_the_reverse_order_is_in_doubt_too() -> None:
    decision = _decide(SECOND.replace("LAB000187", "LAB000100").replace(
        "20260228143000", "20260228090000"), FIRST.replace("20260228101500", "20260228150000"))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_the_same_final_value_delivered_twice_is_no_change() -> None:
    # an interface engine re-delivering its queue: new MSH-10 and MSH-7, same result
    again = _cbc("LAB000188", "20260228143000+0000", "5")
    state = _state(FIRST, again)
    assert _lab_platelets(state).unread is None
    assert evaluate(load_trial("NCT06920433"), state, AS_OF).status == Status.INELIGIBLE


def test_the_same_value_sent_in_another_spelling_of_its_number_is_no_change() -> None:
    again = _cbc("LAB000188", "20260228143000+0000", "5.0")
    assert _lab_platelets(_state(FIRST, again)).unread is None


def test_a_correction_after_the_disagreement_resolves_it() -> None:
    correction = _cbc("LAB000201", "20260228160000+0000", "180", status="C")
    decision = _decide(FIRST, SECOND, correction)
    assert outcome(decision, PLATELETS) == Outcome.PASS
    assert decision.status == Status.ELIGIBLE


def test_a_correction_to_the_first_value_resolves_it_too() -> None:
    correction = _cbc("LAB000201", "20260228160000+0000", "5", status="C")
    assert _decide(FIRST, SECOND, correction).status == Status.INELIGIBLE


def test_a_withdrawal_after_the_disagreement_ends_the_result() -> None:
    withdrawn = _cbc("LAB000202", "20260228160000+0000", "5", status="W")
    state = _state(FIRST, SECOND, withdrawn)
    assert _lab_platelets(state).status == "entered-in-error"
    # the vignette's own 180 of 2026-02-26 decides again
    assert outcome(evaluate(load_trial("NCT06920433"), state, AS_OF), PLATELETS) == Outcome.PASS


def test_an_older_message_arriving_late_after_the_correction_stays_ignored() -> None:
    correction = _cbc("LAB000201", "20260228160000+0000", "180", status="C")
    decision = _decide(FIRST, SECOND, correction, FIRST, SECOND)
    assert decision.status == Status.ELIGIBLE


def test_a_third_final_does_not_settle_the_disagreement() -> None:
    third = _cbc("LAB000190", "20260228150000+0000", "180")
    decision = _decide(FIRST, SECOND, third)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_a_final_after_a_pending_resend_with_another_value_is_in_doubt() -> None:
    # F 5, then I (pending: kept in doubt, state._in_doubt), then F 180 with no correction
    pending = _platelets_pending()
    decision = _decide(FIRST, pending, SECOND)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN


def test_a_final_after_a_pending_resend_with_the_same_value_reads_it() -> None:
    pending = _platelets_pending()
    again = _cbc("LAB000188", "20260228143000+0000", "5")
    assert _decide(FIRST, pending, again).status == Status.INELIGIBLE


def _platelets_pending() -> str:
    """The CBC re-sent with the platelet count pending again (table 0085 I, no OBX-5): the lab
    re-runs the count; WBC and hemoglobin are re-sent final and unchanged."""
    message = _cbc("LAB000150", "20260228120000+0000", "5")
    final = "|5|10*9/L^^UCUM|150-400|LL|||F|"
    assert final in message
    return message.replace(final, "|||||||I|")


def _fhir_platelets(version: str, status: str, value: float) -> dict[str, Any]:
    entry = _observation(
        "plt-new", PLATELET_LOINC, "2026-02-28T07:45:00Z",
        valueQuantity={"value": value, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"},
    )
    entry["resource"].update(status=status, meta={"versionId": version})
    return entry


def _fhir_decide(*versions: dict[str, Any]) -> Any:
    updates = parse_fhir(_bundle(), source_system="test-ehr")
    for version in versions:
        updates += parse_fhir(_bundle(_add(version)), source_system="test-ehr")
    return evaluate(load_trial("NCT06920433"), facts_from_updates(updates), AS_OF)


def test_a_fhir_version_still_final_with_another_value_leaves_i6_1_unknown() -> None:
    decision = _fhir_decide(
        _fhir_platelets("1", "final", 5), _fhir_platelets("2", "final", 180)
    )
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_a_fhir_amended_version_after_the_disagreement_reads_its_value() -> None:
    decision = _fhir_decide(
        _fhir_platelets("1", "final", 5),
        _fhir_platelets("2", "final", 180),
        _fhir_platelets("3", "amended", 180),
    )
    assert decision.status == Status.ELIGIBLE


def test_a_fhir_corrected_version_replaces_the_final_value() -> None:
    decision = _fhir_decide(
        _fhir_platelets("1", "final", 5), _fhir_platelets("2", "corrected", 180)
    )
    assert decision.status == Status.ELIGIBLE


def test_a_fhir_version_re_sent_final_with_the_same_value_is_no_change() -> None:
    decision = _fhir_decide(_fhir_platelets("1", "final", 5), _fhir_platelets("2", "final", 5))
    assert decision.status == Status.INELIGIBLE
