"""Probe round 4: real-sender shapes found silently wrong, through normaliser and engine.

Each case is the eligible vignette of NCT06920433 (as of 2026-03-01T09:00:00Z, see
``test_real_feed_examples``) with one entry changed or added, or the vignette plus a small HL7
v2 message, as the cited sender or standard writes it. Before the fix each was read as
something it is not (or dropped without trace) and left her ELIGIBLE; now each is read
exactly, refused with its path, or kept unread so that the criterion reading it is
``unknown``. The round's full table (shapes read, refused, unread) is in
``/work/notes/probe4.md``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.clinical.fhir import parse_fhir
from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import (
    UCUM,
    Json,
    _add,
    _bundle,
    _observation,
    _oru,
    _problems,
    _reason,
    decide,
    outcome,
)

WHEN = "2026-02-28T09:00:00Z"
OBX_WHEN = "20260228080000+0000"
PLATELETS = "I6.1"  # bone marrow function: platelets >= 20e9/L (NCT06920433)
LOW_COUNT = {"value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}


# --- transaction entries that do not create or update --------------------------------------

PATCH_BINARY = {"resourceType": "Binary", "contentType": "application/json-patch+json",
                "data": "W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii92YWx1ZVF1YW50aXR5L3ZhbHVl"
                        "IiwidmFsdWUiOjh9XQ=="}


# FHIR R4 http 3.1.0.5.1 (patch) and Bundle.entry.request.method (http-verb): a PATCH entry's
# resource is a Binary (JSON/XML patch) or a Parameters (FHIRPath patch) that changes elements
# of the target not sent. Senders do this: hapifhir/hapi-fhir#3574 posts exactly this shape (a
# transaction entry, Binary application/json-patch+json, method PATCH); microsoft/fhir-server
# #2143 and HL7/fhir#1968 (FHIR-33945) added it. Here the patch sets the vignette's
# platelet count obs-13 to 8 ('[{"op":"replace","path":"/valueQuantity/value","value":8}]'):
# the Binary was skipped as a type not read, the 180 still decided: ELIGIBLE, no trace.
def test_a_patch_entry_is_refused_at_its_method_never_skipped() -> None:
    def patch(bundle: Json) -> None:
        bundle["entry"].append({"fullUrl": "urn:uuid:patch-1", "resource": PATCH_BINARY,
                                "request": {"method": "PATCH", "url": "Observation/obs-13"}})

    problems = _problems(lambda: decide(_bundle(patch)))
    assert any(p.startswith("Bundle.entry[46].request.method: PATCH is not carried out")
               for p in problems)


# FHIR R4 Bundle.entry.request.method DELETE: the resource at url is deleted (GET: it is only
# read). A DELETE sent with the deleted resource still in entry.resource (a generator filling
# entry.resource for every entry) was read as an update: the deleted platelet count of 180
# decided I6.1 and she was ELIGIBLE. Before, only a DELETE without a resource was refused.
@pytest.mark.parametrize("method", ["DELETE", "GET"])
def test_a_delete_or_get_sent_with_a_resource_is_refused_never_read_as_an_update(
    method: str,
) -> None:
    def delete(bundle: Json) -> None:
        entry = next(e for e in bundle["entry"] if e["resource"].get("id") == "obs-13")
        entry["request"] = {"method": method, "url": "Observation/obs-13"}

    problems = _problems(lambda: decide(_bundle(delete)))
    assert any(".request.method: " + method + " is not carried out" in p for p in problems)


# --- a value sent under a status that says no result exists yet ------------------------------


# FHIR R4 observation-status registered: "The existence of the observation is registered, but
# there is no result yet available"; HL7 v2.5.1 table 0085 I "specimen in lab; results
# pending", O "order received; specimen not yet received". Interface engines map OBX-11 to
# Observation.status with the value copied beside it (HL7/v2-to-fhir, the OBX[Observation] map
# and table 0085 -> observation-status ConceptMap: I -> registered). A platelet count of 8
# sent so was dropped as pending with no trace and the older 180 decided: ELIGIBLE. Whether
# the value is a result is unknown: kept unread, I6.1 unknown.
def test_a_registered_observation_sent_with_a_value_leaves_i6_1_unknown() -> None:
    entry = _observation("plt-reg", "777-3", WHEN, status="registered", valueQuantity=LOW_COUNT)
    decision = decide(_bundle(_add(entry)))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    assert "status 'registered'" in _reason(decision, PLATELETS)


@pytest.mark.parametrize("status", ["I", "O"])
def test_an_obx_pending_status_sent_with_a_value_leaves_i6_1_unknown(status: str) -> None:
    obx = f"OBX|1|NM|777-3^Platelets^LN||8|10*9/L|150-400|L|||{status}|||{OBX_WHEN}"
    decision = decide(_bundle(), _oru("M-PEND", obx))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    assert f"result status {status}" in _reason(decision, PLATELETS)


@pytest.mark.parametrize("status", ["I", "O"])
def test_an_obx_pending_without_a_value_is_still_no_result(status: str) -> None:
    obx = f"OBX|1|NM|777-3^Platelets^LN|||10*9/L|150-400||||{status}"
    assert decide(_bundle(), _oru("M-PEND", obx)).status == Status.ELIGIBLE


# --- an Observation.component of an analyte sent with nothing -------------------------------


# FHIR R4 Observation.component: "component observations ... share the same attributes"; a
# CBC panel (58410-2) whose platelet component carries neither value[x], dataAbsentReason nor
# interpretation (an analyser that suppressed the count; the US Core Laboratory Result
# Observation's us-core-2 asks for a value or a dataAbsentReason). The same Observation
# without the panel was already kept unread; as a component it was "no result" and the older
# 180 decided: ELIGIBLE.
def test_a_panel_component_of_platelets_sent_with_nothing_leaves_i6_1_unknown() -> None:
    panel = _observation("cbc-new", "58410-2", WHEN)
    panel["resource"]["component"] = [
        {"code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]}}]
    decision = decide(_bundle(_add(panel)))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


# --- an HL7 v2 identifier and alternate identifier naming different analytes -----------------


# HL7 v2.5.1 2A.3.13 CWE: components 4-6 of OBX-3 are the alternate identifier of the same
# concept (labs send their own code first and LOINC as the alternate; round 2 reads
# 'PLT^Platelet Count^99LAB^777-3^Platelets^LN'). An OBX-3 naming absolute neutrophils 751-8
# and platelets 777-3 was read as its first code: the count of 5 read as neutrophils (meets
# >= 0.5) and the older platelet count of 180 decided I6.1: ELIGIBLE, though it may be a
# platelet count of 5. FHIR's CodeableConcept with the same two codings was already refused;
# now OBX-3 is too, at its path.
@pytest.mark.parametrize(
    "identifier",
    ["751-8^Neutrophils^LN^777-3^Platelets^LN", "777-3^Platelets^LN^751-8^Neutrophils^LN"],
    ids=["neutrophils-then-platelets", "platelets-then-neutrophils"],
)
def test_an_obx_3_whose_alternate_names_another_analyte_is_refused_at_obx_3(
    identifier: str,
) -> None:
    obx = f"OBX|1|NM|{identifier}||5|10*9/L|||||F|||{OBX_WHEN}"
    problems = _problems(lambda: decide(_bundle(), _oru("M-ALT", obx)))
    assert any(p.startswith("OBX[1].3: codings name different analytes") and "2A.3.13" in p
               for p in problems)


def test_an_obx_3_whose_alternate_names_the_same_analyte_is_read() -> None:
    obx = f"OBX|1|NM|777-3^Platelets^LN^26515-7^Platelets^LN||8|10*9/L|||||F|||{OBX_WHEN}"
    assert outcome(decide(_bundle(), _oru("M-ALT", obx)), PLATELETS) == Outcome.FAIL


# --- a FHIR result dated after it was received ----------------------------------------------

RECEIVED = datetime(2026, 2, 28, 12, 0, tzinfo=UTC)


# FHIR R4 Observation.effective[x] is when the value was true; a result cannot be observed
# after the message carrying it arrived (HL7 v2 OBX-14 later than the receipt was already
# refused, ``hl7v2._after_message``). A platelet count of 8 dated 2026-03-05 (typed for
# 03-02 or 05-03), received on 28 February, was accepted without a word: the engine, as of 1
# March, skipped it as a future result and the older 180 decided I6.1: ELIGIBLE.
@pytest.mark.parametrize(
    ("element", "value"),
    [("effectiveDateTime", "2026-03-05T09:00:00Z"), ("effectiveDateTime", "2026-03-05"),
     ("effectivePeriod", {"start": "2026-03-05T09:00:00Z"}),
     ("effectiveInstant", "2026-03-05T09:00:00Z")],
    ids=["dateTime", "day", "period-start", "instant"],
)
def test_a_result_observed_after_its_receipt_is_refused_at_its_time(
    element: str, value: Any
) -> None:
    entry = _observation("plt-late", "777-3", WHEN, valueQuantity=LOW_COUNT)
    del entry["resource"]["effectiveDateTime"]
    entry["resource"][element] = value
    bundle = _bundle(_add(entry))
    problems = _problems(lambda: parse_fhir(bundle, source_system="ehr", received_at=RECEIVED))
    assert any(p.startswith(f"Bundle.entry[46].resource.{element}") and "after TrialWatch"
               " received it" in p for p in problems)


@pytest.mark.parametrize(
    "when", ["2026-02-28T12:04:00Z", "2026-02-28", "2026-02-28T23:00:00+14:00"])
def test_a_result_of_the_day_of_receipt_or_within_the_clock_skew_is_read(when: str) -> None:
    entry = _observation("plt-now", "777-3", when, valueQuantity=LOW_COUNT)
    updates = parse_fhir(_bundle(_add(entry)), source_system="ehr", received_at=RECEIVED)
    assert any(f.fact_id for u in updates for f in u.facts)


# --- periods with an end not sent, or a value standing for a period --------------------------

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
RITUXIMAB = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                         "code": "121191"}]}


def _entry(resource_type: str, resource_id: str, **fields: Any) -> Json:
    return {
        "fullUrl": f"urn:uuid:{resource_id}",
        "resource": {"resourceType": resource_type, "id": resource_id,
                     "subject": {"reference": "Patient/vignette"}, **fields},
        "request": {"method": "PUT", "url": f"{resource_type}/{resource_id}"},
    }


# FHIR R4 Condition.abatement[x] (dateTime | Age | Period | Range | string) and Period: "If
# the end of the period is missing, it means that the period is ongoing". A breast cancer of
# 2010 with abatementPeriod {start: 2015-06-01} began to resolve in 2015 and had not
# resolved by any date sent; it was read as ended on 2015-06-01 ("no malignant neoplasm within
# 5 years"): E6 passed, ELIGIBLE. Now it has no abatement date (round 3's rule): E6 unknown.
def test_a_malignancy_whose_abatement_period_has_no_end_leaves_e6_unknown() -> None:
    cancer = _entry(
        "Condition", "ca-1",
        clinicalStatus={"coding": [{"system": CLINICAL, "code": "resolved"}]},
        code={"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C50.911"}]},
        onsetDateTime="2010-05-01", abatementPeriod={"start": "2015-06-01"})
    decision = decide(_bundle(_add(cancer)))
    assert outcome(decision, "E6") == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_a_malignancy_whose_abatement_period_ended_in_2016_passes_e6() -> None:
    cancer = _entry(
        "Condition", "ca-1",
        clinicalStatus={"coding": [{"system": CLINICAL, "code": "resolved"}]},
        code={"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C50.911"}]},
        onsetDateTime="2010-05-01", abatementPeriod={"start": "2015-06-01", "end": "2016-01-01"})
    assert outcome(decide(_bundle(_add(cancer))), "E6") == Outcome.PASS


# FHIR R4 MedicationAdministration.effectivePeriod ("the period during which the
# administration took place"; a rituximab infusion charted with its start when the pump
# starts and its end later, or never). A completed administration begun on 2025-06-01 with no
# end was read as a dose on 2025-06-01, washout over by September: E11 passed, ELIGIBLE. The
# last exposure is unknown: kept unread, E11 unknown. In progress, it is the ongoing exposure.
@pytest.mark.parametrize(
    ("status", "expected"),
    [("completed", Outcome.UNKNOWN), ("stopped", Outcome.UNKNOWN), ("in-progress", Outcome.FAIL)])
def test_a_rituximab_administration_with_no_end_never_passes_the_washout(
    status: str, expected: Outcome
) -> None:
    given = _entry("MedicationAdministration", "ma-open", status=status,
                   medicationCodeableConcept=RITUXIMAB,
                   effectivePeriod={"start": "2025-06-01T08:00:00Z"})
    decision = decide(_bundle(_add(given)))
    assert outcome(decision, "E11") == expected
    assert decision.status != Status.ELIGIBLE


# FHIR R4 Observation.effectivePeriod: the value stands for the whole period. A platelet count
# of 8 for 2026-01-01..2026-02-28 was read at its start, older than the 180 of 26 February,
# which decided I6.1: ELIGIBLE. The two ends order it differently: I6.1 unknown.
def test_a_result_standing_for_a_period_around_an_older_result_leaves_i6_1_unknown() -> None:
    entry = _observation("plt-period", "777-3", WHEN, valueQuantity=LOW_COUNT)
    del entry["resource"]["effectiveDateTime"]
    entry["resource"]["effectivePeriod"] = {"start": "2026-01-01T00:00:00Z", "end": WHEN}
    decision = decide(_bundle(_add(entry)))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_a_result_over_a_short_period_after_the_older_result_decides() -> None:
    entry = _observation("plt-period", "777-3", WHEN, valueQuantity=LOW_COUNT)
    del entry["resource"]["effectiveDateTime"]
    entry["resource"]["effectivePeriod"] = {"start": "2026-02-28T08:00:00Z", "end": WHEN}
    assert outcome(decide(_bundle(_add(entry))), PLATELETS) == Outcome.FAIL


# --- a Patient record not in active use -------------------------------------------------------


# FHIR R4 Patient.active is a modifier element: "labelled as a modifier because it is a status
# element that can indicate that a record should not be treated as valid" (and "often set to
# false when a record was created in error"); a receiver SHALL NOT process a modifier it does
# not understand. The vignette sent with active false and no replaced-by link (a duplicate
# record retired by the registration system) was screened as valid: ELIGIBLE. Refused at
# Patient.active; a record linked replaced-by its survivor is still read as a merge.
def test_a_patient_record_not_in_active_use_is_refused_at_patient_active() -> None:
    def inactive(bundle: Json) -> None:
        bundle["entry"][0]["resource"]["active"] = False

    problems = _problems(lambda: decide(_bundle(inactive)))
    assert any(p.startswith("Bundle.entry[0].resource.active: record not in active use")
               for p in problems)
