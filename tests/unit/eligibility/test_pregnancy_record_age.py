"""NCT06920433 2025-11-14.2: an "active" pregnancy Condition with no end date and an onset ten
months or more ago is not read as a current pregnancy (parameter pregnancy_current_max_age:
post-term is 42 0/7 weeks = 294 days, ACOG Committee Opinion 579); E12 then needs
confirmation (unknown), never "not pregnant". Version .1 is unchanged and still replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from shared.eligibility.trial import TrialVersion
from tests.unit.eligibility.fhir_builder import (
    AS_OF,
    ICD10,
    LOINC,
    POSITIVE,
    SNOMED,
    PatientBuilder,
    ago,
    eligible_patient,
)
from tests.unit.eligibility.vignettes import VIGNETTES, Vignette

V1 = load_trial("NCT06920433", "2025-11-14.1")
V2 = load_trial("NCT06920433", "2025-11-14.2")
P, F, U = Outcome.PASS, Outcome.FAIL, Outcome.UNKNOWN
SYNTHEA_PREGNANCY = "72892002"  # "Normal pregnancy", as the Synthea handout sends it


def _decide(trial: TrialVersion, builder: PatientBuilder) -> Decision:
    facts = facts_from_updates(parse_fhir(builder.bundle(), source_system="pregnancy-test"))
    return evaluate(trial, facts, AS_OF)


def _pregnant(system: str, code: str, onset_days: float, **kw: object) -> PatientBuilder:
    builder = eligible_patient()
    builder.condition(system, code, onset_days=onset_days, **kw)  # type: ignore[arg-type]
    return builder


def _e12(decision: Decision):  # type: ignore[no-untyped-def]
    return next(c for c in decision.criteria if c.id == "E12")


def test_version_2_differs_from_version_1_only_in_the_new_parameter_and_e12() -> None:
    assert set(V2.spec.parameters) - set(V1.spec.parameters) == {"pregnancy_current_max_age"}
    assert V2.spec.parameters["pregnancy_current_max_age"].value == "P10M"
    assert "294 days" in V2.spec.parameters["pregnancy_current_max_age"].rationale
    changed = {a.id for a, b in zip(V1.criteria, V2.criteria, strict=True)
               if a.protocol_text != b.protocol_text or a.node.requirements() !=
               b.node.requirements()}
    assert changed == {"E12"}


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v.name for v in VIGNETTES])
def test_every_existing_vignette_decides_the_same_under_both_versions(vignette: Vignette) -> None:
    facts = facts_from_updates(parse_fhir(vignette.build().bundle(vignette.bundle_type),
                                          source_system="vignette"))
    one, two = evaluate(V1, facts, vignette.as_of), evaluate(V2, facts, vignette.as_of)
    assert [(c.id, c.outcome) for c in one.criteria] == [(c.id, c.outcome) for c in two.criteria]
    assert one.status is two.status


def test_a_synthea_pregnancy_active_for_six_years_needs_confirmation_not_exclusion() -> None:
    builder = _pregnant(SNOMED, SYNTHEA_PREGNANCY, onset_days=6 * 365)
    old, new = _decide(V1, builder), _decide(V2, builder)
    assert _e12(old).outcome is F
    assert old.status is Status.INELIGIBLE
    e12 = _e12(new)
    assert e12.outcome is U, e12.reason
    assert new.status is Status.UNDETERMINED
    assert any("confirmation whether the current pregnancy on record since" in m
               for m in e12.missing), e12.missing
    assert "not read as current" in e12.reason


@pytest.mark.parametrize(("system", "code"), [
    (SNOMED, "77386006"), (SNOMED, SYNTHEA_PREGNANCY), (ICD10, "Z34.90"), (ICD10, "O09.90"),
])
def test_a_pregnancy_of_any_coding_within_ten_months_still_excludes(system: str, code: str) -> None:
    decision = _decide(V2, _pregnant(system, code, onset_days=250))
    assert _e12(decision).outcome is F
    assert decision.status is Status.INELIGIBLE


def test_the_boundary_is_ten_calendar_months_before_as_of() -> None:
    ten_months = (AS_OF - datetime(2025, 5, 1, 9, 0, tzinfo=UTC)).days  # AS_OF is 2026-03-01
    inside = _decide(V2, _pregnant(SNOMED, "77386006", onset_days=ten_months - 1))
    at = _decide(V2, _pregnant(SNOMED, "77386006", onset_days=ten_months))
    assert _e12(inside).outcome is F
    assert _e12(at).outcome is U


def test_an_old_pregnancy_with_a_positive_hcg_is_excluded_by_the_test() -> None:
    builder = _pregnant(SNOMED, SYNTHEA_PREGNANCY, onset_days=6 * 365)
    builder.without(LOINC, "2106-3")
    builder.observation(LOINC, "2106-3", ago(2), coded=POSITIVE)
    assert _e12(_decide(V2, builder)).outcome is F


def test_a_resolved_old_pregnancy_is_not_a_current_one() -> None:
    builder = _pregnant(SNOMED, SYNTHEA_PREGNANCY, onset_days=6 * 365, status="resolved",
                        abated_days=6 * 365 - 280)
    decision = _decide(V2, builder)
    assert _e12(decision).outcome is P
    assert decision.status is Status.ELIGIBLE


def test_time_alone_turns_a_current_pregnancy_record_into_one_that_needs_confirmation() -> None:
    """The record's tenth month is a review instant: the decision names it as its next review,
    and the incremental engine, with no new data, gives then what a full evaluation gives."""
    from shared.eligibility.engine import build_index, evaluate_incremental

    turns = AS_OF + timedelta(hours=1)  # onset 2025-05-01 10:00Z: ten months old at `turns`
    onset_days = (AS_OF - datetime(2025, 5, 1, 10, 0, tzinfo=UTC)) / timedelta(days=1)
    builder = _pregnant(SNOMED, "77386006", onset_days=onset_days)
    facts = facts_from_updates(parse_fhir(builder.bundle(), source_system="pregnancy-test"))
    index = build_index(V2, facts)
    first, state = evaluate_incremental(V2, index, AS_OF, None)
    assert _e12(first).outcome is F
    assert first.next_review_at == turns
    later = turns + timedelta(hours=1)
    second, _ = evaluate_incremental(V2, index, later, state)
    full = evaluate(V2, facts, later)
    assert _e12(full).outcome is U
    assert second.model_dump() == full.model_dump()
