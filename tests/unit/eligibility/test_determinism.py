"""A decision does not depend on the interpreter's hash seed (the audit trail replays it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCRIPT = """
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import AS_OF, eligible_patient
b = eligible_patient().lab("777-3", 150, "10*9/L", days=3).lab("26515-7", 140, "10*9/L", days=3)
patient = facts_from_updates(parse_fhir(b.bundle(), source_system="seed"))
print(evaluate(load_trial("NCT06920433"), patient, AS_OF).model_dump_json())
"""


def _run(seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_two_hash_seeds_give_the_same_decision_json() -> None:
    assert _run("1") == _run("2")
