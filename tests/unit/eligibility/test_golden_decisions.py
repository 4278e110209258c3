"""Every decision is byte-for-byte the one the engine gave before it was optimised.

Full evaluation, evaluation on a pre-built index, and incremental re-evaluation over a series of
instants all reproduce the golden JSON (``tests/fixtures/golden_decisions``, see ``golden.py``).
"""

from __future__ import annotations

import difflib
import json

import pytest

from shared.eligibility.engine import build_index, evaluate, evaluate_incremental
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.golden import (
    Patient,
    golden_json,
    read_golden,
    synthea_bundles,
    synthea_patients,
    vignette_patients,
)

TRIAL = load_trial("NCT06920433", "2025-11-14.1")


def _difference(expected: str, actual: str) -> str:
    lines = difflib.unified_diff(
        json.dumps(json.loads(expected), indent=1).splitlines(),
        json.dumps(json.loads(actual), indent=1).splitlines(),
        lineterm="",
        n=1,
    )
    return "\n".join(list(lines)[:40])


def _check(patients: list[Patient], golden: dict[str, str]) -> int:
    checked = 0
    for patient in patients:
        index = build_index(TRIAL, patient.facts)
        state = None
        for moment in patient.instants:
            expected = golden[patient.case(moment)]
            full = golden_json(evaluate(TRIAL, patient.facts, moment))
            assert full == expected, _difference(expected, full)
            decision, state = evaluate_incremental(TRIAL, index, moment, state)
            incremental = golden_json(decision)
            assert incremental == expected, _difference(expected, incremental)
            checked += 1
    assert checked == len(golden)
    return checked


def test_every_vignette_decision_is_unchanged_at_every_instant() -> None:
    _check(list(vignette_patients()), read_golden("vignettes"))


@pytest.mark.skipif(not synthea_bundles(), reason="../shared/data/fhir-synthea is not here")
def test_every_synthea_decision_is_unchanged() -> None:
    _check(list(synthea_patients()), read_golden("synthea"))
