"""Patient status and identity as the sources state them (FHIR R4 Patient, HL7 v2.5.1 ch. 3)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.facts import SourcePatient
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2

LOINC = "http://loinc.org"
MRN_SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


def _patient(pid: str, mrn: str | None = None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": pid, "gender": "female"}
    if mrn:
        resource["identifier"] = [{"type": MR, "system": MRN_SYSTEM, "value": mrn}]
    return resource | extra


def _platelets(oid: str, subject: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "777-3"}]},
        "subject": subject, "effectiveDateTime": "2026-02-28T09:00:00Z",
        "valueQuantity": {"value": 180, "unit": "10*9/L", "system": "http://unitsofmeasure.org",
                          "code": "10*9/L"},
    }


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:00000000-0000-0000-0000-00000000000{i}",
                       "resource": r} for i, r in enumerate(resources)]}


def test_a_patient_resource_is_named_by_its_resource_id_and_each_full_identifier() -> None:
    (update,) = parse_fhir(_patient("p-j1", "MRN-7"), source_system="ehr")
    assert update.source_patient_id == "MRN-7"
    # the MR-typed one is also named mr:, so re-identification knows who issued the MRN
    assert update.aliases == ("Patient/p-j1", f"identifier:{MRN_SYSTEM}|MRN-7",
                              f"mr:{MRN_SYSTEM}|MRN-7")


@pytest.mark.parametrize(
    "reference",
    ["Patient/p-j1", "https://ehr.example.org/fhir/Patient/p-j1",
     "https://ehr.example.org/fhir/Patient/p-j1/_history/3"],
)
def test_every_form_of_a_reference_to_one_patient_gives_the_same_name(reference: str) -> None:
    (update,) = parse_fhir(_platelets("o1", {"reference": reference}), source_system="ehr")
    assert (update.source_patient_id, update.aliases) == ("p-j1", ("Patient/p-j1",))


def test_an_absolute_reference_in_a_bundle_finds_the_patient_of_the_bundle() -> None:
    bundle = _bundle(_patient("p-j1", "MRN-7"),
                     _platelets("o1", {"reference": "https://ehr.example.org/fhir/Patient/p-j1"}))
    (update,) = parse_fhir(bundle, source_system="ehr")
    assert update.source_patient_id == "MRN-7"
    assert len(update.facts) == 1


def test_a_logical_reference_by_identifier_names_the_patient_by_that_identifier() -> None:
    subject = {"identifier": {"system": MRN_SYSTEM, "value": "MRN-7"}}
    (update,) = parse_fhir(_platelets("o1", subject), source_system="ehr")
    assert update.source_patient_id == "MRN-7"
    assert update.aliases == (f"identifier:{MRN_SYSTEM}|MRN-7",)
    (together,) = parse_fhir(_bundle(_patient("p-j1", "MRN-7"), _platelets("o2", subject)),
                             source_system="ehr")
    assert len(together.facts) == 1


def test_a_record_replaced_by_another_names_the_survivor() -> None:
    old = _patient("p-old", "MRN-1", active=False,
                   link=[{"type": "replaced-by", "other": {"reference": "Patient/p-new"}}])
    (update,) = parse_fhir(old, source_system="ehr")
    assert update.merged_into == SourcePatient(source_patient_id="p-new",
                                               aliases=("Patient/p-new",))


def test_a_survivor_in_the_same_bundle_is_named_by_its_own_identifier() -> None:
    old = _patient("p-old", "MRN-1", active=False,
                   link=[{"type": "replaced-by", "other": {"reference": "Patient/p-new"}}])
    updates = parse_fhir(_bundle(old, _patient("p-new", "MRN-2")), source_system="ehr")
    merged = next(u for u in updates if u.source_patient_id == "MRN-1")
    assert merged.merged_into is not None
    assert merged.merged_into.source_patient_id == "MRN-2"


def test_a_replaced_by_link_on_an_active_record_is_refused() -> None:
    old = _patient("p-old", active=True,
                   link=[{"type": "replaced-by", "other": {"reference": "Patient/p-new"}}])
    with pytest.raises(InvalidInput, match=r"Patient\.active: a record replaced by another"):
        parse_fhir(old, source_system="ehr")


def test_a_seealso_link_is_not_a_merge() -> None:
    linked = _patient("p-a", link=[{"type": "seealso", "other": {"reference": "Patient/p-b"}}])
    (update,) = parse_fhir(linked, source_system="ehr")
    assert update.merged_into is None


@pytest.mark.parametrize(
    ("deceased", "expected"),
    [({"deceasedBoolean": True}, True), ({"deceasedDateTime": "2026-02-28T10:00:00Z"}, True),
     ({"deceasedBoolean": False}, False), ({}, None)],
)
def test_fhir_deceased_sets_the_demographics(deceased: dict[str, Any], expected: bool) -> None:
    (update,) = parse_fhir(_patient("p-1", **deceased), source_system="ehr")
    assert update.demographics is not None
    assert update.demographics.deceased is expected


def _oru(pid_29: str = "", pid_30: str = "") -> str:
    pid = ["PID", "1", "", "MRN-0042^^^CITY^MR", "", "Roe^Jane", "", "19900412", "F"]
    pid += [""] * (29 - len(pid)) + [pid_29, pid_30]
    return "\r".join([
        "MSH|^~\\&|LIS|CITY-LAB|TW|TW|20261128090000+0000||ORU^R01|MSG-1|P|2.5.1",
        "|".join(pid),
        "OBR|1|||58410-2^CBC^LN|||20261128080000+0000",
        "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20261128080000+0000",
    ])


@pytest.mark.parametrize(
    ("pid_29", "pid_30", "expected"),
    [("", "Y", True), ("20261127120000+0000", "", True), ("20261127120000+0000", "Y", True),
     ("", "N", False), ("", "", None)],
)
def test_hl7_pid_29_and_30_set_the_deceased_flag(
    pid_29: str, pid_30: str, expected: bool | None
) -> None:
    (update,) = parse_hl7v2(_oru(pid_29, pid_30))
    assert update.demographics is not None
    assert update.demographics.deceased is expected


@pytest.mark.parametrize(
    ("pid_29", "pid_30", "problem"),
    [("", "X", "PID[1].30: death indicator 'X' is not Y or N"),
     ("20261127120000+0000", "N", "PID[1].30: death indicator N contradicts the death date"),
     ("yesterday", "Y", "PID[1].29: not an HL7 v2 timestamp")],
)
def test_an_unreadable_or_contradictory_death_is_refused_with_its_field(
    pid_29: str, pid_30: str, problem: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_hl7v2(_oru(pid_29, pid_30))
    assert any(str(p).startswith(problem) for p in caught.value.problems), caught.value


A40 = "\r".join([
    "MSH|^~\\&|ADT|CITY-HOSP|TW|TW|20261128090000+0000||ADT^A40^ADT_A39|MSG-9|P|2.5.1",
    "EVN|A40|20261128090000+0000",
    "PID|1||MRN-0042^^^CITY^MR||Roe^Jane||19900412|F",
    "MRG|MRN-0007^^^CITY^MR",
])


def test_an_adt_a40_merges_the_prior_identifier_into_the_pid_patient() -> None:
    survivor, merged = parse_hl7v2(A40)
    assert survivor.source_patient_id == "MRN-0042"
    assert survivor.merged_into is None
    assert merged.source_patient_id == "MRN-0007"
    assert merged.merged_into == SourcePatient(source_patient_id="MRN-0042")
    assert merged.facts == ()


def test_an_adt_a40_without_a_prior_identifier_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"MRG\.1: MRG-1 names no prior patient identifier"):
        parse_hl7v2(A40.replace("MRG|MRN-0007^^^CITY^MR", "MRG|"))


def test_a_survivor_that_replaces_a_record_merges_that_record_into_itself() -> None:
    survivor = _patient("p-new", "MRN-2",
                        link=[{"type": "replaces", "other": {"reference": "Patient/p-old"}}])
    updates = parse_fhir(survivor, source_system="ehr")
    [merged] = [u for u in updates if u.merged_into is not None]
    assert merged.source_patient_id == "p-old"
    assert merged.aliases == ("Patient/p-old",)
    assert merged.merged_into == SourcePatient(
        source_patient_id="MRN-2", aliases=("Patient/p-new", f"identifier:{MRN_SYSTEM}|MRN-2",
                                            f"mr:{MRN_SYSTEM}|MRN-2"))


def test_both_sides_of_one_merge_in_a_bundle_agree_and_name_one_survivor() -> None:
    old = _patient("p-old", "MRN-1", active=False,
                   link=[{"type": "replaced-by", "other": {"reference": "Patient/p-new"}}])
    new = _patient("p-new", "MRN-2",
                   link=[{"type": "replaces", "other": {"reference": "Patient/p-old"}}])
    updates = parse_fhir(_bundle(old, new), source_system="ehr")
    assert [(u.source_patient_id, u.merged_into is not None) for u in updates] == [
        ("MRN-1", True), ("MRN-2", False)]


def test_a_replaces_link_contradicting_the_replaced_records_own_link_is_refused() -> None:
    old = _patient("p-old", "MRN-1", active=False,
                   link=[{"type": "replaced-by", "other": {"reference": "Patient/p-third"}}])
    new = _patient("p-new", "MRN-2",
                   link=[{"type": "replaces", "other": {"reference": "Patient/p-old"}}])
    with pytest.raises(InvalidInput, match="names another survivor"):
        parse_fhir(_bundle(old, new), source_system="ehr")
