"""Intake's core on in-memory fakes of its ports: what the integration tests check on the real
databases (concurrency, merges, crash safety, audited re-identification), in milliseconds."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import pytest

from services.intake.core.accept import Submission, accept
from services.intake.core.lookup import NOT_FOUND_KEY, look_up
from services.intake.core.media import MediaType
from services.intake.core.ports import Reidentification, SourceIdentity
from services.intake.core.refusals import NormaliserDefect
from services.intake.core.reidentify import OutsideSites, reidentify
from shared.contracts.events import PatientMerged, PatientReidentified, PatientUpdated
from shared.contracts.topics import REIDENTIFICATIONS
from tests.unit.intake.conftest import NOW
from tests.unit.intake.fakes import FakeUnitOfWork

FHIR = MediaType("fhir-r4", "utf-8")
HL7 = MediaType("hl7v2", "utf-8")
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


def clock() -> datetime:
    return NOW


def platelets(oid: str, patient: str) -> bytes:
    return json.dumps({
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2026-11-28T09:00:00Z",
        "valueQuantity": {"value": 180, "unit": "10*9/L",
                          "system": "http://unitsofmeasure.org", "code": "10*9/L"},
    }).encode()


def patient(pid: str, mrn: str) -> bytes:
    return json.dumps({"resourceType": "Patient", "id": pid, "gender": "female",
                       "identifier": [{"type": MR, "system": "urn:mrn", "value": mrn}]}).encode()


def oru(mrn: str, control_id: str) -> bytes:
    return "\r".join([
        f"MSH|^~\\&|LIS|lab-system|TW|TW|20261128090000+0000||ORU^R01|{control_id}|P|2.5.1",
        f"PID|1||{mrn}^^^CITY^MR||Roe^Jane||19900412|F",
        "OBR|1|||58410-2^CBC^LN|||20261128080000+0000",
        "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20261128080000+0000",
    ]).encode()


def submission(body: bytes, media: MediaType = FHIR) -> Submission:
    return Submission(body=body, media=media, client="lab-system", received_at=NOW)


async def keys(uow: FakeUnitOfWork, body: bytes, media: MediaType = FHIR) -> tuple[str, ...]:
    return (await accept(submission(body, media), uow, clock)).receipt.patient_keys


def merges(uow: FakeUnitOfWork) -> list[PatientMerged]:
    return [e for _, e in uow.committed.outbox if isinstance(e, PatientMerged)]


async def test_the_same_submission_sent_concurrently_gets_one_receipt_and_one_event() -> None:
    uow = FakeUnitOfWork()
    body = platelets("o-same", "p-1")
    results = await asyncio.gather(*(accept(submission(body), uow, clock) for _ in range(12)))
    assert len({r.receipt.receipt_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert len(uow.committed.outbox) == 1


async def test_a_new_patient_posted_concurrently_gets_exactly_one_surrogate_key() -> None:
    uow = FakeUnitOfWork()
    results = await asyncio.gather(*(
        accept(submission(platelets(f"o-{n}", "new-1")), uow, clock) for n in range(12)))
    assert len({r.receipt.patient_keys for r in results}) == 1
    assert len(uow.committed.patients) == 1
    assert len(uow.committed.outbox) == 12


async def test_names_of_one_patient_first_seen_apart_are_merged_into_the_oldest_key() -> None:
    uow = FakeUnitOfWork()
    [by_reference] = await keys(uow, platelets("o1", "p-k"))
    [by_mrn] = await keys(uow, oru("MRN-K", "MSG-1"), HL7)
    assert by_reference != by_mrn
    [together] = await keys(uow, patient("p-k", "MRN-K"))
    [later] = await keys(uow, oru("MRN-K", "MSG-2"), HL7)
    assert together == later == by_reference
    [merge] = merges(uow)
    assert (merge.patient_key, merge.merged_key, merge.reason) == (
        by_reference, by_mrn, "same-patient")


async def test_an_hl7_a40_merge_sends_the_prior_mrns_data_to_the_surviving_patient() -> None:
    uow = FakeUnitOfWork()
    [old] = await keys(uow, oru("MRN-0007", "MSG-1"), HL7)
    [new] = await keys(uow, oru("MRN-0042", "MSG-2"), HL7)
    merge_message = "\r".join([
        "MSH|^~\\&|ADT|lab-system|TW|TW|20261128100000+0000||ADT^A40^ADT_A39|MSG-3|P|2.5.1",
        "EVN|A40|20261128100000+0000",
        "PID|1||MRN-0042^^^CITY^MR||Roe^Jane||19900412|F",
        "MRG|MRN-0007^^^CITY^MR",
    ]).encode()
    assert set(await keys(uow, merge_message, HL7)) == {new}
    [late] = await keys(uow, oru("MRN-0007", "MSG-4"), HL7)
    assert late == new
    [merge] = merges(uow)
    assert (merge.patient_key, merge.merged_key, merge.reason) == (new, old, "source-merge")


@pytest.mark.parametrize("failing", ["add_to_outbox", "add_receipt"])
async def test_a_failure_before_commit_leaves_no_receipt_no_key_and_no_event(
    failing: str,
) -> None:
    uow = FakeUnitOfWork(fail_on=failing)
    with pytest.raises(ConnectionError):
        await accept(submission(platelets("o1", "p-1")), uow, clock)
    assert uow.commits == 0
    assert uow.committed.outbox == uow.committed.access_log == []
    assert not uow.committed.receipts
    assert not uow.committed.patients


async def test_every_event_of_a_receipt_is_in_the_outbox_with_the_receipt() -> None:
    uow = FakeUnitOfWork()
    acceptance = await accept(submission(oru("MRN-1", "MSG-1"), HL7), uow, clock)
    queued = [e.event_id for _, e in uow.committed.outbox]
    assert queued == list(acceptance.receipt.event_ids)
    assert uow.committed.receipts[acceptance.receipt.receipt_id] == acceptance.receipt
    assert all(isinstance(e, PatientUpdated) for _, e in uow.committed.outbox)


async def test_reidentification_returns_the_source_identity_and_logs_the_access() -> None:
    uow = FakeUnitOfWork()
    [key] = await keys(uow, oru("MRN-1", "MSG-1"), HL7)
    entry = Reidentification(patient_key=key, client="coord", role="coordinator",
                             reason="screening visit", at=NOW, trial="NCT0001")
    assert await reidentify(entry, uow) == SourceIdentity("lab-system", "MRN-1")
    missing = Reidentification(patient_key="pt_" + "0" * 32, client="coord", role="coordinator",
                               reason="screening visit", at=NOW, trial="NCT0001")
    assert await reidentify(missing, uow) is None
    assert [(e.patient_key, found) for e, found in uow.committed.access_log] == [
        (key, True), (missing.patient_key, False)]


async def test_a_lookup_is_logged_whether_or_not_the_patient_is_known() -> None:
    uow = FakeUnitOfWork()
    [key] = await keys(uow, oru("MRN-1", "MSG-1"), HL7)
    entry = Reidentification(patient_key="", client="cds", role="coordinator",
                             reason="lookup: order entry", at=NOW)
    assert await look_up(SourceIdentity("lab-system", "MRN-1"), entry, uow) == key
    assert await look_up(SourceIdentity("lab-system", "MRN-2"), entry, uow) is None
    assert [(e.patient_key, found) for e, found in uow.committed.access_log] == [
        (key, True), (NOT_FOUND_KEY, False)]


def _told_audit(uow: FakeUnitOfWork) -> list[tuple[str, str, str, str | None, str | None]]:
    events = [e for topic, e in uow.committed.outbox if topic == REIDENTIFICATIONS]
    assert all(isinstance(e, PatientReidentified) for e in events)
    return [(e.kind, e.patient_key, e.outcome, e.trial, e.reason)
            for e in events if isinstance(e, PatientReidentified)]


async def test_every_reidentification_and_lookup_is_staged_for_audit_without_the_identifier(
) -> None:
    uow = FakeUnitOfWork()
    [key] = await keys(uow, oru("MRN-1", "MSG-1"), HL7)
    [other] = await keys(uow, oru("MRN-2", "MSG-2"), HL7)
    uow.committed.sites[key] = "A"
    uow.committed.sites[other] = "B"
    entry = Reidentification(patient_key=key, client="coord", role="coordinator",
                             reason="screening visit", at=NOW, trial="NCT0001",
                             sites=frozenset({"A"}))
    await reidentify(entry, uow)
    with pytest.raises(OutsideSites):
        await reidentify(Reidentification(patient_key=other, client="coord", role="coordinator",
                                          reason="chart review", at=NOW, trial="NCT0001",
                                          sites=frozenset({"A"})), uow)
    await reidentify(Reidentification(patient_key="pt_" + "0" * 32, client="coord",
                                      role="coordinator", reason="typo", at=NOW), uow)
    lookup = Reidentification(patient_key="", client="cds", role="coordinator",
                              reason="lookup: order entry", at=NOW)
    await look_up(SourceIdentity("lab-system", "MRN-1"), lookup, uow)
    await look_up(SourceIdentity("lab-system", "MRN-9"), lookup, uow)
    assert _told_audit(uow) == [
        ("reidentify", key, "revealed", "NCT0001", "screening visit"),
        ("reidentify", other, "outside-sites", "NCT0001", "chart review"),
        ("reidentify", "pt_" + "0" * 32, "unknown", None, "typo"),
        ("lookup", key, "revealed", None, "lookup: order entry"),
        ("lookup", NOT_FOUND_KEY, "unknown", None, "lookup: order entry")]
    staged = [e for t, e in uow.committed.outbox if t == REIDENTIFICATIONS]
    assert {(e.requester, e.role, e.occurred_at) for e in staged} == {
        ("coord", "coordinator", NOW), ("cds", "coordinator", NOW)}
    assert not any("MRN-" in e.model_dump_json() for e in staged)


async def test_a_normaliser_defect_is_refused_as_unreadable_never_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise ZeroDivisionError

    monkeypatch.setattr("services.intake.core.formats.fhir_r4.normalise_fhir", broken)
    uow = FakeUnitOfWork()
    with pytest.raises(NormaliserDefect) as refused:
        await accept(submission(platelets("o1", "p-1")), uow, clock)
    assert refused.value.status == 422
    assert (refused.value.format_name, refused.value.error_type) == ("fhir-r4",
                                                                     "ZeroDivisionError")
    assert [p.path for p in refused.value.problems] == ["$"]
    assert uow.commits == 0


class RunsWorkUnitOfWork(FakeUnitOfWork):
    """A ``RunsWork`` transaction (as intake's SQLite group commit): counts the transactions
    given to it whole (``run``) and those opened as a context (``__call__``) by use cases."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0
        self.opened = 0

    async def run(self, work: Any) -> Any:
        self.runs += 1
        async with super().__call__() as store:
            return await work(store)

    def __call__(self) -> Any:
        self.opened += 1
        return super().__call__()


async def test_a_lookup_and_a_reidentification_are_handed_to_the_group_commit_whole() -> None:
    """Issue 14 hostile probe: under load intake's POST /patients/lookup took up to 8.3 s
    (p50 167 ms; CDS Hooks gives it 3 s): it ran as an async group member (every statement a
    hand-off to aiosqlite's thread, members one after another under the group's lock,
    holding SQLite's write turn), while accepted updates are run whole in the group commit's thread
    (``RunsWork``). Look-ups and re-identifications now are too: one hand-off per group."""
    uow = RunsWorkUnitOfWork()
    [key] = await keys(uow, oru("MRN-1", "MSG-1"), HL7)
    before = (uow.runs, uow.opened)
    entry = Reidentification(patient_key="", client="cds", role="coordinator",
                             reason="lookup: order entry", at=NOW)
    assert await look_up(SourceIdentity("lab-system", "MRN-1"), entry, uow) == key
    assert await reidentify(Reidentification(patient_key=key, client="coord",
                                             role="coordinator", reason="screening visit",
                                             at=NOW, trial="NCT0001"), uow) == \
        SourceIdentity("lab-system", "MRN-1")
    assert (uow.runs - before[0], uow.opened - before[1]) == (2, 0)  # each whole, via run
    assert [found for _, found in uow.committed.access_log] == [True, True]
