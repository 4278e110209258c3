"""A birth date after the record arrived is refused at its path (issue 14 hostile probe).

benchmarks/hostile_pipeline.py (2026-12-03) posted Patient.birthDate "9999-12-31": intake
accepted it (a FHIR R4 date allows years 0001-9999) and the engine read an age of -7974 years.
A person is born before their record is sent: a day that had not begun anywhere (UTC+14:00)
when TrialWatch received the record is refused at Patient.birthDate (FHIR R4) / PID-7 (HL7
v2.5.1 3.4.2.7). The day itself in the earliest zone is still read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "intake"
RECEIVED = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)  # 22:00 on 3 Dec at UTC+14:00


def fhir_with(birth_date: str) -> bytes:
    bundle = json.loads((FIXTURES / "bundle_patient_observation.json").read_text("utf-8"))
    bundle["entry"][0]["resource"]["birthDate"] = birth_date
    return json.dumps(bundle).encode()


def hl7_with(birth: str) -> bytes:
    message = (FIXTURES / "oru_hemoglobin.hl7").read_bytes()
    return message.replace(b"|19900402|", f"|{birth}|".encode())


@pytest.mark.parametrize("birth_date", ["9999-12-31", "2026-12-04", "2027-01-01"])
def test_a_fhir_birth_date_after_receipt_is_refused_at_its_path(birth_date: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_fhir(fhir_with(birth_date), source_system="ehr", received_at=RECEIVED)
    [problem] = [p for p in refused.value.problems if p.path.endswith(".birthDate")]
    assert "after the day this record was received" in problem.reason


@pytest.mark.parametrize("birth", ["99991231", "20261204"])
def test_an_hl7_pid_7_after_receipt_is_refused_at_its_path(birth: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_hl7v2(hl7_with(birth), source_system="lab", received_at=RECEIVED)
    [problem] = [p for p in refused.value.problems if p.path == "PID[1].7"]
    assert "after the day this record was received" in problem.reason


def test_a_birth_on_the_day_of_receipt_somewhere_is_read() -> None:
    # 3 Dec 2026 had begun at UTC+14:00 at 08:00Z; neither raises
    assert parse_fhir(fhir_with("2026-12-03"), source_system="ehr", received_at=RECEIVED)
    assert parse_hl7v2(hl7_with("20261203"), source_system="lab", received_at=RECEIVED)
    # without an arrival time nothing is compared
    assert parse_fhir(fhir_with("9999-12-31"), source_system="ehr")
