"""Intake's screened codes follow the evaluator's trial registry (``trials.screening.v1``).

Before, intake knew only the trial files of ``INTAKE_TRIALS_DIR``: a version uploaded and
activated through ``POST /trials`` was not seen until a restart, so a receipt called its codes
"not screened by any criterion" (an eGFR result, LOINC 33914-3, read by no shipped trial), and a
retired trial's codes still counted as screened (TRIALX-323795 retired: ICD-10-CM I45.81 long QT,
read by no other trial, got no warning). Now the evaluator stages each registry change's
``TrialScreening`` record (the version and the codes its criteria read) and intake applies it:
here the evaluator's record builder and intake's adapter, on the real shipped trials, with no
broker (the broker path: tests/e2e/test_trial_registry_screening.py).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog.testing
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from services.evaluator.adapters.sql import trial_registry
from services.evaluator.adapters.sql.amendments import screening_message
from services.evaluator.adapters.sql.trial_registry import Change
from services.intake.adapters.trial_codes import RegistryScreenedCodes, verified
from shared.clinical.facts import Coding, FactKind
from shared.contracts.events import TrialScreening
from shared.contracts.topics import TRIAL_SCREENING
from shared.eligibility.decision import TrialRef
from shared.eligibility.reads import trial_read_codes
from shared.eligibility.reference_tables import load_tables
from shared.eligibility.trial_text import compile_text, content_hash
from shared.infra.signing import EventSigner, TrustedKeys

LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
EGFR = (Coding(system=LOINC, code="33914-3"),)
LONG_QT = (Coding(system=ICD10CM, code="I45.81"),)
PLATELETS = (Coding(system=LOINC, code="777-3"),)
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "trials"
EGFR_TRIAL = (FIXTURE / "TEST-EGFR-2026-12-03.1.yaml").read_text(encoding="utf-8")
AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def _change(trial: TrialRef, action: str, at: datetime = AT) -> Change:
    return Change(str(uuid.uuid4()), at, "api:admin", action, trial, content_hash(EGFR_TRIAL))


def _record(change: Change, state: str) -> TrialScreening:
    reads = trial_read_codes(compile_text(EGFR_TRIAL, load_tables()))
    message = screening_message(change, state, reads)
    assert message.topic == TRIAL_SCREENING
    assert message.key == change.trial.id
    return TrialScreening.model_validate(message.payload)


def test_a_version_activated_in_the_registry_is_screened_without_a_restart() -> None:
    codes = RegistryScreenedCodes()
    assert not codes.reads(FactKind.OBSERVATION, EGFR), "no shipped trial reads eGFR"
    trial = TrialRef(id="TEST-EGFR", version="2026-12-03.1")
    record = _record(_change(trial, "activate"), trial_registry.ACTIVE)
    assert "http://loinc.org|33914-3" in record.codes
    assert codes.apply(record)
    assert codes.reads(FactKind.OBSERVATION, EGFR)
    assert codes.reads(FactKind.OBSERVATION, PLATELETS), "the folder's trials still count"
    assert "TEST-EGFR" in codes.trial_ids


def test_a_retired_or_deactivated_trial_no_longer_counts_as_screened() -> None:
    codes = RegistryScreenedCodes()
    assert codes.reads(FactKind.CONDITION, LONG_QT)  # TRIALX-323795 E2, from the folder
    retired = _change(TrialRef(id="TRIALX-323795", version="2025-12-01.5"), "retire")
    record = _record(retired, trial_registry.RETIRED)
    assert record.codes == []
    assert record.prefixes == []
    codes.apply(record)
    assert not codes.reads(FactKind.CONDITION, LONG_QT)
    assert codes.reads(FactKind.OBSERVATION, PLATELETS), "other trials still read platelets"
    trial = TrialRef(id="TEST-EGFR", version="2026-12-03.1")
    codes.apply(_record(_change(trial, "activate"), trial_registry.ACTIVE))
    codes.apply(_record(_change(trial, "deactivate", AT + timedelta(minutes=1)),
                        trial_registry.INACTIVE))
    assert not codes.reads(FactKind.OBSERVATION, EGFR)


def test_an_older_record_never_undoes_a_newer_change() -> None:
    """The evaluator re-stages each trial's current state at its start; should that record
    reach the topic after a newer change, the newer change stands (``at`` decides)."""
    codes = RegistryScreenedCodes()
    trial = TrialRef(id="TEST-EGFR", version="2026-12-03.1")
    codes.apply(_record(_change(trial, "deactivate", AT + timedelta(minutes=1)),
                        trial_registry.INACTIVE))
    assert not codes.apply(_record(_change(trial, "activate", AT), trial_registry.ACTIVE))
    assert not codes.reads(FactKind.OBSERVATION, EGFR)


def test_the_record_is_deterministic_from_its_change() -> None:
    """Staged with the change and again at the evaluator's start: one outbox row (same id)."""
    trial = TrialRef(id="TEST-EGFR", version="2026-12-03.1")
    change = _change(trial, "activate")
    reads = trial_read_codes(compile_text(EGFR_TRIAL, load_tables()))
    first = screening_message(change, trial_registry.ACTIVE, reads)
    again = screening_message(change, trial_registry.ACTIVE, reads)
    assert first.message_id == again.message_id
    assert first.payload == again.payload
    assert first.message_id == first.payload["event_id"]  # the outbox's published-scan id


def test_a_trial_that_is_not_screened_carries_no_codes() -> None:
    with pytest.raises(ValidationError):
        TrialScreening(event_id=uuid.uuid4(), trial_id="X", version="1", state="retired",
                       content_hash="sha256:0", change_id=uuid.uuid4(), at=AT,
                       codes=["http://loinc.org|33914-3"])
    with pytest.raises(ValidationError):
        TrialScreening(event_id=uuid.uuid4(), trial_id="X", version="1", state="active",
                       content_hash="sha256:0", change_id=uuid.uuid4(), at=AT,
                       codes=["33914-3"])  # no system


def _signed(record: TrialScreening, signer: EventSigner) -> bytes:
    return json.dumps(signer.signed(record.model_dump(mode="json"))).encode()


def test_only_a_record_a_trusted_evaluator_key_signed_is_taken() -> None:
    """Intake's check of ``trials.screening.v1`` (the broker path, forged records produced
    onto the topic: tests/e2e/test_trial_registry_screening.py)."""
    evaluator, retired, foreign = (EventSigner(Ed25519PrivateKey.generate()) for _ in range(3))
    keys = TrustedKeys.of([evaluator.load().public_key()], [retired.load().public_key()])
    trial = TrialRef(id="TEST-EGFR", version="2026-12-03.1")
    record = _record(_change(trial, "activate"), trial_registry.ACTIVE)
    genuine = _signed(record, evaluator)
    altered = genuine.replace(b'"codes": [', b'"codes": ["http://loinc.org|2160-0", ', 1)
    assert altered != genuine
    with structlog.testing.capture_logs() as logs:
        taken = {name: verified(value, keys, partition=0, offset=7) for name, value in {
            "genuine": genuine, "unsigned": record.model_dump_json().encode(),
            "foreign": _signed(record, foreign), "retired": _signed(record, retired),
            "altered": altered, "not a record": b"{}"}.items()}
    accepted = taken["genuine"]
    assert accepted is not None
    assert accepted.model_copy(update={"signature": None}) == record
    assert [name for name, event in taken.items() if event is not None] == ["genuine"]
    refusals = [entry.get("refusal") for entry in logs]
    assert refusals == ["missing", "unknown-key", "retired-key", "invalid", None]
    assert all(entry["offset"] == 7 for entry in logs)
    assert "33914-3" not in repr(logs)  # no excerpt of the record
    assert "TEST-EGFR" not in repr(logs)
