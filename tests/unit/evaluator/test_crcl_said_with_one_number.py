"""One creatinine clearance is written with one number (fresh user ux, run --demo).

Before: the demo's eligible patient (woman, 36 years, 60 kg, serum creatinine 0.9 mg/dL:
Cockcroft-Gault (140 - 36) x 60 / (72 x 0.9) x 0.85 = 81.85185 mL/min) showed "Cockcroft-Gault
creatinine clearance 81.8 mL/min (computed, to 0.1 mL/min)" as evidence and "CrCl 81.9 mL/min"
in the reasoning under it: the evidence was rounded again from the 0.01 the decision stores
(81.85, a binary float just under 81.85), the reasoning from the unrounded value. The decision
now stores the clearance as the engine says it (to 0.1 mL/min), so every page writes the same
number; the comparison with the protocol's limit still uses the unrounded value."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from services.evaluator.adapters.http.ui.views import patient_context
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import AS_OF, LOINC, eligible_patient


def test_the_i6_3_row_says_the_clearance_with_one_number() -> None:
    # 35 years at AS_OF, 42.0 kg: (140 - 35) x 42 / (72 x 0.9) x 0.85 = 57.847 mL/min, stored
    # to 0.01 as 57.85 and shown again to 0.1 as 57.9 beside the reasoning's 57.8 (as 81.85185
    # was shown 81.8 beside 81.9 for the demo's patient)
    builder = eligible_patient().without(LOINC, "29463-7").lab("29463-7", 42.0, "kg")
    facts = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    decision = evaluate(load_trial("NCT06920433", "2025-11-14.4"), facts, AS_OF)
    row = next(c for c in patient_context(decision, ZoneInfo("UTC"))["criteria"]
               if c.id == "I6.3")
    said = " ".join([*row.evidence, row.reason])
    numbers = set(re.findall(r"(\d+\.\d) mL/min", said)) - {"0.1"}  # "to 0.1 mL/min"
    assert numbers == {"57.8"}, said
    crcl = next(e for c in decision.criteria if c.id == "I6.3" for e in c.evidence
                if e.code == "trialwatch|crcl-cockcroft-gault")
    assert crcl.value == 57.8
