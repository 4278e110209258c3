"""The 24 Synthea R4 bundles evaluate without error, and none of them comes out eligible."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome, Status
from shared.eligibility.engine import DECEASED_ID, evaluate
from shared.eligibility.loader import load_trial

SYNTHEA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "fhir-synthea"
BUNDLES = sorted(SYNTHEA.glob("*.json")) if SYNTHEA.is_dir() else []
AS_OF = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.skipif(not BUNDLES, reason="../shared/data/fhir-synthea is not on this machine")
@pytest.mark.parametrize("path", BUNDLES, ids=[p.name[:24] for p in BUNDLES])
def test_a_synthea_bundle_evaluates_and_is_not_eligible(path: Path) -> None:
    trial = load_trial("NCT06920433")
    updates = parse_fhir(json.loads(path.read_text(encoding="utf-8")), source_system="synthea")
    decision = evaluate(trial, facts_from_updates(updates), AS_OF)
    # issue 9 kind 7: a deceased patient's decision starts with the PATIENT-DECEASED exclusion
    deceased = bool(decision.criteria) and decision.criteria[0].id == DECEASED_ID
    assert len(decision.criteria) == len(trial.criteria) + deceased
    assert decision.status is not Status.ELIGIBLE
    undecided = [c for c in decision.criteria if c.outcome is Outcome.UNKNOWN]
    assert all(c.missing for c in undecided)


def test_the_synthea_folder_has_the_expected_bundles_when_present() -> None:
    if not BUNDLES:
        pytest.skip("../shared/data/fhir-synthea is not on this machine")
    assert len(BUNDLES) == 24
