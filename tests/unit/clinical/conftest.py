from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures"
SHARED_DATA = REPO / ".." / "shared" / "data"
# The handout's lab messages are sent as MSH-11 T (training, HL7 v2.5.1 table 0103; ORU-R01-
# RMGEAD as P): the tests reading them accept a test feed explicitly, as a site does with
# INTAKE_HL7V2_PROCESSING_IDS=P,T (the default, P, refuses them at MSH.11).
HANDOUT_PROCESSING_IDS = frozenset({"P", "T"})


def load_fhir_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "fhir" / name).read_text("utf-8"))


def shared_data(subdir: str) -> Path:
    folder = SHARED_DATA / subdir
    if not folder.is_dir():
        pytest.skip(f"shared data {folder} not present")
    return folder


def lab_oru(name: str) -> bytes:
    """The handout's LAB-ORU-1/2 with PID-30 written as HL7 table 0136 codes.

    That feed writes its death indicator as the word ``NO`` (``NO `` in LAB-ORU-2), which table
    0136 (Y/N, v2.5.1 3.4.2.30) does not define, so the message as sent is refused at
    ``PID[1].30`` (``test_real_data``). A site receiving it maps the word to ``N`` in its
    interface engine; the tests that exercise the rest of these messages read them so mapped.
    """
    data = (shared_data("hl7v2") / name).read_bytes()
    segments = data.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")
    mapped = []
    for segment in segments:
        if segment.startswith(b"PID|"):
            fields = segment.split(b"|")
            assert fields[30].strip() == b"NO", fields[30]
            fields[30] = b"N"
            segment = b"|".join(fields)
        mapped.append(segment)
    return b"\r".join(mapped)
