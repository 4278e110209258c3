"""Results that were sought and not obtained, withdrawn results and coded alternates, end to end.

Each case is the eligible vignette (platelets 180 x10^9/L on 2026-02-26, as of
2026-03-01T09:00:00Z, NCT06920433 I6.1 platelets >= 20) plus one newer result built the way
an EHR or a lab sends it, read by the one normaliser and judged by the engine.

Standards that decide each reading:
- FHIR R4 Observation.dataAbsentReason: "Provides a reason why the expected value in the
  element Observation.value[x] is missing" (invariant obs-6: only when value[x] is absent);
  codes from http://terminology.hl7.org/CodeSystem/data-absent-reason.
- FHIR R4 observation-status (required binding of Observation.status): ``cancelled`` "the
  measurement was not started or not completed", ``unknown`` "the authoring/source system does
  not know which of the status values currently applies", ``entered-in-error`` "the observation
  has been withdrawn following previous final release", ``registered`` "no result yet available".
- HL7 v2.5.1 table 0085 (OBX-11): X "results cannot be obtained for this observation", N "not
  asked", D "deletes the OBX record", W "post original as wrong".
- HL7 v2.5.1 ch. 2A.3.13 CWE: CWE-4..6 is the alternate identifier of the same concept.

A result sought and not obtained is kept unread: it may stand for a value the analyser could not
report (a count too low to measure, a clotted specimen), so the criterion is ``unknown`` naming
it and the older 180 never decides in its place.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import (
    LOINC,
    SNOMED,
    UCUM,
    Json,
    _add,
    _bundle,
    _observation,
    _oru,
    _reason,
    decide,
    outcome,
)

WHEN = "2026-02-28T09:00:00Z"
OBX_WHEN = "20260228080000+0000"
PLATELETS = "I6.1"
HCG = "E12"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


def _platelets(**resource: Any) -> Json:
    return _bundle(_add(_observation("plt-new", "777-3", WHEN, **resource)))


def _absent(code: str) -> Json:
    return {"coding": [{"system": DATA_ABSENT, "code": code}], "text": code}


# FHIR R4 Observation.dataAbsentReason without value[x]


@pytest.mark.parametrize(
    "code", ["error", "not-performed", "unknown", "masked", "negative-infinity", "as-text"]
)
def test_a_newer_platelet_count_with_only_a_data_absent_reason_leaves_i6_1_unknown(
    code: str,
) -> None:
    decision = decide(_platelets(dataAbsentReason=_absent(code)))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = _reason(decision, PLATELETS)
    assert "dataAbsentReason" in reason
    assert code in reason


def test_a_data_absent_reason_without_a_code_is_still_a_result_not_obtained() -> None:
    decision = decide(_platelets(dataAbsentReason={"text": "specimen clotted"}))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN


def test_an_older_result_without_a_value_changes_nothing() -> None:
    bundle = _bundle(
        _add(_observation("plt-old", "777-3", "2026-02-20T09:00:00Z",
                          dataAbsentReason=_absent("error")))
    )
    assert decide(bundle).status == Status.ELIGIBLE


def test_a_component_with_a_data_absent_reason_is_unread_on_that_component_only() -> None:
    from shared.clinical.fhir import parse_fhir

    resource = _observation("bp", "85354-9", WHEN)["resource"]
    resource["component"] = [
        {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
         "valueQuantity": {"value": 120, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
         "dataAbsentReason": _absent("error")},
    ]
    (update,) = parse_fhir(resource, source_system="ehr")
    (fact,) = update.facts
    systolic, diastolic = fact.components
    assert systolic.unread is None
    assert diastolic.unread is not None
    assert diastolic.unread.path == "Observation.component[1].dataAbsentReason"
    assert fact.unread is None


# FHIR R4 observation-status


def test_a_newer_cancelled_platelet_count_leaves_i6_1_unknown_naming_the_status() -> None:
    decision = decide(_platelets(status="cancelled", dataAbsentReason=_absent("not-performed")))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert "cancelled" in _reason(decision, PLATELETS)


def test_a_newer_platelet_count_of_unknown_status_is_not_read_even_with_a_good_value() -> None:
    bundle = _platelets(
        status="unknown",
        valueQuantity={"value": 200, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"},
    )
    decision = decide(bundle)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert "unknown" in _reason(decision, PLATELETS)


def test_a_withdrawn_low_count_is_no_result_and_the_older_one_decides() -> None:
    bundle = _platelets(
        status="entered-in-error",
        valueQuantity={"value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"},
    )
    assert outcome(decide(bundle), PLATELETS) == Outcome.PASS


def test_a_pending_count_with_no_value_is_no_result_and_the_older_one_decides() -> None:
    assert outcome(decide(_platelets(status="registered")), PLATELETS) == Outcome.PASS


def test_a_pending_count_sent_with_a_value_is_unread() -> None:
    """Probe round 4: a value sent under ``registered`` ("no result yet available")
    contradicts its status; it was ignored with no trace (the older count decided) and is now
    kept unread (``tests/unit/test_real_sender_shapes_round4.py``)."""
    bundle = _platelets(
        status="registered",
        valueQuantity={"value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"},
    )
    assert outcome(decide(bundle), PLATELETS) == Outcome.UNKNOWN


def test_the_final_of_the_same_observation_replaces_a_cancelled_one_and_decides() -> None:
    cancelled = _platelets(status="cancelled", dataAbsentReason=_absent("error"))
    final = _platelets(
        valueQuantity={"value": 160, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}
    )
    from shared.clinical.fhir import parse_fhir
    from shared.eligibility.engine import evaluate
    from shared.eligibility.loader import load_trial
    from tests.unit.test_real_feed_examples import AS_OF

    updates = parse_fhir(cancelled, source_system="ehr") + parse_fhir(final, source_system="ehr")
    decision = evaluate(load_trial("NCT06920433"), facts_from_updates(updates), AS_OF)
    assert decision.status == Status.ELIGIBLE


def test_a_cancelled_medication_request_is_still_no_exposure() -> None:
    from shared.clinical.fhir import parse_fhir

    request = {
        "resourceType": "MedicationRequest",
        "id": "rtx",
        "status": "cancelled",
        "intent": "order",
        "subject": {"reference": "Patient/vignette"},
        "authoredOn": "2026-02-20T09:00:00Z",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "121191"}]
        },
    }
    bundle = _bundle(_add({"fullUrl": "urn:uuid:rtx", "resource": request,
                           "request": {"method": "PUT", "url": "MedicationRequest/rtx"}}))
    assert parse_fhir(bundle, source_system="ehr")
    assert decide(bundle).status == Status.ELIGIBLE


# HL7 v2.5.1 table 0085 X and N


@pytest.mark.parametrize(("status", "meaning"), [("X", "cannot be obtained"), ("N", "not asked")])
def test_a_newer_obx_that_could_not_be_obtained_leaves_i6_1_unknown(
    status: str, meaning: str
) -> None:
    obx = f"OBX|1||777-3^Platelets^LN||||||||{status}|||{OBX_WHEN}"
    decision = decide(_bundle(), _oru("M-X", obx))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = _reason(decision, PLATELETS)
    assert f"result status {status}" in reason
    assert meaning in reason
    assert "0085" in reason


def test_an_x_result_is_unread_at_obx_11_with_its_code_and_time_kept() -> None:
    (update,) = parse_hl7v2(_oru("M-X", f"OBX|1||777-3^Platelets^LN||||||||X|||{OBX_WHEN}"))
    (fact,) = update.facts
    assert fact.status == "cancelled"
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].11"
    assert fact.effective_start is not None


def test_an_x_result_of_the_same_order_and_observation_replaces_the_final_one() -> None:
    final = _oru("M-1", f"OBX|1|NM|777-3^Platelets^LN||160|10*9/L|150-400|N|||F|||{OBX_WHEN}")
    failed = _oru("M-2", f"OBX|1||777-3^Platelets^LN||||||||X|||{OBX_WHEN}",
                  at="20260228110000+0000")
    assert outcome(decide(_bundle(), final), PLATELETS) == Outcome.PASS
    assert outcome(decide(_bundle(), final, failed), PLATELETS) == Outcome.UNKNOWN


# HL7 v2.5.1 7.4.2.11: OBX-11 is required (table 0085). An empty one leaves the result's status
# unknown (final, preliminary, corrected or cancelled), so it is kept unread at OBX[n].11.

_NO_STATUS = "no result status (OBX-11 is required, HL7 v2.5.1 7.4.2.11, table 0085)"


@pytest.mark.parametrize("value", ["200", "8"])
def test_a_newer_platelet_count_without_obx_11_leaves_i6_1_unknown_naming_it(value: str) -> None:
    obx = f"OBX|1|NM|777-3^Platelets^LN||{value}|10*9/L|150-400|||||||{OBX_WHEN}"
    decision = decide(_bundle(), _oru("M-E", obx))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    assert _NO_STATUS in _reason(decision, PLATELETS)
    result = next(result for result in decision.criteria if result.id == PLATELETS)
    paths = [e.details.get("unread_path") for e in result.evidence if e.details]
    assert "OBX[1].11" in paths


def test_an_older_final_hl7_count_does_not_decide_past_a_newer_one_without_obx_11() -> None:
    final = _oru("M-1", "OBX|1|NM|777-3^Platelets^LN||160|10*9/L|150-400|N|||F|||"
                 "20260227080000+0000", at="20260227100000+0000")
    no_status = _oru("M-2", f"OBX|1|NM|777-3^Platelets^LN||160|10*9/L|150-400|N||||||{OBX_WHEN}",
                     obr="OBR|1|ORD-10|FIL-10|57021-8^CBC^LN|||20260228080000+0000")
    assert outcome(decide(_bundle(), final), PLATELETS) == Outcome.PASS
    decision = decide(_bundle(), final, no_status)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert _NO_STATUS in _reason(decision, PLATELETS)


def test_an_hcg_without_obx_11_leaves_e12_unknown() -> None:
    message = _oru("M-HCG", "OBX|1|CWE|2106-3^hCG Ur Ql^LN||10828004^Positive^SCT|||A||||||"
                   f"{OBX_WHEN}")
    decision = decide(_bundle(), message)
    assert outcome(decision, HCG) == Outcome.UNKNOWN
    assert _NO_STATUS in _reason(decision, HCG)


# HL7 v2.5.1 table 0085 D: deletes exactly the OBX record with the same identity


def _order(filler: str, value: str, status: str, control: str, sub_id: str = "") -> str:
    obr = f"OBR|1|ORD-{filler}|{filler}|57021-8^CBC^LN|||{OBX_WHEN}"
    obx = f"OBX|1|NM|777-3^Platelets^LN|{sub_id}|{value}|10*9/L|150-400||||{status}|||{OBX_WHEN}"
    return _oru(control, obx, obr=obr, at=f"2026022810{control[-1]}000+0000")


def test_a_deletion_removes_exactly_the_record_it_deletes_and_says_so() -> None:
    low = _order("FIL-1", "8", "F", "M-1")
    other = _order("FIL-2", "160", "F", "M-2")
    deleted = _order("FIL-1", "", "D", "M-3")
    # two platelet counts of one instant that disagree (8 and 160) decide nothing: I6.1 is
    # unknown (FHIR R4 Observation.effective[x] / HL7 v2.5.1 7.4.2.4, d482f9d)
    both = decide(_bundle(), low, other)
    assert outcome(both, PLATELETS) == Outcome.UNKNOWN
    assert both.status == Status.UNDETERMINED
    # the deletion of order FIL-1 removes the 8; order FIL-2's 160 of the same time stays
    assert decide(_bundle(), low, other, deleted).status == Status.ELIGIBLE
    (update,) = parse_hl7v2(deleted)
    (tombstone,) = update.facts
    assert tombstone.status == "entered-in-error"
    note = next(n for n in tombstone.notes if n.path == "OBX[1].11")
    assert "deletes the OBX record" in note.reason
    assert "FIL-1" in note.reason


def test_a_deletion_of_another_sub_id_leaves_the_result_in_place() -> None:
    low = _order("FIL-1", "8", "F", "M-1", sub_id="1")
    deleted = _order("FIL-1", "", "D", "M-2", sub_id="2")
    assert decide(_bundle(), low, deleted).status == Status.INELIGIBLE


def test_a_deletion_re_sent_before_its_original_still_deletes_it() -> None:
    # an interface engine replaying its queue delivers the older original after the deletion
    low = _order("FIL-1", "8", "F", "M-1")
    deleted = _order("FIL-1", "", "D", "M-3")
    assert decide(_bundle(), deleted, low).status == Status.ELIGIBLE


# HL7 v2.5.1 2A.3.13 CWE: the alternate identifier names the same concept (as every coding of
# a FHIR CodeableConcept does)


def _hcg(value: str) -> str:
    return _oru("M-HCG", f"OBX|1|CWE|2106-3^hCG Ur Ql^LN||{value}|||A|||F|||{OBX_WHEN}")


def test_a_positive_hcg_known_only_by_its_alternate_loinc_answer_makes_her_ineligible() -> None:
    message = _hcg("POS^Positive^99LAB^LA6576-8^Positive^LN")
    assert decide(_bundle(), message).status == Status.INELIGIBLE
    (update,) = parse_hl7v2(message)
    (fact,) = update.facts
    assert fact.value_code is not None
    assert (fact.value_code.system, fact.value_code.code) == (SNOMED, "10828004")
    assert fact.received is not None
    assert fact.received.value == "POS^Positive^99LAB^LA6576-8^Positive^LN"


def test_an_identifier_and_alternate_meaning_different_results_are_unread() -> None:
    message = _hcg("10828004^Positive^SCT^LA6577-6^Negative^LN")
    (update,) = parse_hl7v2(message)
    (fact,) = update.facts
    assert fact.unread is not None
    assert "different results" in fact.unread.reason
    decision = decide(_bundle(), message)
    assert outcome(decision, HCG) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_a_coded_result_with_no_known_coding_keeps_the_first_and_says_so() -> None:
    (update,) = parse_hl7v2(_hcg("XYZ^Odd^99LAB^ABC^Odd^99OTHER"))
    (fact,) = update.facts
    assert fact.value_code is not None
    assert fact.value_code.code == "XYZ"
    assert any("kept as sent" in note.reason for note in fact.notes)
    assert fact.received is not None
    assert fact.received.value is not None
    assert "ABC" in fact.received.value


# HL7 v2.5.1 table 0085 I "specimen in lab; results pending" and O "order received; specimen
# not yet received", OBX-5 empty (v2.5.1 7.4.2.5 allows it: no result yet). It is a pending
# result (FHIR R4 observation-status registered: "no result yet available"): it carried the
# warning "no OBX-14 or OBR-7: dated at MSH-7", or "observation time from OBR-7", about dating
# a result that does not exist; now it has no substitute time and no warning.
@pytest.mark.parametrize("status", ["I", "O"])
@pytest.mark.parametrize(
    "obr",
    ["OBR|1|ORD-9|FIL-9|57021-8^CBC^LN", f"OBR|1|ORD-9|FIL-9|57021-8^CBC^LN|||{OBX_WHEN}"],
    ids=["no-obr-7", "obr-7"],
)
def test_a_pending_obx_without_a_value_is_registered_with_no_dating_warning(
    status: str, obr: str
) -> None:
    message = _oru("M-I", f"OBX|1|NM|777-3^Platelets^LN|||10*9/L|||||{status}", obr=obr)
    (update,) = parse_hl7v2(message, source_system="test-lab")
    (fact,) = update.facts
    assert fact.status == "registered"
    assert fact.unread is None
    assert fact.notes == ()
    assert fact.effective_start is None
    assert fact.value_quantity is None


def test_a_pending_obx_keeps_its_own_observation_time() -> None:
    message = _oru("M-I", f"OBX|1|NM|777-3^Platelets^LN|||10*9/L|||||I|||{OBX_WHEN}")
    (fact,) = parse_hl7v2(message, source_system="test-lab")[0].facts
    assert fact.effective_start is not None
    assert fact.notes == ()


def test_a_pending_platelet_count_leaves_the_older_result_deciding() -> None:
    pending = _oru("M-I", "OBX|1|NM|777-3^Platelets^LN|||10*9/L|||||I")
    assert decide(_bundle(), pending).status == Status.ELIGIBLE


# FHIR R4 Observation.value[x] integer has no unit: a newer platelet count sent as one leaves
# I6.1 unknown (the older 180 x10^9/L does not decide in its place)
def test_a_newer_platelet_count_sent_as_value_integer_leaves_i6_1_unknown() -> None:
    decision = decide(_platelets(valueInteger=200))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert "has no unit" in _reason(decision, PLATELETS)


def test_a_newer_final_platelet_count_with_no_value_at_all_leaves_i6_1_unknown() -> None:
    """FHIR R4 Observation.value[x] (0..1), obs-6 (dataAbsentReason only without value[x]) and
    obs-7: a final 777-3 with no value[x], no dataAbsentReason, no component and no hasMember
    carries no result. Before, it was kept with a note only and the older 180 decided
    (ELIGIBLE); now it is unread at value[x] and I6.1 is unknown."""
    decision = decide(_platelets())
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    assert "value[x]" in _reason(decision, PLATELETS)
