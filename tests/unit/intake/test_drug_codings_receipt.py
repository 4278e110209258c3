"""The 202 receipt says when a medication's codings name different drugs (fidelity, 47ff542d).

FHIR R4 CodeableConcept.coding (datatypes 2.24.0.12: the codings represent the same concept)
and HL7 v2.5.1 2A.3.13 CWE (RXE-2, RXA-5: components 4-6 "an alternate code for the same
concept"). A sender coding one medication RxNorm 8640 (prednisone) and 979092
(hydroxychloroquine 200 MG Oral Tablet) has said two things at once; the engine keeps such a
medication unread (``shared.eligibility.index.drugs_disagree``: NCT06920433 I2, E11 unknown).
Before, intake's receipt said nothing, so the sender believed the record was read. Now the
receipt (and the entry's warnings) carry the engine's own note at the element coding the drug
(``Bundle.entry[n].resource.medicationCodeableConcept``, ``RXE[n].2``, ``RXA[n].5``), naming the
codes (codes are not PHI) and saying the medication will not be read. Core with the real
adapter on the shipped tables (``TrialFileCodes``), and the HTTP app.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.intake.adapters.http.api import IntakeRuntime, create_api
from services.intake.adapters.trial_codes import TrialFileCodes
from services.intake.core.accept import Submission, accept
from services.intake.core.media import MediaType
from services.intake.core.receipts import Receipt
from shared.clinical.fhir import parse_fhir
from shared.eligibility.index import drugs_disagree, readable_codes
from shared.eligibility.reference_tables import load_tables
from shared.infra.auth import Principal, Role, TokenRegistry
from shared.settings import IntakeSettings
from tests.unit.intake.conftest import NOW
from tests.unit.intake.fakes import FakeUnitOfWork

FHIR = MediaType("fhir-r4", "utf-8")
HL7 = MediaType("hl7v2", "utf-8")
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
# a real EHR's codings, with version and display
PREDNISONE = {"system": RXNORM, "version": "07072025", "code": "8640", "display": "predniSONE"}
PREDNISONE_TABLET = {"system": RXNORM, "version": "07072025", "code": "312617",
                     "display": "predniSONE 5 MG Oral Tablet"}
HCQ_TABLET = {"system": RXNORM, "version": "07072025", "code": "979092",
              "display": "hydroxychloroquine sulfate 200 MG Oral Tablet"}
NOT_READ = "will not be read"


def _bundle(*codings: dict[str, Any], kind: str = "MedicationStatement") -> bytes:
    subject = {"reference": "Patient/p-9"}
    use: dict[str, Any] = {
        "resourceType": kind, "id": "m-9", "status": "active", "subject": subject,
        "medicationCodeableConcept": {"coding": list(codings), "text": "prednisone"}}
    if kind == "MedicationStatement":
        use["effectiveDateTime"] = "2026-11-01"
    else:
        use |= {"intent": "order", "authoredOn": "2026-11-01"}
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:p-9", "resource": {
            "resourceType": "Patient", "id": "p-9", "gender": "female",
            "identifier": [{"type": MR, "system": "urn:mrn", "value": "MRN-9"}]}},
        {"fullUrl": "urn:uuid:o-9", "resource": {
            "resourceType": "Observation", "id": "o-9", "status": "final", "subject": subject,
            "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
            "effectiveDateTime": "2026-11-28T08:00:00Z",
            "valueQuantity": {"value": 180, "unit": "10*9/L",
                              "system": "http://unitsofmeasure.org", "code": "10*9/L"}}},
        {"fullUrl": "urn:uuid:m-9", "resource": use},
    ]}).encode()


def _rde(give_code: str) -> bytes:
    return "\r".join([
        "MSH|^~\\&|PHARM|HOSP|TW|TW|20261128090000+0000||RDE^O11^RDE_O11|M-3|P|2.5.1",
        "PID|1||MRN-3^^^HOSP^MR||Roe^Jane||19900101|F",
        "ORC|RE|PL-1^EHR|FL-1^PHARM||CM||||20261101090000+0000",
        f"RXE||{give_code}|5||mg^milligram^UCUM|TAB^tablet^HL70292",
        "TQ1|1||Q24H||||20261101090000+0000|20261128090000+0000",
    ]).encode()


def _ras(administered: str) -> bytes:
    return "\r".join([
        "MSH|^~\\&|PHARM|HOSP|TW|TW|20261128090000+0000||RAS^O17^RAS_O17|M-4|P|2.5.1",
        "PID|1||MRN-3^^^HOSP^MR||Roe^Jane||19900101|F",
        "ORC|RE|PL-2^EHR|FL-2^PHARM||CM||||20261101090000+0000",
        "|".join(["RXA", "0", "1", "20261101093000+0000", "20261101100000+0000", administered,
                  "60", "mg^milligram^UCUM", *[""] * 12, "CP", "A"]),
    ]).encode()


async def _receipt(body: bytes, media: MediaType) -> Receipt:
    submission = Submission(body=body, media=media, client="CITY-LAB", received_at=NOW)
    return (await accept(submission, FakeUnitOfWork(), lambda: NOW,
                         screened=TrialFileCodes())).receipt


def _disagreeing(receipt: Receipt) -> dict[str, str]:
    return {n.path: n.reason for n in receipt.warnings if "different drugs" in n.reason}


@pytest.mark.parametrize("kind", ["MedicationStatement", "MedicationRequest"])
async def test_a_fhir_medication_coded_as_two_drugs_is_named_at_its_codeable_concept(
    kind: str,
) -> None:
    receipt = await _receipt(_bundle(PREDNISONE, HCQ_TABLET, kind=kind), FHIR)
    path = "Bundle.entry[2].resource.medicationCodeableConcept"
    warnings = _disagreeing(receipt)
    assert list(warnings) == [path]
    assert "8640" in warnings[path]
    assert "979092" in warnings[path]
    assert NOT_READ in warnings[path]
    entry = {e.path: e for e in receipt.entries}["Bundle.entry[2]"]
    assert entry.outcome == "accepted"
    assert [n.path for n in entry.warnings if "different drugs" in n.reason] == [path]
    assert "MRN-9" not in json.dumps(receipt.details())


async def test_the_warning_is_the_engines_own_note() -> None:
    """One check (``drugs_disagree``), read by the engine and the receipt alike."""
    receipt = await _receipt(_bundle(PREDNISONE, HCQ_TABLET), FHIR)
    [update] = parse_fhir(_bundle(PREDNISONE, HCQ_TABLET), source_system="CITY-LAB")
    [fact] = [f for f in update.facts if f.kind.value == "medication"]
    tables = load_tables()
    note = drugs_disagree(fact, tables.product_ingredients, readable_codes(tables))
    assert note is not None
    [reason] = _disagreeing(receipt).values()
    assert reason.startswith(note.reason)


@pytest.mark.parametrize("codings", [
    (PREDNISONE,),
    (PREDNISONE, PREDNISONE_TABLET),  # the ingredient and a product of it: one drug
])
async def test_codings_of_one_drug_get_no_such_warning(codings: tuple[dict[str, Any], ...]) -> None:
    receipt = await _receipt(_bundle(*codings), FHIR)
    assert _disagreeing(receipt) == {}


async def test_an_rxe_give_code_with_an_alternate_of_another_drug_is_named_at_rxe_2() -> None:
    receipt = await _receipt(_rde("8640^prednisone^RXN^979092^hydroxychloroquine^RXN"), HL7)
    warnings = _disagreeing(receipt)
    assert list(warnings) == ["RXE[1].2"]
    assert "979092" in warnings["RXE[1].2"]
    assert NOT_READ in warnings["RXE[1].2"]
    rxe = {e.path: e for e in receipt.entries}["RXE[1]"]
    assert [n.path for n in rxe.warnings if "different drugs" in n.reason] == ["RXE[1].2"]


async def test_an_rxa_administered_code_of_two_drugs_is_named_at_rxa_5() -> None:
    receipt = await _receipt(_ras("121191^rituximab^RXN^8640^prednisone^RXN"), HL7)
    assert list(_disagreeing(receipt)) == ["RXA[1].5"]


async def test_an_rxe_of_one_drug_gets_no_such_warning() -> None:
    receipt = await _receipt(_rde("312617^prednisone 5 MG Oral Tablet^RXN^8640^prednisone^RXN"),
                             HL7)
    assert _disagreeing(receipt) == {}


async def test_the_http_receipt_carries_the_warning() -> None:
    app = create_api()
    app.state.tokens = TokenRegistry({"lab-token": Principal("CITY-LAB", Role.LAB_SYSTEM)})
    app.state.intake = IntakeRuntime(IntakeSettings(max_body_bytes=100_000), FakeUnitOfWork(),
                                     lambda: NOW, lambda: None, screened=TrialFileCodes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://intake") as client:
        response = await client.post("/fhir", content=_bundle(PREDNISONE, HCQ_TABLET), headers={
            "Authorization": "Bearer lab-token", "Content-Type": "application/fhir+json"})
    assert response.status_code == 202, response.text
    [warning] = [w for w in response.json()["warnings"] if "different drugs" in w["reason"]]
    assert warning["path"] == "Bundle.entry[2].resource.medicationCodeableConcept"
    assert not warning.get("codes")  # codes as data are for facts no criterion reads
