from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import structlog
import structlog.testing

from services.intake.adapters.http.api import IntakeRuntime, create_api
from shared.infra.auth import Principal, Role, TokenRegistry
from shared.problems import PROBLEM_TYPES
from shared.settings import IntakeSettings
from tests.unit.intake.conftest import NOW
from tests.unit.intake.fakes import FakeUnitOfWork

LAB = {"Authorization": "Bearer lab-token"}
OTHER_LAB = {"Authorization": "Bearer other-lab-token"}
COORDINATOR = {"Authorization": "Bearer coordinator-token"}
OTHER_TRIAL_COORDINATOR = {"Authorization": "Bearer other-trial-token"}
TRIAL = "NCT06920433"
FHIR = {"Content-Type": "application/fhir+json"}
HL7 = {"Content-Type": "x-application/hl7-v2+er7"}


class Api:
    def __init__(self, client: httpx.AsyncClient, uow: FakeUnitOfWork, wakes: list[int]) -> None:
        self.client = client
        self.uow = uow
        self.wakes = wakes


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    uow = FakeUnitOfWork()
    wakes: list[int] = []
    app = create_api()
    app.state.tokens = TokenRegistry({
        "lab-token": Principal("lab-a", Role.LAB_SYSTEM),
        "other-lab-token": Principal("lab-b", Role.LAB_SYSTEM),
        "coordinator-token": Principal("coordinator-1", Role.COORDINATOR, frozenset({TRIAL})),
        "other-trial-token": Principal("coordinator-2", Role.COORDINATOR,
                                       frozenset({"NCT00000001"})),
    })
    app.state.intake = IntakeRuntime(IntakeSettings(max_body_bytes=10_000), uow, lambda: NOW,
                                     lambda: wakes.append(1))
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        yield Api(client, uow, wakes)


async def test_a_posted_observation_gets_a_202_receipt_and_wakes_the_relay(
    api: Api, fixtures: Path
) -> None:
    body = (fixtures / "observation_hemoglobin.json").read_bytes()
    response = await api.client.post("/fhir", headers=LAB | FHIR, content=body)
    assert response.status_code == 202
    receipt = response.json()
    assert receipt["patient_keys"][0].startswith("pt_")
    assert len(receipt["event_ids"]) == 1
    assert response.headers["location"] == f"/receipts/{receipt['receipt_id']}"
    assert api.wakes == [1]


async def test_a_resend_says_it_replayed_the_original_receipt(api: Api, fixtures: Path) -> None:
    body = (fixtures / "observation_hemoglobin.json").read_bytes()
    first = await api.client.post("/fhir", headers=LAB | FHIR, content=body)
    again = await api.client.post("/fhir", headers=LAB | FHIR, content=body)
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"


async def test_an_hl7_message_is_accepted_at_its_own_endpoint(api: Api, fixtures: Path) -> None:
    response = await api.client.post("/hl7v2", headers=LAB | HL7,
                                     content=(fixtures / "oru_hemoglobin.hl7").read_bytes())
    assert response.status_code == 202
    assert response.json()["format"] == "hl7v2"


async def test_without_a_token_the_answer_is_401_as_a_problem_document(api: Api) -> None:
    response = await api.client.post("/fhir", headers=FHIR, content=b"{}")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_coordinator_may_not_post_updates(api: Api) -> None:
    response = await api.client.post("/fhir", headers=COORDINATOR | FHIR, content=b"{}")
    assert response.status_code == 403


async def test_the_wrong_media_type_is_415(api: Api, fixtures: Path) -> None:
    response = await api.client.post("/fhir", headers=LAB | HL7,
                                     content=(fixtures / "oru_hemoglobin.hl7").read_bytes())
    assert response.status_code == 415
    assert response.json()["type"].endswith("/unsupported-media-type")


async def test_a_declared_length_past_the_limit_is_413_before_reading(api: Api) -> None:
    response = await api.client.post("/fhir", headers=LAB | FHIR, content=b"{" + b" " * 20_000)
    assert response.status_code == 413


async def test_a_streamed_body_past_the_limit_is_413(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(30):
            yield b" " * 1000

    response = await api.client.post("/fhir", headers=LAB | FHIR, content=chunks())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_malformed_json_is_400(api: Api) -> None:
    response = await api.client.post("/fhir", headers=LAB | FHIR, content=b'{"resourceType":')
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_invalid_resource_is_422_naming_each_path(api: Api) -> None:
    response = await api.client.post("/fhir", headers=LAB | FHIR,
                                     content=b'{"resourceType": "Observation", "status": "final"}')
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422
    assert {"path": "Observation.code", "reason": "'code' is required by FHIR R4 Observation"
            " (cardinality 1..1) and is missing"} in problem["errors"]
    assert api.uow.commits == 0


async def test_a_version_id_longer_than_a_fhir_id_is_422_at_its_path_and_not_published(
    api: Api, fixtures: Path,
) -> None:
    """FHIR R4 Meta.versionId is an ``id`` (1 to 64 characters); the published fact's
    Provenance.version holds 64, so a longer one is refused at intake (issue 14 section 2)."""
    resource = json.loads((fixtures / "observation_hemoglobin.json").read_bytes())
    resource["meta"]["versionId"] = "7" * 65
    response = await api.client.post("/fhir", headers=LAB | FHIR,
                                     content=json.dumps(resource).encode())
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == ["Observation.meta.versionId"]
    assert api.uow.commits == 0


async def test_hemoglobin_in_g_per_ml_is_422_with_the_obx_path(api: Api, fixtures: Path) -> None:
    body = (fixtures / "oru_hemoglobin_g_per_ml.hl7").read_bytes()
    response = await api.client.post("/hl7v2", headers=LAB | HL7, content=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "OBX[1].6"


async def test_hl7_posted_with_its_carriage_returns_stripped_is_422_at_msh(
    api: Api, fixtures: Path,
) -> None:
    # `curl --data @file` strips CR and LF: the message arrives as one segment
    body = (fixtures / "oru_hemoglobin.hl7").read_bytes().replace(b"\r", b"").replace(b"\n", b"")
    response = await api.client.post("/hl7v2", headers=LAB | HL7, content=body)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["path"] == "MSH"
    assert "no segment separator" in error["reason"]
    assert "curl --data-binary" in error["reason"]


async def test_a_receipt_can_be_read_back_only_by_the_client_it_was_issued_to(
    api: Api, fixtures: Path
) -> None:
    posted = await api.client.post("/fhir", headers=LAB | FHIR,
                                   content=(fixtures / "observation_hemoglobin.json").read_bytes())
    receipt_id = posted.json()["receipt_id"]
    mine = await api.client.get(f"/receipts/{receipt_id}", headers=LAB)
    theirs = await api.client.get(f"/receipts/{receipt_id}", headers=OTHER_LAB)
    assert mine.status_code == 200
    assert mine.json() == posted.json()
    assert theirs.status_code == 404


async def test_a_coordinator_reidentifies_a_patient_and_the_access_is_logged(
    api: Api, fixtures: Path
) -> None:
    posted = await api.client.post("/fhir", headers=LAB | FHIR,
                                   content=(fixtures / "bundle_lupus_history.json").read_bytes())
    key = posted.json()["patient_keys"][0]
    response = await api.client.post(f"/patients/{key}/reidentify", headers=COORDINATOR,
                                     json={"trial": TRIAL, "reason": "pre-screening call"})
    assert response.status_code == 200
    assert response.json() == {"patient_key": key, "source_system": "lab-a",
                               "source_patient_id": "MRN-LUPUS-7",
                               # the bundle's MR identifier has no Identifier.system
                               "identifier_system": None, "identifiers": []}
    assert response.headers["cache-control"] == "no-store"
    [(entry, found)] = api.uow.committed.access_log
    assert (entry.client, entry.patient_key, entry.trial, entry.reason, found) == (
        "coordinator-1", key, TRIAL, "pre-screening call", True)


async def test_reidentifying_without_a_reason_or_a_trial_is_refused_before_any_lookup(
    api: Api,
) -> None:
    for body in ({}, {"trial": TRIAL}, {"trial": TRIAL, "reason": "   "},
                 {"reason": "pre-screening call"}):
        response = await api.client.post(f"/patients/pt_{'0' * 32}/reidentify",
                                         headers=COORDINATOR, json=body)
        assert response.status_code == 422, body
    assert api.uow.committed.access_log == []


async def test_a_coordinator_of_another_trial_may_not_reidentify_and_the_refusal_is_logged(
    api: Api, fixtures: Path
) -> None:
    posted = await api.client.post("/fhir", headers=LAB | FHIR,
                                   content=(fixtures / "bundle_lupus_history.json").read_bytes())
    key = posted.json()["patient_keys"][0]
    with structlog.testing.capture_logs() as logs:
        response = await api.client.post(
            f"/patients/{key}/reidentify", headers=OTHER_TRIAL_COORDINATOR,
            json={"trial": TRIAL, "reason": "pre-screening call"})
    assert response.status_code == 403
    assert "MRN-LUPUS-7" not in response.text
    assert api.uow.committed.access_log == []
    [refused] = [e for e in logs if e["event"] == "access_refused"]
    assert (refused["client"], refused["reason"], refused["trial"]) == (
        "coordinator-2", "trial_not_in_claims", TRIAL)
    assert "MRN-LUPUS-7" not in repr(logs)


async def test_a_lab_system_may_not_reidentify(api: Api) -> None:
    response = await api.client.post(f"/patients/pt_{'0' * 32}/reidentify", headers=LAB,
                                     json={"trial": TRIAL, "reason": "pre-screening call"})
    assert response.status_code == 403
    assert api.uow.committed.access_log == []


async def test_reidentifying_an_unknown_key_is_404_and_still_logged(api: Api) -> None:
    response = await api.client.post(f"/patients/pt_{'0' * 32}/reidentify", headers=COORDINATOR,
                                     json={"trial": TRIAL, "reason": "pre-screening call"})
    assert response.status_code == 404
    [(_, found)] = api.uow.committed.access_log
    assert found is False


async def test_the_openapi_document_lists_the_media_types_and_examples(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    fhir = spec["paths"]["/fhir"]["post"]["requestBody"]["content"]
    assert set(fhir) == {"application/fhir+json", "application/json"}
    assert fhir["application/fhir+json"]["example"]["resourceType"] == "Bundle"
    assert set(spec["paths"]["/hl7v2"]["post"]["requestBody"]["content"]) == {
        "x-application/hl7-v2+er7", "text/plain"}
    # every message type the normaliser accepts is named, with the pharmacy segments it reads
    hl7v2 = spec["paths"]["/hl7v2"]["post"]
    for named in ("ORU^R01", "ADT^A40", "RAS^O17", "RDE^O11", "RXA", "RXE", "TQ1"):
        assert named in hl7v2["description"], named


async def test_logs_name_surrogate_keys_and_never_source_identifiers(
    api: Api, fixtures: Path
) -> None:
    with structlog.testing.capture_logs() as logs:
        posted = await api.client.post(
            "/fhir", headers=LAB | FHIR,
            content=(fixtures / "bundle_lupus_history.json").read_bytes())
        await api.client.post("/hl7v2", headers=LAB | HL7,
                              content=(fixtures / "oru_hemoglobin_g_per_ml.hl7").read_bytes())
    [accepted] = [entry for entry in logs if entry["event"] == "submission_accepted"]
    assert accepted["patient_keys"] == posted.json()["patient_keys"]
    text = repr(logs)
    for identifier in ("MRN-LUPUS-7", "lupus-7", "MRN-EXAMPLE-1", "1994-06-15"):
        assert identifier not in text


@pytest.mark.parametrize("charset", ["base64", "zlib", "rot13", "hex", "no-such-charset"])
async def test_a_charset_that_is_not_a_text_encoding_is_415(api: Api, fixtures: Path,
                                                            charset: str) -> None:
    body = (fixtures / "observation_hemoglobin.json").read_bytes()
    response = await api.client.post(
        "/fhir", headers=LAB | {"Content-Type": f"application/fhir+json; charset={charset}"},
        content=body)
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_hemoglobin_that_overflows_on_conversion_is_422_at_its_path(
    api: Api, fixtures: Path
) -> None:
    body = (fixtures / "observation_hemoglobin.json").read_text()
    document = json.loads(body)
    document["valueQuantity"]["value"] = 1e308
    response = await api.client.post("/fhir", headers=LAB | FHIR, content=json.dumps(document))
    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["Observation.valueQuantity.value"]
    assert api.uow.committed.outbox == []


async def test_displays_and_free_text_flags_never_reach_an_event_but_codes_do(
    api: Api, fixtures: Path
) -> None:
    document = json.loads((fixtures / "observation_hemoglobin.json").read_text())
    document["code"]["coding"][0]["display"] = "Hb for Jane Roe MRN-0042"
    document["interpretation"] = [{"coding": [{"system": "urn:local", "code": "call J Roe"}]}]
    response = await api.client.post("/fhir", headers=LAB | FHIR, content=json.dumps(document))
    assert response.status_code == 202
    [(_, event)] = api.uow.committed.outbox
    written = event.model_dump_json()
    assert [s for s in ("Jane", "MRN-0042", "J Roe") if s in written] == []
    assert "718-7" in written

    document["interpretation"] = [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "code": "L"}]}]  # a flag is read in its system only (FHIR R4 Coding)
    document["id"] = document["id"] + "-flagged"
    await api.client.post("/fhir", headers=LAB | FHIR, content=json.dumps(document))
    [fact] = api.uow.committed.outbox[-1][1].facts  # type: ignore[union-attr]
    assert fact.interpretation == "L"


@pytest.fixture
async def sited() -> AsyncIterator[Api]:
    """Lab tokens of site A, site B and both; coordinators of site A and of every site."""
    uow = FakeUnitOfWork()
    app = create_api()
    every = frozenset({TRIAL})
    app.state.tokens = TokenRegistry({
        "lab-a": Principal("lab-1", Role.LAB_SYSTEM, sites=frozenset({"A"})),
        "lab-b": Principal("lab-1", Role.LAB_SYSTEM, sites=frozenset({"B"})),
        "lab-ab": Principal("lab-1", Role.LAB_SYSTEM, sites=frozenset({"A", "B"})),
        "lab-none": Principal("lab-1", Role.LAB_SYSTEM),
        "coord-a": Principal("coord-a", Role.COORDINATOR, every, frozenset({"A"})),
        "coord-all": Principal("coord-all", Role.COORDINATOR, every),
    })
    app.state.intake = IntakeRuntime(IntakeSettings(max_body_bytes=10_000), uow, lambda: NOW,
                                     lambda: None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://intake") as client:
        yield Api(client, uow, [])


def _bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def _observation(patient: str) -> bytes:
    return json.dumps({
        "resourceType": "Observation", "id": f"obs-{patient}", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2026-11-28T09:00:00Z",
        "valueQuantity": {"value": 180, "unit": "10*9/L",
                          "system": "http://unitsofmeasure.org", "code": "10*9/L"},
    }).encode()


async def _post(api: Api, token: str, patient: str, **headers: str) -> httpx.Response:
    return await api.client.post("/fhir", headers=_bearer(token, **headers) | FHIR,
                                 content=_observation(patient))


def _events_site(api: Api, key: str) -> list[str | None]:
    return [getattr(e, "site", None) for _, e in api.uow.committed.outbox if e.patient_key == key]


async def test_a_one_site_lab_token_stamps_its_site_on_the_event_whatever_the_payload(
    sited: Api,
) -> None:
    response = await _post(sited, "lab-a", "p-1")
    assert response.status_code == 202
    [key] = response.json()["patient_keys"]
    assert _events_site(sited, key) == ["A"]
    assert sited.uow.committed.sites[key] == "A"


async def test_a_lab_token_without_a_site_claim_stamps_no_site(sited: Api) -> None:
    response = await _post(sited, "lab-none", "p-2")
    [key] = response.json()["patient_keys"]
    assert _events_site(sited, key) == [None]
    assert key not in sited.uow.committed.sites


async def test_a_several_site_lab_token_names_its_site_in_the_header_or_is_refused(
    sited: Api,
) -> None:
    with structlog.testing.capture_logs() as logs:
        unnamed = await _post(sited, "lab-ab", "p-3")
        other = await _post(sited, "lab-ab", "p-3", **{"TrialWatch-Site": "C"})
        named_by_lab_a = await _post(sited, "lab-a", "p-3", **{"TrialWatch-Site": "B"})
    assert unnamed.status_code == 422
    assert unnamed.headers["content-type"].startswith("application/problem+json")
    assert "TrialWatch-Site" in unnamed.json()["detail"]
    assert other.status_code == named_by_lab_a.status_code == 403
    assert [e["reason"] for e in logs if e["event"] == "access_refused"] == [
        "site_required", "site_not_in_claims", "site_not_in_claims"]
    assert sited.uow.committed.outbox == []
    named = await _post(sited, "lab-ab", "p-3", **{"TrialWatch-Site": "B"})
    assert named.status_code == 202
    assert _events_site(sited, named.json()["patient_keys"][0]) == ["B"]


async def test_a_site_scoped_coordinator_cannot_reidentify_another_sites_patient_404_logged(
    sited: Api,
) -> None:
    [site_a] = (await _post(sited, "lab-a", "pa")).json()["patient_keys"]
    [site_b] = (await _post(sited, "lab-b", "pb")).json()["patient_keys"]
    body = {"trial": TRIAL, "reason": "pre-screening call"}
    with structlog.testing.capture_logs() as logs:
        hidden = await sited.client.post(f"/patients/{site_b}/reidentify",
                                         headers=_bearer("coord-a"), json=body)
        unknown = await sited.client.post(f"/patients/pt_{'0' * 32}/reidentify",
                                          headers=_bearer("coord-a"), json=body)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["detail"] == unknown.json()["detail"]  # existence not confirmed
    assert "pb" not in hidden.text
    [refused] = [e for e in logs if e["event"] == "access_refused"]
    assert (refused["reason"], refused["patient_key"], refused["status"]) == (
        "site_not_in_claims", site_b, 404)
    assert "pb" not in repr(logs)
    own = await sited.client.post(f"/patients/{site_a}/reidentify",
                                  headers=_bearer("coord-a"), json=body)
    assert own.status_code == 200
    assert own.json()["source_patient_id"] == "pa"
    every = await sited.client.post(f"/patients/{site_b}/reidentify",
                                    headers=_bearer("coord-all"), json=body)
    assert every.status_code == 200
    assert every.json()["source_patient_id"] == "pb"
    assert [(e.patient_key, found) for e, found in sited.uow.committed.access_log] == [
        (site_b, False), (f"pt_{'0' * 32}", False), (site_a, True), (site_b, True)]


async def test_a_site_scoped_lookup_of_another_sites_patient_is_404(sited: Api) -> None:
    [site_b] = (await _post(sited, "lab-b", "pb")).json()["patient_keys"]
    body = {"source_system": "lab-1", "source_patient_id": "pb", "reason": "order entry check"}
    hidden = await sited.client.post("/patients/lookup", headers=_bearer("coord-a"), json=body)
    assert hidden.status_code == 404
    assert site_b not in hidden.text
    found = await sited.client.post("/patients/lookup", headers=_bearer("coord-all"), json=body)
    assert found.json() == {"patient_key": site_b}


async def test_each_refusal_of_intakes_routes_has_its_own_problem_type(api: Api) -> None:
    """docs/problems.md: a client branches on ``type``; before, every one of these was the
    status's generic type (not-found, forbidden)."""
    base = "https://trialwatch.dev/problems/"
    key = f"pt_{'0' * 32}"
    answers = {
        "receipt-not-found": await api.client.get(
            "/receipts/00000000-0000-4000-8000-000000000000", headers=LAB),
        "patient-not-found": await api.client.post(
            f"/patients/{key}/reidentify", headers=COORDINATOR,
            json={"trial": TRIAL, "reason": "pre-screening call"}),
        "source-identity-not-found": await api.client.post(
            "/patients/lookup", headers=COORDINATOR,
            json={"source_system": "lab-a", "source_patient_id": "nobody",
                  "reason": "CDS Hooks patient-view"}),
        "trial-not-in-claims": await api.client.post(
            f"/patients/{key}/reidentify", headers=OTHER_TRIAL_COORDINATOR,
            json={"trial": TRIAL, "reason": "pre-screening call"}),
        "role-not-allowed": await api.client.post(
            f"/patients/{key}/reidentify", headers=LAB,
            json={"trial": TRIAL, "reason": "pre-screening call"}),
    }
    said = {slug: (answer.status_code, answer.json()["type"]) for slug, answer in answers.items()}
    assert said == {slug: (PROBLEM_TYPES[slug].status, base + slug) for slug in answers}


async def test_a_published_reading_note_quotes_no_free_input_the_receipt_does(api: Api) -> None:
    """Issue 14: reasons that leave intake carry no input excerpt (shared.clinical.excerpts).
    An OBX-5 structured numeric '<>' (not equal to: no value, v2.5.1 2A.3.70) is kept unread;
    its note quoted what was sent, as the event's reason, to the evaluator and audit."""
    message = "\r".join([
        "MSH|^~\\&|LIS|CITY-LAB|TW|TW|20261128090000+0000||ORU^R01^ORU_R01|EXC-1|P|2.5.1",
        "PID|1||MRN-7^^^CITY^MR||Roe^Jane||19900412|F",
        "OBR|1|PLC-1|FIL-1|58410-2^CBC panel^LN|||20261128073000+0000",
        "OBX|1|SN|777-3^Platelets^LN||<>^19900412|10*9/L|||||F|||20261128073000+0000", ""])
    response = await api.client.post("/hl7v2", headers=LAB | HL7, content=message.encode())
    assert response.status_code == 202, response.text
    warned = [w["reason"] for w in response.json()["warnings"] if w["path"] == "OBX[1].5"]
    assert warned == ["'<>19900412': 'not equal to' gives no value or bound"], "the sender's own"
    [(_, event)] = api.uow.committed.outbox
    [fact] = event.facts  # type: ignore[union-attr]
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].5"
    assert fact.unread.reason == "[value not quoted]: 'not equal to' gives no value or bound"
    # (the fact's ``received`` value keeps what was sent, for the evidence: not a reason)


async def test_a_site_the_lab_token_may_not_stamp_and_a_missing_site_have_their_types(
    sited: Api,
) -> None:
    """docs/problems.md lists site-not-allowed (403) and site-required (422) for intake; over
    HTTP they were answered with the generic forbidden / invalid-request types."""
    base = "https://trialwatch.dev/problems/"
    other = await _post(sited, "lab-a", "p-site-1", **{"trialwatch-site": "B"})
    unnamed = await _post(sited, "lab-ab", "p-site-2")
    assert (other.status_code, other.json()["type"]) == (403, base + "site-not-allowed")
    assert (unnamed.status_code, unnamed.json()["type"]) == (422, base + "site-required")


def _patient_with_mrn(resource_id: str, mrn: str) -> bytes:
    """A FHIR R4 batch as an EHR sends it: the Patient carries an MR-typed identifier (HL7 v2
    table 0203), so intake keys it by the MRN, and the Observation references Patient.id."""
    patient = {
        "resourceType": "Patient", "id": resource_id,
        "identifier": [{"type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            "system": "urn:oid:1.2.36.146.595.217.0.1", "value": mrn}],
        "gender": "female", "birthDate": "1990-04-02"}
    observation = json.loads(_observation(resource_id))
    return json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [
        {"fullUrl": f"urn:uuid:{resource_id}", "resource": patient,
         "request": {"method": "PUT", "url": f"Patient/{resource_id}"}},
        {"resource": observation, "request": {"method": "POST", "url": "Observation"}},
    ]}).encode()


async def test_a_cds_hooks_lookup_finds_a_patient_keyed_by_mrn_by_its_fhir_patient_id(
    sited: Api,
) -> None:
    """CDS Hooks 1.0 context.patientId is the FHIR Patient.id, not an identifier value. Intake
    keys a Patient with an MR-typed identifier by the MRN; before, the look-up searched only
    the bare value, so the README patient (Patient/readme-patient-1, MRN-0001) was 404 and the
    EHR got no card. A resource id is looked up as the resource (``Patient/<id>``), never as an
    identifier value: another patient whose MRN equals that id is not found by it."""
    posted = await sited.client.post("/fhir", headers=_bearer("lab-none") | FHIR,
                                     content=_patient_with_mrn("ehr-42", "MRN-0001"))
    assert posted.status_code == 202, posted.text
    [key] = set(posted.json()["patient_keys"])
    # a patient known only by the resource id ehr-43
    [bare] = (await _post(sited, "lab-none", "ehr-43")).json()["patient_keys"]
    other = await sited.client.post("/fhir", headers=_bearer("lab-none") | FHIR,
                                    content=_patient_with_mrn("ehr-44", "ehr-42"))
    [mrn_like] = set(other.json()["patient_keys"])

    def ask(patient_id: str, **kind: bool) -> dict[str, object]:
        return {"source_system": "lab-1", "source_patient_id": patient_id,
                "reason": "CDS Hooks patient-view", **kind}

    by_id = await sited.client.post("/patients/lookup", headers=_bearer("coord-all"),
                                    json=ask("ehr-42", fhir_patient_id=True))
    assert by_id.status_code == 200, by_id.text
    assert by_id.json() == {"patient_key": key}
    only_id = await sited.client.post("/patients/lookup", headers=_bearer("coord-all"),
                                      json=ask("ehr-43", fhir_patient_id=True))
    assert only_id.json() == {"patient_key": bare}
    by_mrn = await sited.client.post("/patients/lookup", headers=_bearer("coord-all"),
                                     json=ask("ehr-42"))
    assert by_mrn.json() == {"patient_key": mrn_like}  # an identifier value: the MRN ehr-42
    unknown = await sited.client.post("/patients/lookup", headers=_bearer("coord-all"),
                                      json=ask("MRN-0001", fhir_patient_id=True))
    assert unknown.status_code == 404
