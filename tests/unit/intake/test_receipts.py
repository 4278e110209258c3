"""Receipts say what became of each entry and every element not read exactly (issue 9).

FHIR R4 http ("Batches and transactions"): a transaction succeeds or fails as a whole; a
batch's entries succeed or fail one by one. Collections and messages carry independent
resources and are treated as a batch. Refusals of a whole input stay RFC 9457 problems.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.intake.adapters.http.api import IntakeRuntime, create_api
from shared.infra.auth import Principal, Role, TokenRegistry
from shared.settings import IntakeSettings
from tests.unit.intake.conftest import NOW
from tests.unit.intake.fakes import FakeUnitOfWork

LAB = {"Authorization": "Bearer lab-token", "Content-Type": "application/fhir+json"}
HL7 = {"Authorization": "Bearer lab-token", "Content-Type": "x-application/hl7-v2+er7"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_api()
    app.state.tokens = TokenRegistry({"lab-token": Principal("lab-a", Role.LAB_SYSTEM)})
    app.state.intake = IntakeRuntime(IntakeSettings(max_body_bytes=100_000), FakeUnitOfWork(),
                                     lambda: NOW, lambda: None)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
        yield http


def _bundle(fixtures: Path, bundle_type: str) -> dict[str, Any]:
    bundle = json.loads((fixtures / "bundle_patient_observation.json").read_text("utf-8"))
    bundle["type"] = bundle_type
    bad = copy.deepcopy(bundle["entry"][1])
    bad["fullUrl"] = "urn:uuid:6f1c4a7e-0000-4000-8000-000000000003"
    bad["resource"]["id"] = "hb-2"
    bad["resource"]["valueQuantity"] = {"value": 12.9, "unit": "g/mL", "system":
                                        "http://unitsofmeasure.org", "code": "g/mL"}
    text = copy.deepcopy(bundle["entry"][1])
    text["fullUrl"] = "urn:uuid:6f1c4a7e-0000-4000-8000-000000000004"
    text["resource"]["id"] = "plt-1"
    text["resource"]["code"] = {"coding": [{"system": "http://loinc.org", "code": "777-3"}]}
    del text["resource"]["valueQuantity"]
    text["resource"]["valueString"] = "<<10"
    bundle["entry"] += [bad, text, {"resource": {"resourceType": "Encounter", "id": "e-1",
                                                  "status": "finished",
                                                  "class": {"code": "AMB"}}}]
    return bundle


@pytest.mark.parametrize("bundle_type", ["batch", "collection", "message"])
async def test_one_bad_entry_of_a_batch_is_refused_and_the_others_are_accepted(
    client: httpx.AsyncClient, fixtures: Path, bundle_type: str
) -> None:
    bundle = _bundle(fixtures, bundle_type)
    if bundle_type == "message":
        bundle["entry"].insert(0, {"resource": {
            "resourceType": "MessageHeader", "id": "h-1",
            "eventCoding": {"system": "urn:example", "code": "lab"},
            "source": {"endpoint": "urn:example:lab"}}})
    response = await client.post("/fhir", headers=LAB, content=json.dumps(bundle))
    assert response.status_code == 202, response.text
    receipt = response.json()
    offset = 1 if bundle_type == "message" else 0
    outcomes = {e["path"]: e for e in receipt["entries"]}
    assert outcomes[f"Bundle.entry[{offset}]"]["outcome"] == "accepted"
    assert outcomes[f"Bundle.entry[{offset + 1}]"]["outcome"] == "accepted"
    refused = outcomes[f"Bundle.entry[{offset + 2}]"]
    assert refused["outcome"] == "refused"
    assert refused["problems"][0]["path"] == (
        f"Bundle.entry[{offset + 2}].resource.valueQuantity.code"
    )
    unread = outcomes[f"Bundle.entry[{offset + 3}]"]
    assert unread["outcome"] == "accepted"
    assert unread["warnings"] == [{"path": f"Bundle.entry[{offset + 3}].resource.valueString",
                                   "reason": "value '<<10' is not a number"}]
    ignored = outcomes[f"Bundle.entry[{offset + 4}]"]
    assert ignored["outcome"] == "ignored"
    # an entry TrialWatch does not read says so, as an ignored HL7 v2 segment does
    [not_read] = ignored["warnings"]
    assert not_read["path"] == f"Bundle.entry[{offset + 4}]"
    assert not_read["reason"].endswith("resources are not read by TrialWatch: nothing in this"
                                       " entry is screened")
    assert {"path": f"Bundle.entry[{offset + 3}].resource.valueString",
            "reason": "value '<<10' is not a number"} in receipt["warnings"]
    assert len(receipt["event_ids"]) == 1


async def test_a_transaction_with_one_bad_entry_is_refused_whole_as_a_problem(
    client: httpx.AsyncClient, fixtures: Path
) -> None:
    response = await client.post("/fhir", headers=LAB,
                                 content=json.dumps(_bundle(fixtures, "transaction")))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["path"] for e in response.json()["errors"]] == [
        "Bundle.entry[2].resource.valueQuantity.code"
    ]


async def test_a_batch_whose_every_entry_is_refused_is_422(
    client: httpx.AsyncClient, fixtures: Path
) -> None:
    bundle = _bundle(fixtures, "batch")
    bundle["entry"] = [bundle["entry"][2]]
    bundle["entry"][0]["resource"]["subject"] = {"reference": "Patient/x-1"}
    response = await client.post("/fhir", headers=LAB, content=json.dumps(bundle))
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "Bundle.entry[0].resource.valueQuantity.code"


async def test_entries_of_a_refused_patient_are_refused_too_never_keyed_elsewhere(
    client: httpx.AsyncClient, fixtures: Path
) -> None:
    bundle = _bundle(fixtures, "batch")
    bundle["entry"][0]["resource"]["gender"] = "F"
    bundle["entry"].append({"resource": {
        "resourceType": "Patient", "id": "p-2", "gender": "male"}})
    response = await client.post("/fhir", headers=LAB, content=json.dumps(bundle))
    assert response.status_code == 202, response.text
    outcomes = {e["path"]: e for e in response.json()["entries"]}
    assert outcomes["Bundle.entry[0]"]["problems"][0]["path"] == "Bundle.entry[0].resource.gender"
    assert outcomes["Bundle.entry[1]"]["problems"] == [{
        "path": "Bundle.entry[1].resource.subject.reference",
        "reason": "the Patient entry it refers to was refused"}]
    assert outcomes["Bundle.entry[5]"]["outcome"] == "accepted"


async def test_a_receipt_read_back_and_a_replay_carry_the_same_entries_and_warnings(
    client: httpx.AsyncClient, fixtures: Path
) -> None:
    body = json.dumps(_bundle(fixtures, "batch"))
    first = await client.post("/fhir", headers=LAB, content=body)
    again = await client.post("/fhir", headers=LAB, content=body)
    read = await client.get(f"/receipts/{first.json()['receipt_id']}", headers=LAB)
    assert again.json() == first.json() == read.json()
    assert first.json()["warnings"]


async def test_a_batch_refusing_another_entry_gets_its_own_receipt(
    client: httpx.AsyncClient, fixtures: Path
) -> None:
    bundle = _bundle(fixtures, "batch")
    first = await client.post("/fhir", headers=LAB, content=json.dumps(bundle))
    bundle["entry"][2]["resource"]["valueQuantity"]["code"] = "kg"
    bundle["entry"][2]["resource"]["valueQuantity"]["unit"] = "kg"
    second = await client.post("/fhir", headers=LAB, content=json.dumps(bundle))
    assert second.json()["receipt_id"] != first.json()["receipt_id"]
    assert "Idempotent-Replayed" not in second.headers


async def test_an_hl7_receipt_lists_the_values_it_could_not_read(client: httpx.AsyncClient) -> None:
    message = "\r".join([
        "MSH|^~\\&|LAB|HOSP|TW|TW|20260228090000+0000||ORU^R01|M-1|P|2.5.1",
        "PID|1||MRN-1^^^HOSP^MR||Roe^Jane||19900101|F",
        "OBR|1|P-1|F-1|777-3^Platelets^LN|||20260228080000+0000",
        "OBX|1|ST|777-3^Platelets^LN||<<10|10*9/L|150-400||||F|||20260228080000+0000",
    ])
    response = await client.post("/hl7v2", headers=HL7, content=message)
    assert response.status_code == 202, response.text
    (warning,) = response.json()["warnings"]
    assert warning["path"] == "OBX[1].5"
    assert "'<<10' is not a number" in warning["reason"]


# FHIR R4 Quantity qty-3 ("If a code for the unit is present, the system SHALL also be
# present"): an ALT coded "ukat/L" without a system, displayed "U/L", was read as 10 U/L (it
# may be 600 U/L). A transaction carrying it is refused whole, 422 at the code's path.
async def test_a_quantity_code_without_a_system_is_a_422_at_its_path(
    client: httpx.AsyncClient, fixtures: Path
) -> None:
    bundle = json.loads((fixtures / "bundle_patient_observation.json").read_text("utf-8"))
    bundle["type"] = "transaction"
    bundle["entry"][1]["resource"]["code"] = {
        "coding": [{"system": "http://loinc.org", "code": "1742-6"}]}
    bundle["entry"][1]["resource"]["valueQuantity"] = {"value": 10, "unit": "U/L",
                                                       "code": "ukat/L"}
    response = await client.post("/fhir", headers=LAB, content=json.dumps(bundle))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["path"] == "Bundle.entry[1].resource.valueQuantity.code"
    assert "qty-3" in error["reason"]


async def test_an_hl7_receipt_gives_each_segment_an_entry(client: httpx.AsyncClient) -> None:
    """As a FHIR receipt does per entry: each segment is accepted, kept unread (the OBX's
    warning says why) or ignored (a segment TrialWatch does not read)."""
    message = "\r".join([
        "MSH|^~\\&|LAB|HOSP|TW|TW|20260228090000+0000||ORU^R01|M-2|P|2.5.1",
        "PID|1||MRN-2^^^HOSP^MR||Roe^Jane||19900101|F",
        "PV1|1|O",
        "OBR|1|P-1|F-1|58410-2^CBC^LN|||20260228080000+0000",
        "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20260228080000+0000",
        "NTE|1||sample slightly haemolysed",
        "OBX|2|ST|718-7^Hemoglobin^LN||<<10|g/dL|12-16||||F|||20260228080000+0000",
        "OBX|3|NM|6690-2^WBC^LN||6.1|10*9/L|4-10|N|||X|||20260228080000+0000",
    ])
    response = await client.post("/hl7v2", headers=HL7, content=message)
    assert response.status_code == 202, response.text
    entries = {e["path"]: e for e in response.json()["entries"]}
    assert list(entries) == ["MSH[1]", "PID[1]", "PV1[1]", "OBR[1]", "OBX[1]", "NTE[1]",
                             "OBX[2]", "OBX[3]"]
    assert entries["OBX[1]"]["outcome"] == "accepted"
    # the NTE after it is a comment on this result (v2.5.1 7.3.1 OBX {NTE}): not read, and the
    # result's entry says so (probe item 9: before, nothing on the result named it)
    (comment,) = entries["OBX[1]"]["warnings"]
    assert comment["path"] == "NTE[1]"
    assert "not read" in comment["reason"]
    assert entries["OBX[2]"]["outcome"] == "unread"
    assert entries["OBX[2]"]["warnings"][0]["path"] == "OBX[2].5"
    assert entries["OBX[3]"]["outcome"] == "unread", "OBX-11 X: result cannot be obtained"
    assert entries["OBX[3]"]["warnings"][0]["path"] == "OBX[3].11"
    for ignored in ("PV1[1]", "NTE[1]"):
        assert entries[ignored]["outcome"] == "ignored"
        assert "not read by TrialWatch" in entries[ignored]["warnings"][0]["reason"]
    assert entries["PID[1]"]["outcome"] == entries["MSH[1]"]["outcome"] == "accepted"
    assert all(e["resource_type"] == path.split("[")[0] for path, e in entries.items())


async def test_an_order_comment_is_named_on_each_result_of_its_order(
    client: httpx.AsyncClient,
) -> None:
    """v2.5.1 7.3.1 ORU^R01: OBR {NTE} comments on the order: each of its results' entries
    warns at the NTE that it was not read (before: only the NTE's own entry, "ignored")."""
    message = "\r".join([
        "MSH|^~\\&|LAB|HOSP|TW|TW|20260228090000+0000||ORU^R01|M-3|P|2.5.1",
        "PID|1||MRN-2^^^HOSP^MR||Roe^Jane||19900101|F",
        "OBR|1|P-1|F-1|58410-2^CBC^LN|||20260228080000+0000",
        "NTE|1||whole order: specimen clotted",
        "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20260228080000+0000",
        "OBX|2|NM|6690-2^WBC^LN||6.1|10*9/L|4-10|N|||F|||20260228080000+0000",
    ])
    response = await client.post("/hl7v2", headers=HL7, content=message)
    assert response.status_code == 202, response.text
    entries = {e["path"]: e for e in response.json()["entries"]}
    for result in ("OBX[1]", "OBX[2]"):
        assert entries[result]["outcome"] == "accepted"
        (comment,) = entries[result]["warnings"]
        assert comment["path"] == "NTE[1]"
        assert "not read" in comment["reason"]
        assert "clotted" not in comment["reason"]
    assert entries["NTE[1]"]["outcome"] == "ignored"


async def test_pharmacy_segments_rxa_rxe_and_their_tq1_are_read_not_ignored(
    client: httpx.AsyncClient,
) -> None:
    """RAS^O17 RXA and RDE^O11 RXE (HL7 v2.5.1 ch. 4A) give medication facts: their receipt
    entries are ``accepted`` (with a warning for what was kept unread), the TQ1 that times an
    RXE is read; RXR (route) is not read and says so."""
    order = "\r".join([
        "MSH|^~\\&|PHARM|HOSP|TW|TW|20260228090000+0000||RDE^O11^RDE_O11|M-3|P|2.5.1",
        "PID|1||MRN-3^^^HOSP^MR||Roe^Jane||19900101|F",
        "ORC|RE|PL-1^EHR|FL-1^PHARM||CM||||20260201090000+0000",
        "RXE||8640^prednisone^RXN|1||mg/kg^milligram per kilogram^UCUM|TAB^tablet^HL70292",
        "TQ1|1||Q24H||||20260201090000+0000|20260228090000+0000",
        "RXR|PO^Oral^HL70162",
    ])
    response = await client.post("/hl7v2", headers=HL7, content=order)
    assert response.status_code == 202, response.text
    entries = {e["path"]: e for e in response.json()["entries"]}
    assert (entries["RXE[1]"]["outcome"], entries["RXE[1]"]["warnings"]) == ("accepted", [])
    assert entries["TQ1[1]"]["outcome"] == "accepted"
    assert entries["RXR[1]"]["outcome"] == "ignored"
    given = "\r".join([
        "MSH|^~\\&|PHARM|HOSP|TW|TW|20260228090000+0000||RAS^O17^RAS_O17|M-4|P|2.5.1",
        "PID|1||MRN-3^^^HOSP^MR||Roe^Jane||19900101|F",
        "ORC|RE|PL-2^EHR|FL-2^PHARM||CM||||20260201090000+0000",
        "|".join(["RXA", "0", "1", "20260201093000+0000", "", "8640^prednisone^RXN", "60",
                  "mg^milligram^UCUM", *[""] * 12, "CP", "A"]),
    ])
    response = await client.post("/hl7v2", headers=HL7, content=given)
    assert response.status_code == 202, response.text
    rxa = {e["path"]: e for e in response.json()["entries"]}["RXA[1]"]
    assert rxa["outcome"] == "accepted"
    warnings = {w["path"]: w["reason"] for w in rxa["warnings"]}
    assert set(warnings) == {"RXA[1].4", "RXA[1].6"}  # no end time; the amount kept unread
    assert "instant of RXA-3" in warnings["RXA[1].4"]
    assert "one administration" in warnings["RXA[1].6"]


async def test_each_dg1_segment_is_named_as_not_read_and_why(client: httpx.AsyncClient) -> None:
    """HL7 v2.5.1 6.5.2 DG1 (diagnosis) carries DG1-3 the code and DG1-6 the diagnosis type
    (table 0052: A admitting, W working, F final) but no clinical status: it cannot say whether
    the condition is active or resolved. A DG1 is not read as a condition; each one is named
    in the receipt with that reason, never dropped silently (labs add DG1 to ORU^R01 for the
    ordering diagnosis)."""
    message = "\r".join([
        "MSH|^~\\&|LAB|HOSP|TW|TW|20260228090000+0000||ORU^R01|M-3|P|2.5.1",
        "PID|1||MRN-3^^^HOSP^MR||Roe^Jane||19900101|F",
        "DG1|1|I10|N18.6^End stage renal disease^I10||20260201|F",
        "DG1|2|I10|I50.9^Heart failure, unspecified^I10||20260201|W",
        "OBR|1|P-1|F-1|58410-2^CBC^LN|||20260228080000+0000",
        "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20260228080000+0000",
    ])
    response = await client.post("/hl7v2", headers=HL7, content=message)
    assert response.status_code == 202, response.text
    entries = {e["path"]: e for e in response.json()["entries"]}
    for path in ("DG1[1]", "DG1[2]"):
        assert entries[path]["outcome"] == "ignored"
        [warning] = entries[path]["warnings"]
        assert warning["path"] == path
        reason = warning["reason"]
        assert "not read as a condition" in reason, reason
        assert "6.5.2" in reason, reason
        assert "0052" in reason, reason
        assert "clinical status" in reason, reason
        assert "Condition.clinicalStatus" in reason, reason  # how to send it instead
    assert entries["OBX[1]"]["outcome"] == "accepted"


def test_the_data_dictionary_says_dg1_is_not_read_and_why() -> None:
    """The published table of HL7 v2 forms (docs/data-dictionary.md) names DG1 as not read,
    citing v2.5.1 6.5.2 and table 0052, as the receipt does."""
    from shared.clinical.input_forms import HL7V2_FORMS, input_forms_markdown

    [dg1] = [form for form in HL7V2_FORMS if form.element.startswith("DG1")]
    assert dg1.outcome.startswith("not read")
    assert "clinicalStatus" in dg1.outcome
    assert "6.5.2" in dg1.standard
    assert "0052" in dg1.standard
    assert any(line.startswith("| DG1") for line in input_forms_markdown())


async def test_a_batch_whose_only_observation_is_refused_says_nothing_of_it_was_kept(
    client: httpx.AsyncClient, fixtures: Path
) -> None:
    """Fresh user: a batch of a Patient and its one Observation, the Observation refused (a
    unit that is not one of hemoglobin's), was answered 202 and read as 'my result is in'.
    FHIR R4 http 'Batches and transactions': a batch's entries succeed or fail one by one, so
    the accepted Patient keeps the submission a 2xx (problems.md: 422 means nothing was
    stored, and the Patient's sex and birth date were); the receipt says at its top that the
    submission was only partly accepted, names the refused entry, its resource type, that
    nothing of it was kept and why, and what to do (send that entry again, corrected)."""
    bundle = json.loads((fixtures / "bundle_patient_observation.json").read_text("utf-8"))
    bundle["type"] = "batch"
    bundle["entry"][1]["resource"]["valueQuantity"] = {
        "value": 12.9, "unit": "g/mL", "system": "http://unitsofmeasure.org", "code": "g/mL"}
    response = await client.post("/fhir", headers=LAB, content=json.dumps(bundle))
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert receipt["outcome"] == "partly refused"
    summary = receipt["summary"]
    assert summary.startswith("Partly refused: 1 of 2 entries refused, nothing of it kept"), summary
    assert "Bundle.entry[1] (Observation)" in summary
    assert "Bundle.entry[1].resource.valueQuantity.code" in summary
    assert "send it again corrected" in summary
    # the accepted part is said too, so the sender knows not to re-send it
    assert "1 accepted (Patient)" in summary
    read_back = await client.get(f"/receipts/{receipt['receipt_id']}",
                                 headers={"Authorization": "Bearer lab-token"})
    assert read_back.json()["outcome"] == "partly refused"
    assert read_back.json()["summary"] == summary


async def test_a_fully_accepted_batch_says_so_at_the_top(
    client: httpx.AsyncClient, fixtures: Path
) -> None:
    bundle = json.loads((fixtures / "bundle_patient_observation.json").read_text("utf-8"))
    bundle["type"] = "batch"
    response = await client.post("/fhir", headers=LAB, content=json.dumps(bundle))
    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "accepted"
    assert response.json()["summary"] == "Accepted: 2 of 2 entries (Patient, Observation)."
