"""Derived scores and calendar arithmetic, on facts built directly in Python."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    Demographics,
    FactKind,
    PatientFacts,
    Provenance,
    Quantity,
    Sex,
)
from shared.eligibility.context import Context, Trace
from shared.eligibility.durations import add_months, age_in_years, birthday, parse_duration
from shared.eligibility.engine import build_index
from shared.eligibility.loader import load_trial
from shared.eligibility.scores.cockcroft_gault import cockcroft_gault, crcl, ideal_body_weight

AS_OF = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TRIAL = load_trial("NCT06920433")


def lab(code: str, value: float, unit: str, when: datetime) -> ClinicalFact:
    return ClinicalFact(
        fact_id=f"{code}-{value}",
        kind=FactKind.OBSERVATION,
        codes=(Coding(system="http://loinc.org", code=code),),
        status="final",
        effective_start=when,
        value_quantity=Quantity(value=value, unit=unit),
        provenance=Provenance(source_system="t", format="fhir-r4", resource=f"Observation/{code}"),
    )


def context(sex: Sex | None, *facts: ClinicalFact) -> Context:
    patient = PatientFacts(
        demographics=Demographics(birth_date=date(1986, 3, 1), sex=sex), facts=facts
    )
    return Context(as_of=AS_OF, index=build_index(TRIAL, patient), tables=TRIAL.tables)


def test_cockcroft_gault_applies_the_female_factor_and_converts_umol_per_litre() -> None:
    assert crcl(40, 54, 2.5, female=False) == 30.0
    assert crcl(40, 54, 2.5, female=True) == pytest.approx(25.5)
    day = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # drawn on the 40th birthday: age 40
    facts = (lab("2160-0", 221.0, "umol/L", day), lab("29463-7", 54, "kg", day))
    outcome = cockcroft_gault(
        context(Sex.MALE, *facts), parse_duration("P30D"), "actual", parse_duration("P90D"), Trace()
    )
    assert outcome is not None
    assert outcome.low == pytest.approx(30.0)


def test_an_unknown_sex_bounds_crcl_between_the_female_and_male_values() -> None:
    day = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # drawn on the 40th birthday: age 40
    facts = (lab("2160-0", 2.5, "mg/dL", day), lab("29463-7", 54, "kg", day))
    outcome = cockcroft_gault(
        context(None, *facts), parse_duration("P30D"), "actual", parse_duration("P90D"), Trace()
    )
    assert outcome is not None
    assert (outcome.low, outcome.high) == (pytest.approx(25.5), pytest.approx(30.0))


def test_ideal_body_weight_follows_devine() -> None:
    assert ideal_body_weight(152.4, female=False) == pytest.approx(50.0)
    assert ideal_body_weight(177.8, female=True) == pytest.approx(45.5 + 2.3 * 10)


def test_missing_inputs_are_named() -> None:
    trace = Trace()
    assert (
        cockcroft_gault(
            context(Sex.FEMALE), parse_duration("P30D"), "actual", parse_duration("P90D"), trace
        )
        is None
    )
    assert "serum creatinine within 30 days" in trace.missing
    assert "body weight within 90 days" in trace.missing


def test_months_are_calendar_months_clamped_to_the_month_end() -> None:
    assert add_months(datetime(2026, 8, 31, tzinfo=UTC), -6) == datetime(2026, 2, 28, tzinfo=UTC)
    assert parse_duration("P6M").before(datetime(2026, 3, 1, 9, tzinfo=UTC)) == datetime(
        2025, 9, 1, 9, tzinfo=UTC
    )
    assert parse_duration("PT50H").fixed.total_seconds() == 50 * 3600
    with pytest.raises(ValueError, match="not an ISO-8601 duration"):
        parse_duration("30 days")


def test_a_leap_day_birthday_is_celebrated_on_the_first_of_march() -> None:
    born = date(2008, 2, 29)
    assert birthday(born, 18) == date(2026, 3, 1)
    assert age_in_years(born, date(2026, 2, 28)) == 17
    assert age_in_years(born, date(2026, 3, 1)) == 18
