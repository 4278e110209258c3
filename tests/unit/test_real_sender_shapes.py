"""More real-sender shapes, found in public integration reports, through normaliser and engine.

Each case is the eligible vignette (as of 2026-03-01T09:00:00Z, see
``test_real_feed_examples``) plus one result as a real lab or EHR sends it; the source of the
shape is cited on each case. Every shape must be read exactly, refused with its path, or kept
unread so that the criterion reading it is ``unknown``: never silently wrong. A case marked
``xfail(strict=True)`` is a defect found and not fixed yet (the reason names it); fixing it
fails the strict marker until the marker is removed.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.errors import InvalidInput
from shared.eligibility.decision import Decision, Outcome, Status
from tests.unit.test_real_feed_examples import (
    LOINC,
    SNOMED,
    UCUM,
    Json,
    _add,
    _bundle,
    _observation,
    _oru,
    decide,
    outcome,
)

WHEN = "2026-02-28T09:00:00Z"
OBX_WHEN = "20260228080000+0000"
PLATELETS = "I6.1"  # bone marrow function: platelets >= 20e9/L (NCT06920433)


def _platelets(**value: Any) -> Json:
    return _bundle(_add(_observation("plt-new", "777-3", WHEN, **value)))


def _platelet_count(value: float, **quantity: str) -> Json:
    return _platelets(valueQuantity={"value": value, **quantity})


def _hcg(**value: Any) -> Json:
    return _bundle(_add(_observation("hcg-new", "2106-3", WHEN, **value)))


def _hl7(obx: str, **kwargs: str) -> Decision:
    return decide(_bundle(), _oru("M-SHAPE", obx, **kwargs))


def _refused(call: Any) -> tuple[str, ...]:
    with pytest.raises(InvalidInput) as refused:
        call()
    return tuple(str(problem) for problem in refused.value.problems)


# FHIR R4 CodeableConcept.coding: every coding stands for the same concept. Epic sends its own
# code first (urn:oid:1.2.840.114350...) and the LOINC code after it.
def test_a_platelet_count_coded_locally_first_and_loinc_second_is_read_by_its_loinc() -> None:
    bundle = _platelet_count(8, unit="10*9/L", system=UCUM, code="10*9/L")
    bundle["entry"][-1]["resource"]["code"] = {
        "coding": [
            {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.123", "code": "1234"},
            {"system": LOINC, "code": "777-3"},
        ],
        "text": "PLATELET COUNT",
    }
    assert outcome(decide(bundle), PLATELETS) == Outcome.FAIL


# US lab units written in Quantity.unit without a UCUM code (issue 9 kind 8; the alias table,
# shared/clinical/unit_aliases.yaml): each is 10^3 per microlitre = 10^9/L.
@pytest.mark.parametrize("unit", ["x10E3/uL", "x10^3/mcL", "thou/uL", "10^9/L", "10*3/uL"])
def test_a_low_platelet_count_in_a_us_lab_unit_spelling_makes_her_ineligible(unit: str) -> None:
    assert decide(_platelet_count(8, unit=unit)).status == Status.INELIGIBLE


# A non-UCUM unit system as HL7-v2-to-FHIR converters write it (masslight/ottehr#9565:
# "system": "99QDI(HL7_V2)"): the code is read through the same alias table.
def test_a_platelet_unit_in_a_local_unit_system_is_read_through_the_alias_table() -> None:
    bundle = _platelet_count(8, system="99QDI(HL7_V2)", code="K/uL")
    assert outcome(decide(bundle), PLATELETS) == Outcome.FAIL


# FHIR R4 Quantity: "the unit must be known"; a platelet count without one is refused there.
def test_a_platelet_count_without_any_unit_is_refused_at_its_unit_path() -> None:
    problems = _refused(lambda: decide(_platelet_count(8)))
    assert any("valueQuantity.unit" in problem for problem in problems)


# athenahealth sends textual results as valueCodeableConcept.text (drajer-health/eCRNow#625,
# "OBSVALUE = 'GT 45'"): "LT 10" is no number in the product's forms, so the newer platelet
# count is kept unread and is never overtaken by the older 180.
@pytest.mark.parametrize(
    "value",
    [{"valueCodeableConcept": {"text": "LT 10"}}, {"valueString": "LT 10"}],
    ids=["codeable-concept-text", "string"],
)
def test_a_platelet_count_sent_as_lt_10_text_leaves_bone_marrow_function_unknown(
    value: Json,
) -> None:
    decision = decide(_platelets(**value))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


# FHIR R4 dateTime: "If hours and minutes are specified, a time zone SHALL be populated"
# (chaseastewart/fhir-converter#2: converters emit "2023-09-04T21:28:00").
def test_an_effective_time_without_offset_is_refused_at_its_path() -> None:
    bundle = _platelet_count(8, unit="10*9/L", system=UCUM, code="10*9/L")
    bundle["entry"][-1]["resource"]["effectiveDateTime"] = "2026-02-28T09:00:00"
    problems = _refused(lambda: decide(bundle))
    assert any("effectiveDateTime" in problem for problem in problems)


# FHIR R4 Observation.effectivePeriod in a local offset (linuxforhealth converter output).
def test_a_platelet_count_dated_by_an_effective_period_in_a_local_offset_is_read() -> None:
    bundle = _platelet_count(8, unit="10*9/L", system=UCUM, code="10*9/L")
    resource = bundle["entry"][-1]["resource"]
    del resource["effectiveDateTime"]
    resource["effectivePeriod"] = {
        "start": "2026-02-28T08:00:00-05:00",
        "end": "2026-02-28T08:30:00-05:00",
    }
    assert outcome(decide(bundle), PLATELETS) == Outcome.FAIL


# FHIR R4 Observation.status (observation-status): amended and corrected results are results.
@pytest.mark.parametrize("status", ["amended", "corrected"])
def test_an_amended_or_corrected_low_platelet_count_makes_her_ineligible(status: str) -> None:
    bundle = _platelet_count(8, unit="10*9/L", system=UCUM, code="10*9/L")
    bundle["entry"][-1]["resource"]["status"] = status
    assert decide(bundle).status == Status.INELIGIBLE


# FHIR R4 observation-status entered-in-error: "the observation has been withdrawn".
def test_a_low_platelet_count_entered_in_error_does_not_count() -> None:
    bundle = _platelet_count(8, unit="10*9/L", system=UCUM, code="10*9/L")
    bundle["entry"][-1]["resource"]["status"] = "entered-in-error"
    assert decide(bundle).status == Status.ELIGIBLE


# FHIR R4 observation-status preliminary: "an initial or interim observation: data may be
# incomplete or unverified". A newer preliminary platelet count of 8 was dropped silently and
# the older final 180 decided (found by this review); it is now kept unread and named.
def test_a_newer_preliminary_low_platelet_count_leaves_bone_marrow_function_unknown() -> None:
    bundle = _platelet_count(8, unit="10*9/L", system=UCUM, code="10*9/L")
    bundle["entry"][-1]["resource"]["status"] = "preliminary"
    decision = decide(bundle)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == PLATELETS)
    assert "preliminary" in reason


# HL7 v2.5.1 table 0085: P (preliminary) then F (final) of the same order and observation:
# the final replaces the preliminary and decides.
def test_the_final_platelet_count_replaces_the_preliminary_one_and_decides() -> None:
    preliminary = _oru("M-P", f"OBX|1|NM|777-3^Platelets^LN||8|10*9/L|150-400|LL|||P|||{OBX_WHEN}")
    final = _oru("M-F", f"OBX|1|NM|777-3^Platelets^LN||160|10*9/L|150-400|N|||F|||{OBX_WHEN}")
    assert outcome(decide(_bundle(), preliminary), PLATELETS) == Outcome.UNKNOWN
    assert decide(_bundle(), preliminary, final).status == Status.ELIGIBLE


# FHIR R4 dateTime allows a partial date ("2026-02": some time in February 2026). The count of
# 8 may be newer than the 180 of 26 February: it was read as 1 February 00:00Z and silently
# overtaken (found by this review). It is the whole month (``time_bounds``): the criterion is
# judged at both ends of it, and the reason names the month, not its first day.
def test_a_platelet_count_known_only_to_the_month_leaves_bone_marrow_function_unknown() -> None:
    bundle = _platelet_count(8, unit="10*9/L", system=UCUM, code="10*9/L")
    bundle["entry"][-1]["resource"]["effectiveDateTime"] = "2026-02"
    decision = decide(bundle)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == PLATELETS)
    assert "when 777-3 of some day of 2026-02 (sent as a month) was obtained" in reason
    assert "2026-02-01" not in reason


# FHIR R4 Observation.effective[x] is 0..1 ("the clinically relevant time/time-period for
# observation"; US Core requires it). A count of 8 sent with no effective[x] and no issued was
# undated and ordered older than the 180 of 26 February, which decided: eligible. It may have
# been taken at any time up to its receipt: kept unread, no older result stands in for it.
def test_a_platelet_count_with_no_time_leaves_bone_marrow_function_unknown() -> None:
    bundle = _platelet_count(8, unit="10*9/L", system=UCUM, code="10*9/L")
    del bundle["entry"][-1]["resource"]["effectiveDateTime"]
    decision = decide(bundle)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == PLATELETS)
    assert "when 777-3 (sent with no time) was obtained" in reason


def test_a_positive_hcg_with_no_time_leaves_e12_unknown_beside_a_dated_negative() -> None:
    positive = {"coding": [{"system": SNOMED, "code": "10828004"}]}
    bundle = _hcg(valueCodeableConcept=positive)
    del bundle["entry"][-1]["resource"]["effectiveDateTime"]
    decision = decide(bundle)
    assert outcome(decision, "E12") == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


# FHIR R4 Condition.clinicalStatus (0..1, binding required to condition-clinical; con-3 only a
# guideline): a heart failure diagnosis sent "confirmed" with no clinicalStatus, as an
# encounter diagnosis often is, was read as status "confirmed", which no criterion reads as
# active: E4 (no active heart failure) passed and she was eligible. Whether it is active is
# unknown: E4 is unknown.
def test_a_confirmed_heart_failure_without_clinical_status_leaves_e4_unknown() -> None:
    condition = {
        "resourceType": "Condition", "id": "hf-1",
        "verificationStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": "confirmed"}]},
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
            "code": "encounter-diagnosis"}]}],
        "code": {"coding": [{"system": SNOMED, "code": "84114007", "display": "Heart failure"}]},
        "subject": {"reference": "Patient/vignette"},
        "onsetDateTime": "2026-02-20T10:00:00Z",
    }
    bundle = _bundle(_add({"fullUrl": "urn:uuid:hf-1", "resource": condition}))
    decision = decide(bundle)
    assert outcome(decision, "E4") == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


# Qualitative hCG as EHRs send it (issue 9 kind 1; SNOMED 260373001 Detected, text only,
# valueString, valueBoolean): a newer positive excludes her (positive evidence decides).
@pytest.mark.parametrize(
    "value",
    [
        {"valueCodeableConcept": {"text": "POSITIVE"}},
        {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "260373001"}]}},
        {"valueString": "Detected"},
        {"valueString": "Pos"},
        {"valueBoolean": True},
    ],
    ids=["text", "snomed-detected", "detected", "pos", "boolean"],
)
def test_a_newer_positive_hcg_in_any_sender_form_makes_her_ineligible(value: Json) -> None:
    assert decide(_hcg(**value)).status == Status.INELIGIBLE


def test_a_newer_hcg_coded_pos_in_a_local_system_with_text_leaves_her_undetermined() -> None:
    """A code means only what its code system says (FHIR R4 Coding.system): "POS" in
    urn:oid:1.2.3 was read as Positive by its spelling; with no mapping for that system
    (qualitative.yaml local_codes) it is unread, whatever the text beside it."""
    value = {"coding": [{"system": "urn:oid:1.2.3", "code": "POS", "display": "Positive"}],
             "text": "Positive"}
    decision = decide(_hcg(valueCodeableConcept=value))
    assert outcome(decision, "E12") == Outcome.UNKNOWN
    assert decision.status == Status.UNDETERMINED


def test_a_newer_indeterminate_hcg_leaves_her_undetermined() -> None:
    assert decide(_hcg(valueString="Indeterminate")).status == Status.UNDETERMINED


# HL7 v2.5.1 2A.3.70 SN: "=" is a valid comparator (microsoft/FHIR-Converter#504: "=^23");
# an SN "=^8" is the value 8.
def test_an_hl7_sn_with_the_equals_comparator_is_read_as_the_value() -> None:
    obx = f"OBX|1|SN|777-3^Platelets^LN||=^8|10*9/L|150-400|LL|||F|||{OBX_WHEN}"
    assert outcome(_hl7(obx), PLATELETS) == Outcome.FAIL


# HL7 v2.5.1 2A.3.70 SN: "<>" (not equal, FHIR-Converter#504), "^2^+" (categories, HL7/v2-to-fhir
# #51) and a ratio "^8^/^1" are no platelet count: kept unread, the criterion unknown.
@pytest.mark.parametrize("value", ["<>^8", "^2^+", "^8^/^1"])
def test_an_hl7_sn_that_is_no_count_leaves_bone_marrow_function_unknown(value: str) -> None:
    obx = f"OBX|1|SN|777-3^Platelets^LN||{value}|10*9/L|150-400|LL|||F|||{OBX_WHEN}"
    decision = _hl7(obx)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


# HL7 v2.5.1 2A.3.74 ST and 2A.3.47 NM: a decimal comma ("8,0") or a thousands separator
# ("1,200") is no NM; never guessed either way.
@pytest.mark.parametrize("value", ["8,0", "1,200"])
def test_an_hl7_number_with_a_comma_leaves_bone_marrow_function_unknown(value: str) -> None:
    obx = f"OBX|1|NM|777-3^Platelets^LN||{value}|10*9/L|150-400|L|||F|||{OBX_WHEN}"
    assert outcome(_hl7(obx), PLATELETS) == Outcome.UNKNOWN


@pytest.mark.parametrize("value", ["LT 10", "PLATELET CLUMPS PRESENT"])
def test_an_hl7_st_platelet_text_leaves_bone_marrow_function_unknown(value: str) -> None:
    obx = f"OBX|1|ST|777-3^Platelets^LN||{value}|10*9/L|150-400|A|||F|||{OBX_WHEN}"
    assert outcome(_hl7(obx), PLATELETS) == Outcome.UNKNOWN


# HL7 v2.5.1 2A.3.22 DTM: minute precision (CDCgov/prime-reportstream#4802, "202202130000+0000")
# and fractional seconds with an offset (hapifhir/hapi-fhir#351, "20120128145624.090-0500").
@pytest.mark.parametrize("when", ["202602280800+0000", "20260228080000.090-0500"])
def test_an_hl7_observation_time_at_any_dtm_precision_is_read(when: str) -> None:
    obx = f"OBX|1|NM|777-3^Platelets^LN||8|10*9/L|150-400|L|||F|||{when}"
    assert outcome(_hl7(obx), PLATELETS) == Outcome.FAIL


# HL7 v2.5.1 2A.3.22: a time without offset is the sender's local time; with no offset on
# MSH-7 and no zone configured for the source it is refused at its path, never read as UTC.
def test_an_hl7_order_time_without_any_zone_is_refused_at_its_path() -> None:
    obx = "OBX|1|NM|777-3^Platelets^LN||8|10*9/L|150-400|L|||F"
    obr = "OBR|1|ORD-9|FIL-9|57021-8^CBC^LN|||20260228080000"
    problems = _refused(lambda: _hl7(obx, obr=obr, at="20260228100000"))
    assert any(problem.startswith("OBR[1].7") for problem in problems)


# HL7 v2.5.1 2A.3.10 CWE: the alternate identifier (components 4-6) names the same
# observation; a lab's local code first with LOINC as the alternate is read by its LOINC.
@pytest.mark.parametrize(
    "identifier",
    ["PLT^Platelet Count^99LAB^777-3^Platelets^LN", "777-3^Platelets^LN^^^^2.68"],
    ids=["local-then-loinc", "loinc-with-version"],
)
def test_an_hl7_platelet_identifier_as_labs_write_it_is_read(identifier: str) -> None:
    obx = f"OBX|1|NM|{identifier}||8|10*9/L|150-400|L|||F|||{OBX_WHEN}"
    assert outcome(_hl7(obx), PLATELETS) == Outcome.FAIL


# US lab unit spellings in OBX-6 (LabCorp "x10E3/uL"; "K/uL" with a local coding system).
@pytest.mark.parametrize("unit", ["x10E3/uL", "K/uL^K/uL^L", "10*9/L^^99QDI"])
def test_an_hl7_platelet_unit_as_us_labs_write_it_is_read(unit: str) -> None:
    obx = f"OBX|1|NM|777-3^Platelets^LN||8|{unit}|150-400|L|||F|||{OBX_WHEN}"
    assert outcome(_hl7(obx), PLATELETS) == Outcome.FAIL


def test_an_hl7_platelet_unit_outside_the_alias_table_is_refused_at_obx_6() -> None:
    obx = f"OBX|1|NM|777-3^Platelets^LN||8|x10(3)/mcL|150-400|L|||F|||{OBX_WHEN}"
    problems = _refused(lambda: _hl7(obx))
    assert any(problem.startswith("OBX[1].6") for problem in problems)


# Qualitative hCG in OBX-5 as ELR senders write it (CDCgov/prime-reportstream#3518:
# "260373001^Detected^SCT" with OBX-8 A; local codes; ST/TX words).
@pytest.mark.parametrize(
    ("value_type", "value"),
    [
        ("CWE", "260373001^Detected^SCT"),
        ("ST", "POSITIVE"),
        ("TX", "Positive"),
    ],
)
def test_an_hl7_positive_hcg_as_labs_send_it_makes_her_ineligible(
    value_type: str, value: str
) -> None:
    obx = f"OBX|1|{value_type}|2106-3^hCG^LN||{value}|||A|||F|||{OBX_WHEN}"
    assert _hl7(obx).status == Status.INELIGIBLE


# A local code (v2.5.1 table 0396 "L", "99zzz") means what the sender's code list says, not
# what it spells (CWE-3 names the system of CWE-1): unread, naming the system, unless
# qualitative.yaml local_codes maps it; the OBX-8 flag beside an unread value does not decide.
@pytest.mark.parametrize(
    ("value_type", "value"),
    [("CWE", "POS^Positive^99LAB"), ("CE", "POS^Positive^L"), ("CWE", "NEG^Negative"),
     ("CWE", "^^^NEG^Negative^L")],
)
def test_an_hl7_hcg_in_local_codes_leaves_her_undetermined(value_type: str, value: str) -> None:
    obx = f"OBX|1|{value_type}|2106-3^hCG^LN||{value}|||A|||F|||{OBX_WHEN}"
    decision = _hl7(obx)
    assert outcome(decision, "E12") == Outcome.UNKNOWN
    assert decision.status == Status.UNDETERMINED


# HL7 v2.5.1 table 0085: C replaces the final result; the final re-sent afterwards with the
# correction's MSH-7 (equal versions) was read as newer and undid it (found by this review).
def test_a_final_platelet_count_re_sent_with_the_corrections_msh_7_does_not_undo_it() -> None:
    obx = "OBX|1|NM|777-3^Platelets^LN||{}|10*9/L|150-400|{}|||{}|||" + OBX_WHEN
    final = _oru("M-F", obx.format(160, "N", "F"), at="20260228100000+0000")
    corrected = _oru("M-C", obx.format(8, "LL", "C"), at="20260228110000+0000")
    resent = _oru("M-R", obx.format(160, "N", "F"), at="20260228110000+0000")
    assert outcome(decide(_bundle(), final), PLATELETS) == Outcome.PASS
    assert outcome(decide(_bundle(), final, corrected, resent), PLATELETS) == Outcome.FAIL


V3_FLAG = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


# FHIR R4 obs-6: "dataAbsentReason SHALL only be present if Observation.value[x] is not
# present". A converter that copies an analyser's error flag beside the number sends both; the
# number was read and the reason ("error") dropped silently (found by this review). Refused at
# its path: whether the value stands is unknown.
def test_a_platelet_count_sent_with_a_data_absent_reason_is_refused_at_that_reason() -> None:
    bundle = _platelet_count(180, unit="10*9/L", system=UCUM, code="10*9/L")
    bundle["entry"][-1]["resource"]["dataAbsentReason"] = {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "error"}]}
    problems = _refused(lambda: decide(bundle))
    assert any(p.startswith("Bundle.entry[") and ".dataAbsentReason:" in p and "obs-6" in p
               for p in problems)


# FHIR R4 Observation.interpretation binds to ObservationInterpretation (codes of HL7 v2 table
# 0078). A result sent as a flag alone was read from the first coding's code whatever its
# system, so a lab's own "NEG" (or a code without a system) decided a pregnancy test (found by
# this review). Only the standard systems are read; otherwise the flag-only result is unread.
@pytest.mark.parametrize(
    "coding",
    [{"system": "urn:oid:1.2.840.114350.1.13.0", "code": "NEG"}, {"code": "NEG"}],
    ids=["local-system", "no-system"],
)
def test_a_newer_hcg_flagged_neg_in_a_local_system_leaves_her_undetermined(
    coding: Json,
) -> None:
    decision = decide(_hcg(interpretation=[{"coding": [coding]}]))
    assert outcome(decision, "E12") == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


@pytest.mark.parametrize(
    ("flag", "status"), [("NEG", Status.ELIGIBLE), ("POS", Status.INELIGIBLE)]
)
def test_a_newer_hcg_flag_in_observation_interpretation_decides(flag: str, status: Status) -> None:
    decision = decide(_hcg(interpretation=[{"coding": [{"system": V3_FLAG, "code": flag}]}]))
    assert decision.status == status


# Every coding of one CodeableConcept means the same (FHIR R4): a local flag listed first no
# longer hides the standard one, and standard flags that differ are not read.
def test_an_hcg_flag_sent_locally_first_and_in_v3_second_is_read_by_the_v3_code() -> None:
    concept = {"coding": [{"system": "urn:local", "code": "NEG"},
                          {"system": V3_FLAG, "code": "POS"}]}
    assert decide(_hcg(interpretation=[concept])).status == Status.INELIGIBLE


def test_an_hcg_with_two_differing_standard_flags_leaves_her_undetermined() -> None:
    concept = {"coding": [{"system": V3_FLAG, "code": "NEG"},
                          {"system": "http://terminology.hl7.org/CodeSystem/v2-0078",
                           "code": "POS"}]}
    decision = decide(_hcg(interpretation=[concept]))
    assert outcome(decision, "E12") == Outcome.UNKNOWN


# FHIR R4 Observation.issued: "The date and time this version of the observation was made
# available to providers, typically after the results have been reviewed and verified". A
# result with no effective[x] was dated at its issued instant: a count of 180 issued on 28
# February outranked a count of 8 taken on 27 February, though it may have been collected
# before it (eligible). It was collected at some instant up to issued: judged at both ends.
def test_a_count_dated_only_by_issued_does_not_outrank_a_result_it_may_predate() -> None:
    low = _observation("plt-low", "777-3", "2026-02-27T09:00:00Z", valueQuantity={
        "value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"})
    issued = _observation("plt-issued", "777-3", "", valueQuantity={
        "value": 180, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"})
    del issued["resource"]["effectiveDateTime"]
    issued["resource"]["issued"] = "2026-02-28T10:00:00Z"
    decision = decide(_bundle(_add(low, issued)))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == PLATELETS)
    assert "777-3 issued 2026-02-28 (sent with no time it was obtained)" in reason
