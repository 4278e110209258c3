"""DecisionMade events built directly from the decision contracts, for the audit tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    Demographics,
    FactKind,
    PatientFacts,
    Provenance,
    Quantity,
    Sex,
)
from shared.contracts.events import DecisionMade, PatientSnapshot
from shared.eligibility.decision import (
    CriterionKind,
    CriterionResult,
    Decision,
    Evidence,
    Outcome,
    Status,
    TrialRef,
    overall_status,
)
from shared.hashing import content_hash
from shared.infra.signing import EventSigner

BASE_TIME = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
# A fixed test key stands in for the evaluator's: audit services under test trust its public
# half (write_test_decision_key), so test decisions are accepted the way real ones are.
TEST_DECISION_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TEST_SIGNER = EventSigner(TEST_DECISION_KEY)


def write_test_decision_key(folder: Path) -> Path:
    """The test key's public half as a PEM file in ``folder``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "test-evaluator.pub.pem"
    path.write_bytes(TEST_DECISION_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def signed(event: DecisionMade, signer: EventSigner = TEST_SIGNER) -> DecisionMade:
    """The event as the evaluator publishes it: with its signature."""
    return DecisionMade.model_validate(signer.signed(event.model_dump(mode="json")))
TRIAL = TrialRef(id="NCT06920433", version="2025-04-01")


def snapshot(egfr: float = 72.0) -> PatientFacts:
    provenance = Provenance(source_system="lab", format="fhir-r4", resource="Observation/egfr-1")
    return PatientFacts(
        demographics=Demographics(birth_date=date(1961, 5, 2), sex=Sex.FEMALE),
        facts=(ClinicalFact(
            fact_id="fact-egfr-1", kind=FactKind.OBSERVATION,
            codes=(Coding(system="http://loinc.org", code="33914-3"),),
            status="final", effective_start=BASE_TIME - timedelta(days=3),
            value_quantity=Quantity(value=egfr, unit="mL/min/{1.73_m2}"),
            provenance=provenance),),
    )


def decision(as_of: datetime = BASE_TIME, egfr_outcome: Outcome = Outcome.PASS,
             trial: TrialRef = TRIAL) -> Decision:
    criteria = (
        CriterionResult(id="I1", kind=CriterionKind.INCLUSION, outcome=Outcome.PASS,
                        reason="age 65 >= 18",
                        evidence=(Evidence(fact_id="demographics", value=65, unit="a"),)),
        CriterionResult(
            id="I4", kind=CriterionKind.INCLUSION, outcome=egfr_outcome,
            reason="eGFR 72 mL/min/1.73m2 >= 30" if egfr_outcome is not Outcome.UNKNOWN
            else "no eGFR in the last 28 days",
            evidence=(Evidence(fact_id="fact-egfr-1", resource="Observation/egfr-1",
                               code="http://loinc.org|33914-3", value=72.0,
                               unit="mL/min/{1.73_m2}", effective=BASE_TIME),)
            if egfr_outcome is not Outcome.UNKNOWN else (),
            missing=("eGFR (LOINC 33914-3) within 28 days",)
            if egfr_outcome is Outcome.UNKNOWN else ()),
    )
    return Decision(trial=trial, as_of=as_of,
                    status=overall_status([c.outcome for c in criteria]),
                    criteria=criteria, engine_version="test-engine-1")


def decision_event(patient_key: str = "pk_test", index: int = 0,
                   egfr_outcome: Outcome = Outcome.PASS, as_of: datetime | None = None,
                   trial: TrialRef = TRIAL, previous_status: Status | None = None,
                   signer: EventSigner | None = TEST_SIGNER,
                   site: str | None = None) -> DecisionMade:
    """A decision event signed with ``signer`` (the test key; None: unsigned), of a patient
    of ``site`` (None: no site)."""
    as_of = as_of or BASE_TIME + timedelta(minutes=index)
    facts = snapshot(egfr=72.0 + (index % 3))
    event = DecisionMade(
        event_id=uuid.uuid4(),
        occurred_at=as_of + timedelta(milliseconds=120),
        recorded_at=as_of + timedelta(milliseconds=130),
        source="evaluator",
        patient_key=patient_key,
        causation_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        decision_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{patient_key}/{index}/{trial.id}"),
        state_version=index + 1,
        evaluator_version="test-evaluator-1",
        decision=decision(as_of, egfr_outcome, trial),
        previous_status=previous_status,
        snapshot_hash=content_hash(facts),
        snapshot=facts,
        site=site,
    )
    return event if signer is None else signed(event, signer)


def snapshot_and_decision(patient_key: str = "pk_test", index: int = 0,
                          signer: EventSigner | None = TEST_SIGNER,
                          ) -> tuple[PatientSnapshot, DecisionMade]:
    """As the evaluator publishes now: the input as a PatientSnapshot, then a decision (schema
    version 2) referencing it by hash; both signed with ``signer`` (None: unsigned)."""
    old = decision_event(patient_key, index, signer=None)
    assert old.snapshot is not None
    sent = PatientSnapshot(
        event_id=uuid.uuid4(), occurred_at=old.occurred_at, recorded_at=old.recorded_at,
        source="evaluator", patient_key=patient_key, correlation_id=old.correlation_id,
        state_version=old.state_version, snapshot_hash=old.snapshot_hash, snapshot=old.snapshot)
    made = old.model_copy(update={"snapshot": None, "schema_version": 2})
    if signer is None:
        return sent, made
    return (PatientSnapshot.model_validate(signer.signed(sent.model_dump(mode="json"))),
            signed(made, signer))
