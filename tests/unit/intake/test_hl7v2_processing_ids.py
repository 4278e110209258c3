"""Intake's ``INTAKE_HL7V2_PROCESSING_IDS``: the HL7 v2 processing ids (MSH-11.1, HL7 v2.5.1
table 0103) this site reads, default ``P`` only. The probe's case: a training message's
platelet count of 180 must not reach the patient's record (the receipt refuses it at MSH.11)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.adapters.messaging import RawIntakeHandler
from services.intake.core.accept import Submission, prepare
from services.intake.core.media import MediaType
from services.intake.core.refusals import InvalidClinicalInput
from shared.settings import IntakeSettings
from tests.unit.intake.conftest import NOW
from tests.unit.intake.fakes import FakeUnitOfWork
from tests.unit.intake.test_handlers import FakeDeadLetters, Record

HL7 = MediaType("hl7v2", "utf-8")


def _oru(processing_id: str) -> bytes:
    return ("\r".join([
        f"MSH|^~\\&|LIS|CITY-LAB|TW|TW|20261128090000+0000||ORU^R01^ORU_R01|C-1|{processing_id}"
        "|2.5.1",
        "PID|1||MRN-7^^^CITY^MR||Roe^Jane||19900412|F",
        "OBR|1|PLC-1|FIL-1|58410-2^CBC panel^LN|||20261128073000+0000",
        "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400||||F|||20261128073000+0000",
    ]) + "\r").encode()


def test_the_default_accepts_production_only() -> None:
    assert IntakeSettings().hl7v2_processing_id_set() == frozenset({"P"})
    assert Submission(body=b"", media=HL7, client="lab", received_at=NOW).processing_ids == (
        frozenset({"P"}))


def test_the_setting_is_read_as_a_set() -> None:
    settings = IntakeSettings(hl7v2_processing_ids=" P , T ")
    assert settings.hl7v2_processing_id_set() == frozenset({"P", "T"})


@pytest.mark.parametrize("value", ["", "X", "P,Q", "p", " , "])
def test_a_value_table_0103_does_not_define_stops_intake_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="table 0103"):
        IntakeSettings(hl7v2_processing_ids=value)


def test_by_default_a_training_message_is_refused_at_msh_11() -> None:
    submission = Submission(body=_oru("T"), media=HL7, client="lab", received_at=NOW)
    with pytest.raises(InvalidClinicalInput) as refused:
        prepare(submission)
    assert [p.path for p in refused.value.problems] == ["MSH.11"]
    assert "INTAKE_HL7V2_PROCESSING_IDS lists P" in refused.value.problems[0].reason


def test_with_p_and_t_set_a_training_message_is_read() -> None:
    ids = IntakeSettings(hl7v2_processing_ids="P,T").hl7v2_processing_id_set()
    submission = Submission(body=_oru("T"), media=HL7, client="lab", received_at=NOW,
                            processing_ids=ids)
    [update] = prepare(submission).normalised.updates
    assert [f.value_quantity.value for f in update.facts if f.value_quantity] == [180]
    assert all(f.unread is None for f in update.facts)


def _raw(uow: FakeUnitOfWork, dead: FakeDeadLetters,
         ids: frozenset[str] | None) -> RawIntakeHandler:
    if ids is None:  # as bootstrap builds it without the setting: the default
        return RawIntakeHandler(uow, dead, lambda: NOW,  # type: ignore[arg-type]
                                default_source="raw-feed", max_body_bytes=10_000)
    return RawIntakeHandler(uow, dead, lambda: NOW,  # type: ignore[arg-type]
                            default_source="raw-feed", max_body_bytes=10_000, processing_ids=ids)


async def test_on_the_raw_topic_a_training_message_is_dead_lettered_at_msh_11() -> None:
    uow, dead = FakeUnitOfWork(), FakeDeadLetters()
    await _raw(uow, dead, None).handle(Record(_oru("T")), {"content-type": "text/plain"})
    [(_, reason)] = dead.sent
    assert reason.startswith("422")
    assert "MSH.11" in reason
    assert uow.committed.outbox == []


async def test_on_the_raw_topic_the_setting_reads_a_training_message() -> None:
    uow, dead = FakeUnitOfWork(), FakeDeadLetters()
    await _raw(uow, dead, frozenset({"P", "T"})).handle(
        Record(_oru("T")), {"content-type": "text/plain"})
    assert dead.sent == []
    assert len(uow.committed.outbox) == 1
