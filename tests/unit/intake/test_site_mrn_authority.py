"""Intake's ``INTAKE_MRN_ASSIGNING_AUTHORITY``: the setting reaches the normaliser for both
formats, and the receipt names the other facilities' record numbers not used by authority,
never by value (identifiers never leave intake). HL7 v2.5.1 3.4.2.3 PID-3 (CX-4, CX-5 table
0203 MR); FHIR R4 Patient.identifier (Identifier.system, type v2-0203 MR)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from services.intake.core.accept import Submission, prepare
from services.intake.core.media import MediaType
from services.intake.core.refusals import InvalidClinicalInput
from shared.settings import IntakeSettings
from tests.unit.intake.conftest import NOW

HL7 = MediaType("hl7v2", "utf-8")
FHIR = MediaType("fhir-r4", "utf-8")
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
SITE = IntakeSettings(mrn_assigning_authority=" CITY , urn:oid:1.2.4 ").mrn_authority()

HIE_ORU = "\r".join([
    "MSH|^~\\&|HIE|REGION|TW|TW|20261128090000+0000||ORU^R01^ORU_R01|H-1|P|2.5.1",
    "PID|1||X-1^^^OTHER^MR~MRN-7^^^CITY^MR||Roe^Jane||19900412|F",
    "OBR|1|PLC-1|FIL-1|58410-2^CBC panel^LN|||20261128073000+0000",
    "OBX|1|NM|777-3^Platelets^LN||8|10*9/L|150-400||||F|||20261128073000+0000",
]) + "\r"
HIE_BUNDLE = {"resourceType": "Bundle", "type": "collection", "entry": [{
    "fullUrl": "urn:uuid:p", "resource": {
        "resourceType": "Patient", "id": "p", "gender": "female", "identifier": [
            {"type": MR, "system": "urn:oid:1.2.3", "value": "X-1"},
            {"type": MR, "system": "urn:oid:1.2.4", "value": "MRN-7"}]}}]}


def _submission(body: bytes, media: MediaType, site: frozenset[str]) -> Submission:
    return Submission(body=body, media=media, client="hie", received_at=NOW,
                      site_mrn_authority=site)


def test_the_setting_is_read_as_a_set_of_names_and_unset_is_empty() -> None:
    assert frozenset({"CITY", "urn:oid:1.2.4"}) == SITE
    assert IntakeSettings().mrn_authority() == frozenset()


@pytest.mark.parametrize("value", ["CITY^X", "CITY X", "CITY&1.2&ISO"])
def test_a_name_no_authority_has_is_refused_at_start_up(value: str) -> None:
    with pytest.raises(ValidationError, match="MRN assigning authority name 1"):
        IntakeSettings(mrn_assigning_authority=value)


@pytest.mark.parametrize(("body", "media", "where"), [
    (HIE_ORU.encode(), HL7, "PID[1]"),
    (json.dumps(HIE_BUNDLE).encode(), FHIR, "Bundle.entry[0]"),
])
def test_with_the_setting_the_sites_number_is_filed_and_the_receipt_names_the_other(
    body: bytes, media: MediaType, where: str,
) -> None:
    prepared = prepare(_submission(body, media, SITE))
    [update] = prepared.normalised.updates
    assert update.source_patient_id == "MRN-7"
    [entry] = [e for e in prepared.normalised.entries if e.path == where]
    assert entry.outcome == "accepted"
    [note] = entry.warnings
    assert note.path.startswith(where)
    assert "not used" in note.reason
    assert "X-1" not in note.reason
    assert "MRN-7" not in note.reason


@pytest.mark.parametrize(("body", "media"), [
    (HIE_ORU.encode(), HL7), (json.dumps(HIE_BUNDLE).encode(), FHIR)])
def test_without_the_setting_two_numbers_are_refused_as_before(
    body: bytes, media: MediaType,
) -> None:
    with pytest.raises(InvalidClinicalInput) as refused:
        prepare(_submission(body, media, frozenset()))
    assert any("2 different medical record numbers" in p.reason
               for p in refused.value.problems)


@pytest.mark.parametrize(("body", "media", "path"), [
    (HIE_ORU.encode(), HL7, "PID[1].3"),
    (json.dumps(HIE_BUNDLE).encode(), FHIR, "Bundle.entry[0].resource.identifier")])
def test_with_another_sites_authority_configured_neither_number_is_taken(
    body: bytes, media: MediaType, path: str,
) -> None:
    with pytest.raises(InvalidClinicalInput) as refused:
        prepare(_submission(body, media, frozenset({"ELSEWHERE"})))
    assert [p.path for p in refused.value.problems] == [path]
    assert "no medical record number under this site's" in refused.value.problems[0].reason


@pytest.mark.parametrize(("body", "media", "path"), [
    (HIE_ORU.encode(), HL7, "PID[1].3"),
    (json.dumps(HIE_BUNDLE).encode(), FHIR, "Bundle.entry[0].resource.identifier")])
def test_the_receipts_own_warnings_name_the_numbers_not_used_too(
    body: bytes, media: MediaType, path: str,
) -> None:
    """``Receipt.warnings`` lists every element read with a warning, whatever the format
    (services/intake/core/receipts.py): the identifier list read without some of its numbers
    is one, beside its entry's warnings."""
    prepared = prepare(_submission(body, media, SITE))
    [note] = [n for n in prepared.normalised.warnings if "not used" in n.reason]
    assert note.path == path
    assert "X-1" not in note.reason
