"""Real lab and EHR feed shapes the normaliser already reads, refuses or keeps unread correctly.

Found by the ``probe`` review (notes: /work/notes/probe.md): each shape is built as the cited
public sender, converter or report writes it, and is run through ``parse_hl7v2`` /
``parse_fhir`` and, where a criterion reads it, end to end through the engine against
NCT06920433 with the eligible vignette (as of 2026-03-01T09:00:00Z,
``tests/unit/test_real_feed_examples``). Only shapes that no earlier test covered are here; the
shapes the review found read wrongly are in the notes, not here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.facts import PatientUpdate
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.test_real_feed_examples import (
    AS_OF,
    SNOMED,
    UCUM,
    Json,
    _add,
    _bundle,
    _msh,
    _observation,
    _oru,
    decide,
    outcome,
)

PLATELETS = "I6.1"  # bone marrow function: platelets >= 20e9/L (NCT06920433)
LIVER = "I6.2"  # ALT and AST <= 3 x ULN
OBX_WHEN = "20260228080000+0000"
WHEN = "2026-02-28T09:00:00Z"
PID = "PID|1||vignette^^^TEST-EHR^MR||Doe^Jane||19900101|F"
CBC = "OBR|1|ORD-9|FIL-9|57021-8^CBC^LN|||20260228080000+0000"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _platelet_obx(value_type: str, value: str) -> str:
    return f"OBX|1|{value_type}|777-3^Platelets^LN||{value}|10*9/L|150-400|L|||F|||{OBX_WHEN}"


def _refused(call: Any) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        call()
    return [str(problem) for problem in refused.value.problems]


def _decide_for(patient_id: str, bundle: Json, *messages: str) -> Decision:
    """The decision for one patient: only the updates keyed to ``patient_id`` are applied."""
    updates: list[PatientUpdate] = parse_fhir(bundle, source_system="test-ehr")
    for text in messages:
        updates += parse_hl7v2(text, source_system="test-lab")
    mine = [u for u in updates if u.source_patient_id == patient_id]
    return evaluate(load_trial("NCT06920433"), facts_from_updates(mine), AS_OF)


# --- HL7 v2 numbers --------------------------------------------------------------------------

# HL7 v2.5.1 2A.3.47 NM: "a number represented as a series of ASCII numeric characters
# consisting of an optional leading sign (+ or -), the digits and an optional decimal point".
@pytest.mark.parametrize(("sent", "read"), [("+8", 8.0), (".8", 0.8), ("8.", 8.0)])
def test_an_nm_with_a_leading_sign_or_a_bare_decimal_point_is_read(sent: str, read: float) -> None:
    (update,) = parse_hl7v2(_oru("M-NM", _platelet_obx("NM", sent)), source_system="test-lab")
    (fact,) = update.facts
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == read
    assert outcome(decide(_bundle(), _oru("M-NM", _platelet_obx("NM", sent))),
                   PLATELETS) == Outcome.FAIL


# The same NM grammar has no exponent, no digit separator and no infinities: Python's float()
# reads "8e2" as 800, "1_000" as 1000 and "Infinity" as inf, which no lab means by an NM. The
# newer platelet count is kept unread at OBX-5; the older 180 never decides in its place.
@pytest.mark.parametrize("sent", ["8e2", "8.0E+1", "1_000", "Infinity", "NaN"])
def test_an_nm_written_as_a_float_literal_keeps_the_count_unread(sent: str) -> None:
    (update,) = parse_hl7v2(_oru("M-NM", _platelet_obx("NM", sent)), source_system="test-lab")
    (fact,) = update.facts
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].5"
    decision = decide(_bundle(), _oru("M-NM", _platelet_obx("NM", sent)))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


# HL7 v2.5.1 7.4.2.5: OBX-5 repeats only "for multipart, single answer results"; a numeric
# result sent twice in one OBX ("8~180", a sender joining a re-run) has no one value. Unread in
# either order, never its first or last repetition.
@pytest.mark.parametrize("sent", ["8~180", "180~8"])
def test_a_numeric_result_sent_in_two_repetitions_leaves_the_count_unknown(sent: str) -> None:
    decision = decide(_bundle(), _oru("M-REP", _platelet_obx("NM", sent)))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


# HL7 v2.5.1 2A.3.70 SN: a range is "<num1> - <num2>" with both numbers (HL7/v2-to-fhir#51 on
# SN separators). A half-open "^10^-^" or "^^-^20" names no range: unread, not 10 or 20.
@pytest.mark.parametrize("sent", ["^10^-^", "^^-^20"])
def test_an_sn_range_missing_one_end_leaves_the_count_unknown(sent: str) -> None:
    decision = decide(_bundle(), _oru("M-SN", _platelet_obx("SN", sent)))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


# --- HL7 v2 message structure ----------------------------------------------------------------

# HL7 v2.5.1 2.5.4 and 2.14.9.1-2: MSH-1 is the field separator and MSH-2 the component,
# repetition, escape and subcomponent characters the sender chose; "|^~\&" are only the
# recommended ones. A message written with "#" and "$" is read with them.
def test_a_message_with_its_own_field_and_component_separators_is_read_with_them() -> None:
    segments = [
        "MSH#$~\\&#LAB#CITY-LAB#TW#TW#20260228100000+0000##ORU$R01$ORU_R01#M-SEP#P#2.5.1",
        "PID#1##vignette$$$TEST-EHR$MR##Doe$Jane##19900101#F",
        "OBR#1#ORD-9#FIL-9#57021-8$CBC$LN###20260228080000+0000",
        f"OBX#1#NM#777-3$Platelets$LN##8#10*9/L#150-400#L###F###{OBX_WHEN}",
    ]
    text = "\r".join(segments) + "\r"
    (update,) = parse_hl7v2(text, source_system="test-lab")
    assert update.source_patient_id == "vignette"
    (fact,) = update.facts
    assert fact.codes[0].code == "777-3"
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 8.0
    assert outcome(decide(_bundle(), text), PLATELETS) == Outcome.FAIL


# HL7 v2.5.1 ORU_R01 (7.3.1): the PATIENT_RESULT group repeats, so one message may carry
# several patients ("the HL7 standard allows multiple patient results in one message",
# IHE/DEV.SDPi#34). Each result belongs to the PID of its own group: another patient's low
# platelet count never reaches her record, and her own normal count decides.
def test_each_patient_result_group_of_one_message_is_keyed_to_its_own_pid() -> None:
    text = "\r".join([
        _msh("M-TWO"),
        PID, CBC, f"OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||{OBX_WHEN}",
        "PID|1||other-7^^^TEST-EHR^MR||Roe^Ann||19800101|F",
        "OBR|1|ORD-10|FIL-10|57021-8^CBC^LN|||20260228080000+0000",
        f"OBX|1|NM|777-3^Platelets^LN||8|10*9/L|150-400|LL|||F|||{OBX_WHEN}",
    ]) + "\r"
    updates = parse_hl7v2(text, source_system="test-lab")
    counts = {
        u.source_patient_id: [f.value_quantity.value for f in u.facts if f.value_quantity]
        for u in updates
    }
    assert counts == {"vignette": [180.0], "other-7": [8.0]}
    assert _decide_for("vignette", _bundle(), text).status == Status.ELIGIBLE


# HL7 v2.5.1 2.14.9.18 MSH-18 takes table 0211 values ("8859/1", "UNICODE UTF-8"). Real
# senders write "UTF-8" (nHapiNET/nHapi#90: "...|CHN|UTF-8") and "8859" (the MOLIS message of
# nHapiNET/nHapi#58): neither names a set of the table, so the bytes are not guessed at and
# the message is refused at MSH.18.
@pytest.mark.parametrize(("charset", "encoding"), [("UTF-8", "utf-8"), ("8859", "latin-1")])
def test_a_character_set_outside_table_0211_is_refused_at_msh_18(
    charset: str, encoding: str
) -> None:
    msh = ("MSH|^~\\&|LAB|CITY-LAB|TW|TW|20260228100000+0000||ORU^R01^ORU_R01|M-CS|P|2.5.1"
           f"||||||{charset}")
    text = "\r".join([msh, PID, CBC, _platelet_obx("NM", "8"), "NTE|1||Hämolyse"]) + "\r"
    problems = _refused(lambda: parse_hl7v2(text.encode(encoding), source_system="test-lab"))
    assert any(p.startswith("MSH.18") and "table 0211" in p for p in problems), problems


# --- HL7 v2 reference ranges -----------------------------------------------------------------

# HL7 v2.5.1 7.4.2.7 OBX-7 "< upper limit" (LinuxForHealth/hl7v2-fhir-converter#516: OBX-7
# ">5" written as a high limit by a converter). "<35" and "<=35" give the lab's own ULN of 35
# U/L, which decides over the site default: ALT 110 U/L is more than 3 x 35.
@pytest.mark.parametrize("reference_range", ["<35", "<=35", "0-35"])
def test_an_obx_7_upper_limit_is_the_uln_the_alt_is_judged_against(reference_range: str) -> None:
    obr = "OBR|1|ORD-9|FIL-9|24325-3^Hepatic function panel^LN|||20260228080000+0000"
    obx = f"OBX|1|NM|1742-6^ALT^LN||110|U/L|{reference_range}|H|||F|||{OBX_WHEN}"
    decision = decide(_bundle(), _oru("M-ALT", obx, obr=obr))
    assert outcome(decision, LIVER) == Outcome.FAIL
    reason = next(r.reason for r in decision.criteria if r.id == LIVER)
    assert "3 x ULN 35 U/L, result reference range" in reason


# --- FHIR R4 Observation ---------------------------------------------------------------------

# FHIR R4 Observation.effective[x] includes instant (converters of device and lab feeds write
# effectiveInstant with milliseconds): read as that instant.
def test_a_platelet_count_dated_by_effective_instant_is_read() -> None:
    entry = _observation("plt-inst", "777-3", WHEN, valueQuantity={
        "value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"})
    del entry["resource"]["effectiveDateTime"]
    entry["resource"]["effectiveInstant"] = "2026-02-28T09:00:00.000+00:00"
    assert outcome(decide(_bundle(_add(entry))), PLATELETS) == Outcome.FAIL


# FHIR R4 Observation.subject is Reference(Patient | Group | Device | Location): a result about
# a Group is no patient's result and is refused at its path, never filed under a patient.
def test_an_observation_about_a_group_is_refused_at_its_subject() -> None:
    entry = _observation("plt-group", "777-3", WHEN, valueQuantity={
        "value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"})
    entry["resource"]["subject"] = {"reference": "Group/ward-3"}
    problems = _refused(lambda: parse_fhir(_bundle(_add(entry)), source_system="test-ehr"))
    assert any(".subject.reference" in p and "Group/ward-3" in p for p in problems), problems


# --- FHIR R4 Condition -----------------------------------------------------------------------

def _condition(condition_id: str, **fields: Any) -> Json:
    return {
        "fullUrl": f"urn:uuid:{condition_id}",
        "resource": {"resourceType": "Condition", "id": condition_id,
                     "subject": {"reference": "Patient/vignette"}, **fields},
        "request": {"method": "PUT", "url": f"Condition/{condition_id}"},
    }


# FHIR R4 terminologies-systems: "the URI SHALL be used" in Coding.system; ICD-10-CM is
# http://hl7.org/fhir/sid/icd-10-cm, its OID 2.16.840.1.113883.6.90 is the CDA/v2 form that
# converters copy across (masslight/ottehr#8593 deprecating a wrong ICD-10 system URL). An
# ESRD diagnosis so coded is refused at the system, never matched or dropped.
def test_an_icd_10_cm_code_under_its_oid_is_refused_at_the_coding_system() -> None:
    entry = _condition(
        "esrd-oid",
        clinicalStatus={"coding": [{"system": CLINICAL, "code": "active"}]},
        code={"coding": [{"system": "urn:oid:2.16.840.1.113883.6.90", "code": "N18.6"}]},
    )
    problems = _refused(lambda: parse_fhir(_bundle(_add(entry)), source_system="test-ehr"))
    assert any(".code.coding[0].system" in p and "icd-10-cm" in p for p in problems), problems


# FHIR R4 Condition.clinicalStatus is bound (required) to
# http://terminology.hl7.org/CodeSystem/condition-clinical; STU3 senders still write the old
# http://hl7.org/fhir/condition-clinical. Refused at clinicalStatus, not read as active.
def test_a_clinical_status_in_the_stu3_system_is_refused_at_clinical_status() -> None:
    entry = _condition(
        "esrd-stu3",
        clinicalStatus={"coding": [{"system": "http://hl7.org/fhir/condition-clinical",
                                    "code": "active"}]},
        code={"coding": [{"system": SNOMED, "code": "46177005"}]},
    )
    problems = _refused(lambda: parse_fhir(_bundle(_add(entry)), source_system="test-ehr"))
    assert any(p.startswith("Bundle.entry[") and ".clinicalStatus:" in p for p in problems), \
        problems


# FHIR STU3 Condition had abatementBoolean; R4 Condition.abatement[x] is dateTime, Age,
# Period, Range or string only. An STU3 element in an R4 resource is refused at its path.
def test_an_stu3_abatement_boolean_is_refused_at_its_path() -> None:
    entry = _condition(
        "esrd-abated",
        clinicalStatus={"coding": [{"system": CLINICAL, "code": "active"}]},
        code={"coding": [{"system": SNOMED, "code": "46177005"}]},
        abatementBoolean=True,
    )
    problems = _refused(lambda: parse_fhir(_bundle(_add(entry)), source_system="test-ehr"))
    assert any(".abatementBoolean" in p for p in problems), problems


# FHIR R4 Condition.onset[x] string ("since childhood"): no time is read, with a note; an
# active end-stage renal disease still excludes (E7 reads active conditions, not onsets).
def test_an_active_esrd_with_an_onset_string_excludes_with_a_note() -> None:
    entry = _condition(
        "esrd-onset",
        clinicalStatus={"coding": [{"system": CLINICAL, "code": "active"}]},
        code={"coding": [{"system": SNOMED, "code": "46177005"}]},
        onsetString="since childhood",
    )
    bundle = _bundle(_add(entry))
    facts = [f for u in parse_fhir(bundle, source_system="test-ehr") for f in u.facts
             if f.provenance.resource.endswith("esrd-onset")]
    assert [n.path.rsplit(".", 1)[-1] for n in facts[0].notes] == ["onsetString"]
    decision = decide(bundle)
    assert outcome(decision, "E7") == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


# --- FHIR R4 medications ---------------------------------------------------------------------

def _rituximab(resource_type: str, **fields: Any) -> Json:
    return {
        "fullUrl": f"urn:uuid:rtx-{resource_type}",
        "resource": {"resourceType": resource_type, "id": f"rtx-{resource_type}",
                     "subject": {"reference": "Patient/vignette"},
                     "medicationCodeableConcept": {
                         "coding": [{"system": RXNORM, "code": "121191"}]},
                     **fields},
        "request": {"method": "PUT", "url": f"{resource_type}/rtx-{resource_type}"},
    }


# FHIR R4 medication-statement-status "not-taken" ("the medication was not consumed by the
# patient") and medicationrequest-status "draft" ("not yet actionable"): no exposure, so no
# rituximab washout (E11) follows from them; the same rituximab taken 8 days ago excludes.
@pytest.mark.parametrize(
    ("entry", "status"),
    [
        (_rituximab("MedicationStatement", status="not-taken",
                    effectiveDateTime="2026-02-20T09:00:00Z"), Status.ELIGIBLE),
        (_rituximab("MedicationRequest", status="draft", intent="order",
                    authoredOn="2026-02-20T09:00:00Z"), Status.ELIGIBLE),
        (_rituximab("MedicationStatement", status="completed",
                    effectiveDateTime="2026-02-20T09:00:00Z"), Status.INELIGIBLE),
    ],
    ids=["statement-not-taken", "request-draft", "statement-completed"],
)
def test_rituximab_not_taken_or_only_drafted_is_no_exposure(entry: Json, status: Status) -> None:
    decision = decide(_bundle(_add(entry)))
    assert decision.status == status
    assert outcome(decision, "E11") == (Outcome.PASS if status == Status.ELIGIBLE
                                        else Outcome.FAIL)



# FHIR R4 JSON: a decimal is a JSON number, whose grammar allows an exponent
# (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?); serialisers of float fields write "2.5E1".
# Read exactly, as 25 (a platelet count that meets >= 20), never as 2.5.
def test_a_quantity_value_with_an_exponent_is_read_as_its_number() -> None:
    entry = _observation("plt-exp", "777-3", WHEN, valueQuantity={
        "value": 0, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"})
    text = json.dumps(_bundle(_add(entry))).replace(
        '"value": 0, "unit": "10*9/L"', '"value": 2.5E1, "unit": "10*9/L"')
    assert '"value": 2.5E1' in text
    updates = parse_fhir(text, source_system="test-ehr")
    (fact,) = [f for u in updates for f in u.facts if f.provenance.resource.endswith("plt-exp")]
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 25
    decision = evaluate(load_trial("NCT06920433"), facts_from_updates(updates), AS_OF)
    assert outcome(decision, PLATELETS) == Outcome.PASS
