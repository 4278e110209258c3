from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.intake.core.accept import Submission, accept
from services.intake.core.media import MediaType
from services.intake.core.refusals import InvalidClinicalInput, MalformedInput
from shared.clinical.ids import fact_id
from tests.unit.intake.conftest import NOW
from tests.unit.intake.fakes import FakeUnitOfWork

FHIR = MediaType("fhir-r4", "utf-8")
HL7 = MediaType("hl7v2", "utf-8")


def clock() -> datetime:
    return NOW


def submission(body: bytes, media: MediaType = FHIR, client: str = "lab-a",
               key: str | None = None) -> Submission:
    return Submission(body=body, media=media, client=client, received_at=NOW, idempotency_key=key)


async def test_an_observation_becomes_one_patient_event_keyed_by_a_surrogate(
    fixtures: Path,
) -> None:
    uow = FakeUnitOfWork()
    result = await accept(submission((fixtures / "observation_hemoglobin.json").read_bytes()),
                          uow, clock)
    [(topic, event)] = uow.committed.outbox
    assert topic == "patient.events.v1"
    assert result.receipt.patient_keys == (event.patient_key,)
    assert result.receipt.event_ids == (event.event_id,)
    assert event.patient_key.startswith("pt_")
    assert "example-1" not in event.patient_key
    assert event.correlation_id == result.receipt.receipt_id
    assert event.source == "lab-a"
    assert event.occurred_at == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    assert event.recorded_at == NOW
    assert [c.code for c in event.facts[0].codes] == ["718-7"]


async def test_no_source_patient_identifier_appears_anywhere_in_the_event(fixtures: Path) -> None:
    uow = FakeUnitOfWork()
    await accept(submission((fixtures / "bundle_lupus_history.json").read_bytes()), uow, clock)
    [(_, event)] = uow.committed.outbox
    text = event.model_dump_json()
    assert "MRN-LUPUS-7" not in text
    assert "lupus-7" not in text
    assert event.demographics is not None
    assert event.demographics.provenance is not None
    assert event.demographics.provenance.resource == f"Patient/{event.patient_key}"
    assert {f.kind.value for f in event.facts} == {"condition", "medication", "procedure",
                                                    "observation"}


async def test_the_same_source_patient_keeps_one_surrogate_key_across_submissions(
    fixtures: Path,
) -> None:
    uow = FakeUnitOfWork()
    first = await accept(submission((fixtures / "bundle_patient_observation.json").read_bytes()),
                         uow, clock)
    second = await accept(submission((fixtures / "observation_hemoglobin.json").read_bytes()),
                          uow, clock)
    assert first.receipt.patient_keys == second.receipt.patient_keys


async def test_the_same_patient_id_from_another_source_system_is_another_patient(
    fixtures: Path,
) -> None:
    uow = FakeUnitOfWork()
    body = (fixtures / "observation_hemoglobin.json").read_bytes()
    first = await accept(submission(body, client="lab-a"), uow, clock)
    second = await accept(submission(body, client="lab-b"), uow, clock)
    assert first.receipt.patient_keys != second.receipt.patient_keys


async def test_resending_the_same_resource_version_returns_the_original_receipt_and_queues_nothing(
    fixtures: Path,
) -> None:
    uow = FakeUnitOfWork()
    body = (fixtures / "observation_hemoglobin.json").read_bytes()
    first = await accept(submission(body), uow, clock)
    again = await accept(submission(body.replace(b"  ", b" ")), uow, clock)
    assert again.replayed
    assert again.receipt == first.receipt
    assert len(uow.committed.outbox) == 1


async def test_a_new_version_of_the_same_resource_is_a_new_submission(fixtures: Path) -> None:
    uow = FakeUnitOfWork()
    resource = json.loads((fixtures / "observation_hemoglobin.json").read_text())
    await accept(submission(json.dumps(resource).encode()), uow, clock)
    resource["meta"]["versionId"] = "2"
    resource["valueQuantity"]["value"] = 13.1
    second = await accept(submission(json.dumps(resource).encode()), uow, clock)
    assert not second.replayed
    assert len(uow.committed.outbox) == 2


async def test_the_same_version_with_other_content_still_returns_the_original_receipt(
    fixtures: Path,
) -> None:
    uow = FakeUnitOfWork()
    resource = json.loads((fixtures / "observation_hemoglobin.json").read_text())
    first = await accept(submission(json.dumps(resource).encode()), uow, clock)
    resource["valueQuantity"]["value"] = 13.1
    second = await accept(submission(json.dumps(resource).encode()), uow, clock)
    assert second.replayed
    assert second.receipt == first.receipt


async def test_the_same_idempotency_key_returns_the_original_receipt_whatever_the_body(
    fixtures: Path,
) -> None:
    uow = FakeUnitOfWork()
    first = await accept(submission((fixtures / "observation_hemoglobin.json").read_bytes(),
                                    key="batch-17"), uow, clock)
    again = await accept(submission((fixtures / "bundle_lupus_history.json").read_bytes(),
                                    key="batch-17"), uow, clock)
    assert again.replayed
    assert again.receipt == first.receipt
    assert len(uow.committed.outbox) == 1


async def test_an_idempotency_key_is_scoped_to_the_client_that_sent_it(fixtures: Path) -> None:
    uow = FakeUnitOfWork()
    await accept(submission((fixtures / "observation_hemoglobin.json").read_bytes(),
                            client="lab-a", key="k1"), uow, clock)
    other = await accept(submission((fixtures / "bundle_lupus_history.json").read_bytes(),
                                    client="lab-b", key="k1"), uow, clock)
    assert not other.replayed


async def test_an_hl7_oru_message_becomes_a_laboratory_event(fixtures: Path) -> None:
    uow = FakeUnitOfWork()
    result = await accept(submission((fixtures / "oru_hemoglobin.hl7").read_bytes(), HL7),
                          uow, clock)
    [(_, event)] = uow.committed.outbox
    assert result.receipt.format == "hl7v2"
    assert "MRN-EXAMPLE-1" not in event.model_dump_json()
    assert event.facts[0].value_quantity is not None


async def test_hemoglobin_in_g_per_ml_is_refused_with_the_path_and_nothing_is_stored(
    fixtures: Path,
) -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(InvalidClinicalInput) as refused:
        await accept(submission((fixtures / "oru_hemoglobin_g_per_ml.hl7").read_bytes(), HL7),
                     uow, clock)
    assert refused.value.status == 422
    assert [p.path for p in refused.value.problems] == ["OBX[1].6"]
    assert "g/mL" in refused.value.problems[0].reason
    assert uow.commits == 0


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1,", b'{"a": NaN}', b"\xff\xfe"])
async def test_malformed_json_is_a_400_refusal(body: bytes) -> None:
    with pytest.raises(MalformedInput):
        await accept(submission(body), FakeUnitOfWork(), clock)


@pytest.mark.parametrize("body", [b"PID|1||x", b"hello", b"", b"MSH"])
async def test_text_without_an_msh_segment_is_a_400_refusal(body: bytes) -> None:
    with pytest.raises(MalformedInput):
        await accept(submission(body, HL7), FakeUnitOfWork(), clock)


async def test_a_json_array_is_refused_as_not_a_fhir_resource() -> None:
    with pytest.raises(InvalidClinicalInput):
        await accept(submission(b"[1, 2]"), FakeUnitOfWork(), clock)


async def test_a_patient_identifier_too_long_for_the_key_table_is_refused(fixtures: Path) -> None:
    resource = json.loads((fixtures / "observation_hemoglobin.json").read_text())
    resource["subject"]["reference"] = "Patient/" + "x" * 300
    with pytest.raises(InvalidClinicalInput) as refused:
        await accept(submission(json.dumps(resource).encode()), FakeUnitOfWork(), clock)
    assert "longer than" in refused.value.problems[0].reason


async def test_a_resource_id_that_carries_the_mrn_does_not_leave_intake(fixtures: Path) -> None:
    """Senders name resources after the patient (``<MRN>-hb-1`` is common); the id is kept
    in ``ClinicalFact.provenance.resource``, so it reached the evaluator's decisions and the
    immutable audit snapshot. Found by benchmarks/hostile_pipeline.py (PHI search)."""
    observation = json.loads((fixtures / "observation_hemoglobin.json").read_bytes())
    observation["id"] = "ZQMRN88412-hb-1"
    uow = FakeUnitOfWork()
    await accept(submission(json.dumps(observation).encode()), uow, clock)
    [(_, event)] = uow.committed.outbox
    assert "ZQMRN88412" not in event.model_dump_json()
    [fact] = event.facts
    # the type stays (the washout primitive reads it), the id is the record's hash
    assert fact.provenance.resource == "Observation/" + fact_id(
        fact.provenance.source_system, "Observation/ZQMRN88412-hb-1")
