"""A criterion row names each drug (each finding) once (brief ux: "the E11 row still names the
drugs twice").

Before: NCT06920433 E11 listed "methotrexate 24 Feb, washout ended 26 Feb 2026" as evidence and
then, in the reasoning under it, "methotrexate last 24 Feb 2026: washout ended 26 Feb 2026" again,
for every drug and for the clinician's reconciled-history statement. The reasoning now keeps only
what the evidence list does not already say."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from services.evaluator.adapters.http.ui.views import patient_context
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import AS_OF, eligible_patient


def _rows(builder) -> dict[str, object]:  # type: ignore[no-untyped-def]
    trial = load_trial("NCT06920433", "2025-11-14.4")
    decision = evaluate(trial, facts_from_updates(parse_fhir(builder.bundle(),
                                                             source_system="ehr")), AS_OF)
    return {c.id: c for c in patient_context(decision, ZoneInfo("UTC"))["criteria"]}


def test_the_e11_row_names_each_drug_once() -> None:
    builder = eligible_patient()                                   # mycophenolate mofetil
    builder.medication("1657865", start_days=100, end_days=40)     # rituximab 10 MG/ML Injection
    builder.medication("105585", start_days=100, end_days=5)       # methotrexate 2.5 MG tablet
    e11 = _rows(builder)["E11"]
    assert e11.outcome == Outcome.FAIL.value
    row = " ".join([*e11.evidence, e11.reason, *e11.missing])
    for drug in ("rituximab", "methotrexate", "mycophenolate mofetil"):
        assert len(re.findall(rf"\b{drug}\b", row)) == 1, (drug, row)
    assert row.count("medication history reconciled") == 1, row
    assert any("washout until" in e for e in e11.evidence), "the deciding washout is shown"


def test_a_verdict_the_evidence_does_not_say_stays() -> None:
    rows = _rows(eligible_patient())
    assert "meets >= 0.5" in rows["I6.1"].reason  # the comparison is not in the evidence lines
    assert "platelet count" in rows["I6.1"].reason
