"""This site's own MRN assigning authority (``INTAKE_MRN_ASSIGNING_AUTHORITY``) decides which of
a patient's medical record numbers is the patient's (``shared.clinical.record_numbers``).

HL7 v2.5.1 3.4.2.3: PID-3 repeats one CX per identifier, CX-4 its assigning authority (HD,
2A.3.33: namespace id & universal id & universal id type), CX-5 its type (table 0203 ``MR``).
FHIR R4 Patient.identifier 0..*: Identifier.system is "the namespace for the identifier value",
Identifier.type v2-0203 ``MR``. An HIE relays each facility's MRN; without the setting two
different MR values are refused (tests/unit/clinical/test_several_record_numbers.py). With it,
the MR value under the site's authority is the patient's, the others are named (by authority,
never by value) as not used, and a patient with none under it is refused, never filed under
another facility's number or the resource id.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.fhir import normalise_fhir, parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2, read_hl7v2
from tests.unit.test_real_feed_examples import _problems

MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
SITE = frozenset({"TEST-EHR", "urn:oid:1.2.4"})


def _oru(pid_3: str) -> str:
    return "\r".join([
        "MSH|^~\\&|LAB|CITY-LAB|TW|TW|20260228100000+0000||ORU^R01^ORU_R01|C-1|P|2.5.1",
        f"PID|1||{pid_3}||Doe^Jane||19900101|F",
        "OBR|1|ORD-9|FIL-9|57021-8^CBC^LN|||20260228080000+0000",
        "OBX|1|NM|777-3^Platelets^LN||8|10*9/L|150-400||||F|||20260228080000+0000",
    ]) + "\r"


@pytest.mark.parametrize("pid_3", [
    "X-1^^^OTHER^MR~vignette^^^TEST-EHR^MR",  # HD namespace id
    "vignette^^^TEST-EHR^MR~X-1^^^OTHER^MR",  # either order
    "X-1^^^OTHER&1.2.3&ISO^MR~vignette^^^&1.2.4&ISO^MR",  # HD universal id (ISO OID) only
    "X-1^^^OTHER^MR~vignette^^^TEST-EHR^MR~123-45-6789^^^SSA^SS",  # an SS beside
])
def test_the_mr_number_under_the_sites_authority_is_the_patients(pid_3: str) -> None:
    read = read_hl7v2(_oru(pid_3), source_system="test-lab", site_mrn_authority=SITE)
    [update] = read.updates
    assert update.source_patient_id == "vignette"
    [note] = read.notes
    assert note.path == "PID[1].3"
    assert "OTHER" in note.reason
    assert "not used" in note.reason
    assert "X-1" not in note.reason
    assert "vignette" not in note.reason


def test_one_number_under_the_sites_authority_alone_has_no_warning() -> None:
    read = read_hl7v2(_oru("vignette^^^TEST-EHR^MR"), source_system="test-lab",
                      site_mrn_authority=SITE)
    assert [u.source_patient_id for u in read.updates] == ["vignette"]
    assert read.notes == ()


@pytest.mark.parametrize("pid_3", [
    "X-1^^^OTHER^MR",  # one MRN, another facility's
    "X-1^^^OTHER^MR~X-2^^^ELSEWHERE&1.2.9&ISO^MR",
    "vignette^^^^MR",  # no assigning authority: not shown to be this site's
    "vignette",  # untyped: PID-3 without CX-5 names no MRN
    "123-45-6789^^^SSA^SS",
])
def test_no_mr_number_under_the_sites_authority_is_refused_at_pid_3(pid_3: str) -> None:
    problems = _problems(lambda: parse_hl7v2(_oru(pid_3), source_system="test-lab",
                                             site_mrn_authority=SITE))
    assert any(p.startswith("PID[1].3") and "no medical record number under this site's"
               " assigning authority" in p for p in problems), problems
    assert not any("X-1" in p or "X-2" in p or "vignette" in p or "6789" in p
                   for p in problems), problems


def test_two_different_numbers_under_the_sites_authority_are_refused_at_pid_3() -> None:
    problems = _problems(lambda: parse_hl7v2(
        _oru("A-1^^^TEST-EHR^MR~A-2^^^TEST-EHR&1.2.4&ISO^MR"), source_system="test-lab",
        site_mrn_authority=SITE))
    assert any(p.startswith("PID[1].3") and "2 different medical record numbers under this"
               " site's" in p and "A-1" not in p for p in problems), problems


def test_unset_two_different_numbers_are_still_refused() -> None:
    problems = _problems(lambda: parse_hl7v2(
        _oru("X-1^^^OTHER^MR~vignette^^^TEST-EHR^MR"), source_system="test-lab"))
    assert any(p.startswith("PID[1].3") for p in problems), problems


def _merge(pid_3: str, mrg_1: str) -> str:
    return "\r".join([
        "MSH|^~\\&|ADT|CITY|TW|TW|20260228100000+0000||ADT^A40^ADT_A39|M-1|P|2.5.1",
        "EVN|A40|20260228100000+0000",
        f"PID|1||{pid_3}||Doe^Jane||19900101|F",
        f"MRG|{mrg_1}",
    ]) + "\r"


def test_a_merge_takes_the_prior_number_under_the_sites_authority() -> None:
    updates = parse_hl7v2(_merge("vignette^^^TEST-EHR^MR~X-1^^^OTHER^MR",
                                 "X-0^^^OTHER^MR~old^^^TEST-EHR^MR"),
                          source_system="test-adt", site_mrn_authority=SITE)
    merged = [u for u in updates if u.merged_into is not None]
    assert [(u.source_patient_id, u.merged_into.source_patient_id) for u in merged
            if u.merged_into is not None] == [("old", "vignette")]


def _fhir(*identifiers: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:p", "resource": {
            "resourceType": "Patient", "id": "p", "identifier": list(identifiers),
            "birthDate": "1990-01-01", "gender": "female"}},
    ]}


def test_a_fhir_patient_is_its_mr_identifier_under_the_sites_system() -> None:
    result = normalise_fhir(_fhir(
        {"type": MR, "system": "urn:oid:1.2.3", "value": "X-1"},
        {"type": MR, "system": "urn:oid:1.2.4", "value": "vignette"},
        {"system": "http://hl7.org/fhir/sid/us-ssn", "value": "123-45-6789"},
    ), source_system="test-ehr", site_mrn_authority=SITE)
    [update] = result.updates
    assert update.source_patient_id == "vignette"
    [entry] = result.entries
    [note] = entry.warnings
    assert note.path == "Bundle.entry[0].resource.identifier"
    assert "urn:oid:1.2.3" in note.reason
    assert "not used" in note.reason
    assert "X-1" not in note.reason
    assert "vignette" not in note.reason


@pytest.mark.parametrize("identifiers", [
    [{"type": MR, "system": "urn:oid:1.2.3", "value": "X-1"}],
    [{"type": MR, "value": "X-1"}],  # no system: not shown to be this site's
    [{"system": "urn:oid:1.2.4", "value": "vignette"}],  # not typed MR
    [],  # Patient.id "p" is the sender's resource id, not this site's number
])
def test_a_fhir_patient_with_no_mr_identifier_under_the_sites_system_is_refused(
    identifiers: list[dict[str, Any]],
) -> None:
    problems = _problems(lambda: parse_fhir(_fhir(*identifiers), source_system="test-ehr",
                                            site_mrn_authority=SITE))
    assert any(p.startswith("Bundle.entry[0].resource.identifier")
               and "no medical record number under this site's" in p for p in problems), problems
    assert not any("X-1" in p or "vignette" in p for p in problems), problems


def test_two_different_fhir_mr_identifiers_under_the_sites_system_are_refused() -> None:
    problems = _problems(lambda: parse_fhir(_fhir(
        {"type": MR, "system": "urn:oid:1.2.4", "value": "A-1"},
        {"type": MR, "system": "urn:oid:1.2.4", "value": "A-2"},
    ), source_system="test-ehr", site_mrn_authority=SITE))
    assert any(p.startswith("Bundle.entry[0].resource.identifier")
               and "2 different medical record numbers" in p for p in problems), problems


def test_other_facilities_numbers_are_kept_to_match_references_never_as_record_numbers() -> None:
    """Re-identification names only the medical record numbers (``mr:`` names, intake's
    ``source_identity``: minimum necessary). With the site's authority set, another facility's
    MR is not this patient's record number here: it stays an ``identifier:`` name (a reference
    written with it still finds her) and never becomes an ``mr:`` one."""
    [update] = parse_fhir(_fhir(
        {"type": MR, "system": "urn:oid:1.2.3", "value": "X-1"},
        {"type": MR, "system": "urn:oid:1.2.4", "value": "vignette"},
    ), source_system="test-ehr", site_mrn_authority=SITE)
    assert "identifier:urn:oid:1.2.3|X-1" in update.aliases
    assert "mr:urn:oid:1.2.3|X-1" not in update.aliases
    assert "mr:urn:oid:1.2.4|vignette" in update.aliases
