"""A FHIR R4 MedicationDispense is a medication exposure; AllergyIntolerance is read (E1, .5).

Each case is the eligible vignette of NCT06920433 (as of 2026-03-01T09:00:00Z) with one entry
added as a pharmacy system sends it. Before, a MedicationDispense was not read at all: the
receipt said "nothing in this entry is screened", and a patient whose only record of rituximab
two months ago was its dispense passed E11 (immunosuppressant or biologic within five
half-lives) and was ELIGIBLE.

FHIR R4 MedicationDispense.whenHandedOver: "the time the dispensed product was provided to the
patient or their representative"; MedicationDispense.status (1..1, a modifier, required
binding medicationdispense-status): only ``completed`` ("the dispensed product has been picked
up") is a handover that happened; ``cancelled`` ("was not and will never be picked up"),
``declined`` ("declined and not performed") and ``entered-in-error`` are none;
``preparation``, ``in-progress`` ("ready for pickup"), ``on-hold``, ``stopped`` ("halted,
before all of them occurred") and ``unknown`` may hide a handover or precede one: unread, so
the washout is unknown, never passed.
"""

from __future__ import annotations

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.fhir import Outcome as EntryOutcome
from shared.clinical.fhir import normalise_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import _add, _bundle, decide, outcome
from tests.unit.test_real_sender_shapes_round3 import RITUXIMAB, _entry

WASHOUT = "E11"
TWO_MONTHS_AGO = "2026-01-01T09:00:00Z"


def _dispense(status: str, **fields: object) -> dict[str, object]:
    return _entry("MedicationDispense", "rtx-disp", status=status,
                  medicationCodeableConcept=RITUXIMAB, **fields)


def test_a_completed_rituximab_dispense_two_months_ago_fails_the_washout() -> None:
    decision = decide(_bundle(_add(_dispense("completed", whenHandedOver=TWO_MONTHS_AGO))))
    assert outcome(decision, WASHOUT) == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


@pytest.mark.parametrize("status", ["preparation", "in-progress", "on-hold", "stopped", "unknown"])
def test_a_dispense_that_may_hide_a_handover_leaves_the_washout_unknown(status: str) -> None:
    decision = decide(_bundle(_add(_dispense(status, whenHandedOver=TWO_MONTHS_AGO))))
    assert outcome(decision, WASHOUT) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == WASHOUT)
    assert f"'{status}'" in reason
    assert "medicationdispense-status" in reason


@pytest.mark.parametrize("status", ["cancelled", "declined", "entered-in-error"])
def test_a_dispense_never_handed_over_is_no_exposure(status: str) -> None:
    decision = decide(_bundle(_add(_dispense(status))))
    assert outcome(decision, WASHOUT) == Outcome.PASS
    assert decision.status == Status.ELIGIBLE


def _allergy(resource_id: str, category: str, code: str, system: str) -> dict[str, object]:
    # Synthea's shape: statuses as codings of their HL7 code systems, category a plain code,
    # ``patient`` (FHIR R4 AllergyIntolerance has no ``subject``)
    allergy = _entry(
        "AllergyIntolerance", resource_id,
        clinicalStatus={"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
            "code": "active"}]},
        type="allergy", category=[category], criticality="high",
        code={"coding": [{"system": system, "code": code}]})
    allergy["resource"]["patient"] = allergy["resource"].pop("subject")
    return allergy


def test_the_receipt_accepts_a_dispense_and_a_drug_allergy_and_names_a_food_one() -> None:
    # before NCT06920433 2025-11-14.5 an AllergyIntolerance was ignored ("not read by
    # TrialWatch"); E1 now reads one of category medication, so it is accepted and screened,
    # and a food allergy, read by no criterion, is accepted with the receipt saying so
    drug = _allergy("allergy-1", "medication", "3002",
                    "http://www.nlm.nih.gov/research/umls/rxnorm")
    food = _allergy("allergy-2", "food", "300913006", "http://snomed.info/sct")
    bundle = _bundle(_add(_dispense("completed", whenHandedOver=TWO_MONTHS_AGO), drug, food))
    bundle["type"] = "batch"
    entries = normalise_fhir(bundle, source_system="pharm").entries
    dispense = next(e for e in entries if e.resource_type == "MedicationDispense")
    assert dispense.outcome is EntryOutcome.ACCEPTED
    assert dispense.code_paths[0][1].endswith("resource.medicationCodeableConcept")
    allergies = [e for e in entries if e.resource_type == "AllergyIntolerance"]
    assert [e.outcome for e in allergies] == [EntryOutcome.ACCEPTED] * 2
    assert not any("not read by TrialWatch" in w.reason for e in allergies for w in e.warnings)


def test_an_hl7_v2_dispense_message_is_refused_whole_never_dropped() -> None:
    """HL7 v2.5.1 RDS^O13 (pharmacy dispense, chapter 4A.3.7, RXD segment) is not a message
    TrialWatch reads: refused at MSH.9 naming the types it reads, so the sender knows."""
    message = "\r".join([
        "MSH|^~\\&|PHARM|CITY|TW|TW|20260101100000+0000||RDS^O13^RDS_O13|RDS-1|P|2.5.1",
        "PID|1||vignette^^^TEST-EHR^MR||Doe^Jane||19900101|F",
        "ORC|RE|ORD-1",
        "RXD|1|121191^rituximab^RXNORM|20260101090000+0000|1000|mg",
    ]) + "\r"
    with pytest.raises(InvalidInput) as refused:
        parse_hl7v2(message, source_system="pharm")
    assert [p.path for p in refused.value.problems] == ["MSH.9"]
