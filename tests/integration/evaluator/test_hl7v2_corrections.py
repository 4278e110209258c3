"""HL7 v2 result status on the real broker and database: a C result replaces the F one of the
same order and observation (v2.5.1 table 0085), and the original re-sent afterwards (a replayed
interface queue) does not undo the correction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.clinical.hl7v2 import parse_hl7v2
from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import (
    collect,
    evaluator_in_process,
    fresh_settings,
    publish,
    until,
)
from tests.unit.evaluator.fakes import OneLabScreener, patient_updated

pytestmark = pytest.mark.integration


def _hl7_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def _oru(control: str, sent: datetime, value: str, status: str, observed: datetime) -> str:
    # the test trial's lab (urn:trialwatch:test|lab), sent as a lab system sends a result
    return "\r".join([
        f"MSH|^~\\&|LIS|CITY-LAB|TW|TW|{_hl7_time(sent)}||ORU^R01^ORU_R01|{control}|P|2.5.1",
        "PID|1||MRN-7^^^CITY^MR||Roe^Jane||19900101|F",
        f"OBR|1|PLC-1|FIL-1|lab-panel^Test panel^urn:trialwatch:test|||{_hl7_time(observed)}",
        # OBX-11 is the result status (v2.5.1 7.4.2.11; it was sent in OBX-10 before)
        f"OBX|1|NM|lab^Test lab^urn:trialwatch:test||{value}|1|||||{status}|||"
        f"{_hl7_time(observed)}",
    ]) + "\r"


async def test_a_corrected_result_replaces_the_final_one_and_a_late_resend_does_not_undo_it(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator", timer_poll_interval_s=0.2)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    observed = now - timedelta(days=1)
    final = _oru("M-1", now - timedelta(hours=2), "150", "F", observed)
    corrected = _oru("M-2", now - timedelta(hours=1), "15", "C", observed)

    def event(message: str):  # type: ignore[no-untyped-def]
        (update,) = parse_hl7v2(message)
        return patient_updated(patient, update.facts, now)

    async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
            collect(kafka_settings, [patient]) as seen:
        await publish(kafka_settings, [event(final)])
        assert await until(lambda: len(seen.decisions) == 1, 20)
        assert seen.decisions[0].decision.criteria[0].reason == "test lab 150.0 >= 100.0"
        await publish(kafka_settings, [event(corrected)])
        assert await until(lambda: len(seen.decisions) == 2, 20)
        assert seen.decisions[1].decision.criteria[0].reason == "test lab 15.0 < 100.0"
        await publish(kafka_settings, [event(final)])
        await until(lambda: False, 2.0)  # a decision for the re-sent original would arrive now

    assert all(d.decision.criteria[0].reason == "test lab 15.0 < 100.0"
               for d in seen.decisions[1:])
