"""The age a result is read with is the age on the day it was obtained, not on ``as_of``.

FHIR R4 ``Observation.referenceRange.age``: "The age at which this reference range is
applicable" (https://hl7.org/fhir/R4/observation-definitions.html#Observation.referenceRange.age):
the laboratory chose the range for the patient it sampled. Cockcroft & Gault (Nephron
1976;16:31-41) predict the clearance of one creatinine from the age and weight of the patient
when it was drawn. A result taken before a birthday and evaluated after it, and a deceased
patient evaluated after death, keep the age of the sample.
"""

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
    ReferenceRange,
    Sex,
)
from shared.eligibility.context import Context, Trace
from shared.eligibility.durations import parse_duration
from shared.eligibility.engine import build_index
from shared.eligibility.loader import load_trial
from shared.eligibility.reading import fitting_range
from shared.eligibility.scores.cockcroft_gault import cockcroft_gault

TRIAL = load_trial("NCT06920433")
# the 18th (and, for the CrCl patient, 40th) birthday falls between sample and evaluation
AS_OF = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SAMPLED = datetime(2026, 2, 27, 8, 0, tzinfo=UTC)


def lab(
    code: str,
    value: float,
    unit: str,
    when: datetime,
    ranges: tuple[ReferenceRange, ...] = (),
) -> ClinicalFact:
    return ClinicalFact(
        fact_id=f"{code}-{value}",
        kind=FactKind.OBSERVATION,
        codes=(Coding(system="http://loinc.org", code=code),),
        status="final",
        effective_start=when,
        value_quantity=Quantity(value=value, unit=unit),
        reference_ranges=ranges,
        provenance=Provenance(source_system="t", format="fhir-r4", resource=f"Observation/{code}"),
    )


def context(demographics: Demographics, *facts: ClinicalFact) -> Context:
    patient = PatientFacts(demographics=demographics, facts=facts)
    return Context(as_of=AS_OF, index=build_index(TRIAL, patient), tables=TRIAL.tables)


CHILD = ReferenceRange(high=Quantity(value=300.0, unit="U/L"), age_high_years=17)
ADULT = ReferenceRange(high=Quantity(value=120.0, unit="U/L"), age_low_years=18)


def test_an_age_specific_range_is_the_one_for_the_age_at_collection() -> None:
    # ALP sampled at 17 (two days before the 18th birthday), evaluated at 18: the laboratory's
    # paediatric range applies, as it did when the result was reported
    fact = lab("6768-6", 250.0, "U/L", SAMPLED, (ADULT, CHILD))
    ctx = context(Demographics(birth_date=date(2008, 3, 1), sex=Sex.FEMALE), fact)
    chosen, why = fitting_range(ctx, fact)
    assert chosen == CHILD
    assert "age 17" in why


def test_a_result_sampled_after_the_birthday_uses_the_new_age() -> None:
    fact = lab("6768-6", 250.0, "U/L", datetime(2026, 3, 1, 8, 0, tzinfo=UTC), (ADULT, CHILD))
    ctx = context(Demographics(birth_date=date(2008, 3, 1), sex=Sex.FEMALE), fact)
    assert fitting_range(ctx, fact)[0] == ADULT


def test_cockcroft_gault_uses_the_age_when_the_creatinine_was_drawn() -> None:
    # born 1986-03-01: 39 on 27 Feb 2026 when the creatinine was drawn, 40 on as_of
    facts = (lab("2160-0", 2.5, "mg/dL", SAMPLED), lab("29463-7", 54, "kg", SAMPLED))
    ctx = context(Demographics(birth_date=date(1986, 3, 1), sex=Sex.MALE), *facts)
    outcome = cockcroft_gault(
        ctx, parse_duration("P30D"), "actual", parse_duration("P90D"), Trace()
    )
    assert outcome is not None
    assert outcome.low == pytest.approx((140 - 39) * 54 / (72 * 2.5))
    # the estimate does not change at the next birthday, so no review is scheduled for it
    # (the reviews left are the days the creatinine and the weight leave their windows)
    assert datetime(2027, 3, 1, tzinfo=UTC) not in ctx.review_candidates


def test_a_deceased_patient_does_not_keep_ageing_in_cockcroft_gault() -> None:
    facts = (lab("2160-0", 2.5, "mg/dL", SAMPLED), lab("29463-7", 54, "kg", SAMPLED))
    died = Demographics(
        birth_date=date(1986, 3, 1), sex=Sex.MALE, deceased=True, deceased_on=date(2026, 2, 28)
    )
    ctx = context(died, *facts)
    outcome = cockcroft_gault(
        ctx, parse_duration("P30D"), "actual", parse_duration("P90D"), Trace()
    )
    assert outcome is not None
    assert outcome.low == pytest.approx((140 - 39) * 54 / (72 * 2.5))
