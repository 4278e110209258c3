"""A decision's reason says each finding once, and a needed item once at its most specific
(fresh-user report L3: NCT06920433 I2 said "no systemic glucocorticoids on record" twice, and
needed both "record of systemic glucocorticoids use started at least 6 months ago" and "record
of systemic glucocorticoids use", which the first already supplies)."""

from __future__ import annotations

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import AS_OF, PatientBuilder, eligible_patient

TRIAL = load_trial("NCT06920433", "2025-11-14.1")


def _reason(builder: PatientBuilder, criterion_id: str) -> str:
    facts = facts_from_updates(parse_fhir(builder.bundle(), source_system="t"))
    decision = evaluate(TRIAL, facts, AS_OF)
    return next(c.reason for c in decision.criteria if c.id == criterion_id)


def _clauses(reason: str) -> tuple[list[str], list[str]]:
    _, _, body = reason.partition(" — ")
    findings, _, needs = body.partition(". needs: ")
    return findings.split("; "), needs.split("; ") if needs else []


def test_a_patient_without_treatment_hears_each_missing_treatment_once() -> None:
    reason = _reason(PatientBuilder(), "I2")
    findings, needs = _clauses(reason)
    assert findings.count("no systemic glucocorticoids on record") == 1
    assert len(findings) == len(set(findings))
    assert "record of systemic glucocorticoids use started at least 6 months ago" in needs
    assert "record of systemic glucocorticoids use" not in needs
    assert len(needs) == len(set(needs))


def test_a_treated_patient_hears_each_treatment_once() -> None:
    findings, _ = _clauses(_reason(eligible_patient(), "I2"))
    assert len(findings) == len(set(findings))
    assert any(f.startswith("systemic glucocorticoids on record since") for f in findings)
