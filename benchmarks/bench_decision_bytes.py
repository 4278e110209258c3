"""Bytes one evaluated event puts on ``eligibility.decisions.v1``, before and after the snapshot
went by reference, with and without producer compression (issue 14).

The patient is ``bench_engine.realistic_patient()`` (the eligible vignette merged with a Synthea
bundle, 248 facts, or synthetic vitals without ../shared/data), screened by the real criteria
engine against every shipped active trial (3). Two event shapes are built from the same
decisions:

- before: one ``DecisionMade`` per trial, each carrying the whole snapshot (schema version 1,
  unsigned, as published until this change);
- after: one ``PatientSnapshot`` plus one ``DecisionMade`` per trial referencing it by hash
  (schema version 2), each signed as the evaluator signs them.

Bytes are those of the Kafka record batches (magic 2, the format the broker stores and the
wire carries), built with aiokafka's own batch builder: the evaluator publishes one message at
a time (it awaits each acknowledgement to keep a patient's order), so each message is its own
batch, compressed on its own. Run:

    .venv/bin/python benchmarks/bench_decision_bytes.py
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from aiokafka.record.default_records import (  # noqa: E402
    DefaultRecordBatch,
    DefaultRecordBatchBuilder,
)
from bench_engine import realistic_patient  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from faststream.message.utils import encode_message  # noqa: E402

from services.evaluator.adapters.criteria_engine import CriteriaEngineScreener  # noqa: E402
from services.evaluator.core import decisions  # noqa: E402
from shared.eligibility.loader import TRIALS_DIR  # noqa: E402
from shared.hashing import content_hash  # noqa: E402
from shared.infra.signing import EventSigner  # noqa: E402
from tests.unit.eligibility.fhir_builder import AS_OF  # noqa: E402

CODECS = {"none": DefaultRecordBatch.CODEC_NONE, "gzip": DefaultRecordBatch.CODEC_GZIP}


def batch_bytes(key: bytes, value: bytes, codec: int) -> int:
    builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 16 * 1024 * 1024)
    builder.append(0, int(time.time() * 1000), key, value, [])
    return len(builder.build())


def messages() -> tuple[int, int, dict[str, list[bytes]]]:
    patient = realistic_patient()
    screener = CriteriaEngineScreener(TRIALS_DIR)
    trials = screener.active_trials()
    snapshot_hash = content_hash(patient)
    signer = EventSigner(Ed25519PrivateKey.generate())
    now, correlation = datetime.now(UTC), uuid.uuid4()
    made = [decisions.decision_made(
        patient_key="pk_bench", state_version=7, decision=screener.evaluate(t, patient, AS_OF),
        snapshot=patient, previous_status=None, causation_id=uuid.uuid4(),
        correlation_id=correlation, recorded_at=now, snapshot_hash=snapshot_hash,
        trial_content_hash=screener.content_hash(t)) for t in trials]
    before = [_encoded(m.model_copy(update={"schema_version": 1, "snapshot": patient})
                       .model_dump(mode="json")) for m in made]
    sent = decisions.patient_snapshot(
        patient_key="pk_bench", state_version=7, snapshot=patient, snapshot_hash=snapshot_hash,
        as_of=AS_OF, causation_id=None, correlation_id=correlation, recorded_at=now)
    after = [_encoded(signer.signed(e.model_dump(mode="json"))) for e in (sent, *made)]
    return len(patient.facts), len(trials), {"before": before, "after": after}


def _encoded(payload: dict[str, object]) -> bytes:
    """The bytes FastStream publishes for the outbox's JSON payload (what the broker gets)."""
    return encode_message(payload, None)[0]


def main() -> None:
    facts, trials, shapes = messages()
    print(f"one evaluated event: patient with {facts} facts, {trials} active trials")
    print(f"{'shape':<8}{'messages':>9}{'largest message':>17}"
          + "".join(f"{'topic bytes, ' + c:>22}" for c in CODECS))
    figures: dict[tuple[str, str], int] = {}
    for shape, values in shapes.items():
        row = f"{shape:<8}{len(values):>9}{max(map(len, values)):>17,}"
        for name, codec in CODECS.items():
            total = sum(batch_bytes(b"pk_bench", v, codec) for v in values)
            figures[(shape, name)] = total
            row += f"{total:>22,}"
        print(row)
    base = figures[("before", "none")]
    for (shape, name), total in figures.items():
        print(f"  {shape}, {name}: {total / base:6.1%} of before/none")


if __name__ == "__main__":
    main()
