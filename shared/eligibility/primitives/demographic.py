"""Age from birth date and administrative sex."""

from __future__ import annotations

from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time
from typing import Literal

from pydantic import Field

from shared.eligibility.context import Context, Refresh, Trace, derived
from shared.eligibility.decision import Scalar
from shared.eligibility.durations import age_in_years, birthday
from shared.eligibility.logic import Truth, compare, compare_bounds
from shared.eligibility.params import Op, Strict
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.primitives.registry import primitive
from shared.eligibility.reference_tables import Tables


class AgeArgs(Strict):
    op: Op
    years: int


class SexArgs(Strict):
    is_: Literal["female", "male"] = Field(alias="is")


def next_flip(age: int, years: int, op: str) -> int | None:
    """The first age in whole years above ``age`` at which ``compare(age, years, op)`` gives
    the other answer, or None when no later age does (``age >= 18`` met, ``age <= 75`` failed).

    Ages are whole years and the comparison's threshold is ``years``, so any change happens by
    the age ``max(age, years) + 1``; the ages up to it are tried in order. Pure."""
    now = compare(age, years, op)
    for later in range(age + 1, max(age, years) + 2):
        if compare(later, years, op) != now:
            return later
    return None


class AgeAtLeast(Node):
    """Age in whole years at the as-of instant; a birthday starts at 00:00 UTC.

    A deceased patient's age is their age at death (FHIR R4 ``Patient.deceasedDateTime``,
    HL7 v2.5.1 PID-29, kept as ``Demographics.deceased_on``): it stops at the day of death, so
    it is never scored to as-of. Recorded as deceased without a date (FHIR R4
    ``Patient.deceasedBoolean``, PID-30 "Y" without PID-29), the age at death is known only to
    lie between 0 and the age at as-of: the comparison is decided when both ends agree (an
    upper limit the age at as-of meets, a lower limit it misses), else ``unknown``; never a
    guess.

    A deceased patient does not age: no review instant is registered for them. A living
    patient's review instant is the birthday at which the comparison's answer flips, and only
    when it can flip (``next_flip``): ``age >= 18`` met never changes again (age only grows),
    so it registers none; not met, it registers the 18th birthday; ``age <= 75`` met
    registers the 76th birthday. A birthday that cannot change the answer is not a review.
    """

    __slots__ = ("op", "years")

    def __init__(self, op: str, years: int) -> None:
        self.op, self.years = op, years

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        demographics = ctx.index.demographics
        if demographics.birth_date is None:
            trace.need("birth date")
            trace.gap("birth date unknown")
            return Truth.UNKNOWN
        born = demographics.birth_date
        today = ctx.as_of.date()
        resource = demographics.provenance.resource if demographics.provenance else None
        died_on = demographics.deceased_on
        if demographics.deceased and (died_on is None or died_on <= today):
            return self._at_death(born, died_on or today, died_on is not None, resource, trace)
        age = age_in_years(born, today)
        result = compare(age, self.years, self.op)
        flips = next_flip(age, self.years, self.op)
        flip_day = _calendar_birthday(born, flips) if flips is not None else None
        next_day = _calendar_birthday(born, age + 1)
        # a death dated later than as-of stops the age there: no birthday after it counts
        if flip_day is not None and (died_on is None or flip_day <= died_on):
            ctx.review_at(datetime.combine(flip_day, time.min, tzinfo=UTC))
        if flips != age + 1 and next_day is not None and (died_on is None
                                                          or next_day <= died_on):
            # the next birthday changes only the age said ("age 35 years"), not the answer
            ctx.review_at(Refresh.combine(next_day, time.min, tzinfo=UTC))
        trace.evidence.append(
            derived(
                "Patient.birthDate",
                born.isoformat(),
                None,
                resource=resource,
                note=f"age {age} years at as-of",
                details={"age_years": age},
            )
        )
        trace.findings.append(
            f"age {age} years ({'meets' if result else 'does not meet'} {self.op} {self.years})"
        )
        return Truth.of(result)

    def _at_death(self, born: date, on: date, dated: bool, resource: str | None,
                  trace: Trace) -> Truth:
        age = age_in_years(born, on)
        if dated:
            truth = Truth.of(compare(age, self.years, self.op))
            note = f"age {age} years at death ({on.isoformat()})"
            verb = "meets" if truth is Truth.TRUE else "does not meet"
            finding = f"age {age} years at death ({verb} {self.op} {self.years})"
            details: dict[str, Scalar] = {"age_years": age, "age_at_death": True}
        else:
            # deceasedBoolean only: died at some age between 0 and the age at as-of
            truth = compare_bounds(0, age, self.years, self.op)
            note = f"age at death unknown (recorded as deceased without a date; at most {age})"
            finding = (f"age at death unknown, at most {age} years (no date of death): "
                       + ("meets" if truth is Truth.TRUE else "does not meet"
                          if truth is Truth.FALSE else "cannot check") + f" {self.op} {self.years}")
            details = {"age_at_most_years": age, "age_at_death": True}
        trace.evidence.append(
            derived("Patient.birthDate", born.isoformat(), None, resource=resource, note=note,
                    details=details)
        )
        trace.findings.append(finding)
        return truth

    def requirements(self) -> list[Requirement]:
        return [
            Requirement("Patient.birthDate", f"age {self.op} {self.years} years at evaluation time")
        ]


class SexIs(Node):
    __slots__ = ("sex",)

    def __init__(self, sex: str) -> None:
        self.sex = sex

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        sex = ctx.index.demographics.sex
        if sex is None or sex.value not in ("female", "male"):
            trace.need("administrative sex (female/male)")
            return Truth.UNKNOWN
        if sex.value != self.sex:
            # said when it decides, in the protocol's terms: a sex-specific clause ("female
            # subjects of childbearing potential ...", "male subjects with partners ...") is
            # not this patient's, e.g. "the part for male patients does not apply: recorded
            # sex female"
            trace.findings.append(
                f"the part for {self.sex} patients does not apply: recorded sex {sex.value}")
            return Truth.FALSE
        return Truth.TRUE

    def requirements(self) -> list[Requirement]:
        return [Requirement("Patient.gender", f"sex is {self.sex}")]


@primitive("age", AgeArgs)
def _age(a: AgeArgs, tables: Tables) -> Node:
    return AgeAtLeast(a.op, a.years)


@primitive("sex", SexArgs)
def _sex(a: SexArgs, tables: Tables) -> Node:
    return SexIs(a.is_)


def _calendar_birthday(born: date, years: int) -> date | None:
    """``birthday(born, years)``, or None when that year lies outside the calendar dates can
    hold (1-9999, ``datetime.MINYEAR``/``MAXYEAR``): no review is set so far away. A birth
    date of 9999-12-31 (a FHIR R4 date allows it) gave an age of -7974 years and a first
    birthday at 18 in year 10017, on which the engine raised (issue 14 probe, 2026-12-03)."""
    if not MINYEAR <= born.year + years <= MAXYEAR:
        return None
    return birthday(born, years)
