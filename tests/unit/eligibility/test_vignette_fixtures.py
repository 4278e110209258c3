"""The committed example bundles under tests/fixtures/vignettes are the builder's output.

They exist so a person can run the CLI by hand:
``trialwatch evaluate --trial NCT06920433 --bundle tests/fixtures/vignettes/eligible.json
--at 2026-03-01T09:00:00Z`` (``eligible-all-three-trials.json`` with each of the three trials).
Regenerate: ``python -m tests.unit.eligibility.test_vignette_fixtures``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.unit.eligibility.fhir_builder import LOINC, TW, eligible_patient
from tests.unit.eligibility.more_trials import eligible_for_all

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vignettes"


def examples() -> dict[str, dict[str, Any]]:
    return {
        "eligible.json": eligible_patient().bundle("transaction"),
        "missing-platelets.json": eligible_patient().without(LOINC, "777-3").bundle(),
        "no-investigator-review.json": eligible_patient()
        .without(TW, "investigator-deems-unsuitable")
        .bundle("searchset"),
        # eligible for NCT06920433, NCT06946485 and TRIALX-323795 at 2026-03-01T09:00:00Z
        "eligible-all-three-trials.json": eligible_for_all().bundle("transaction"),
        "cht101-inr-too-high.json": eligible_for_all().without(LOINC, "6301-6")
        .lab("6301-6", 1.9, "1").bundle(),
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def test_the_committed_example_bundles_are_up_to_date() -> None:
    for name, document in examples().items():
        assert (FIXTURES / name).read_text(encoding="utf-8") == render(document), name


if __name__ == "__main__":
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, document in examples().items():
        (FIXTURES / name).write_text(render(document), encoding="utf-8")
