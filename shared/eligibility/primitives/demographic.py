"""Age from birth date and administrative sex."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Literal

from pydantic import Field

from shared.eligibility.context import Context, Trace, derived
from shared.eligibility.durations import age_in_years, birthday
from shared.eligibility.logic import Truth, compare
from shared.eligibility.params import Op, Strict
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.primitives.registry import primitive
from shared.eligibility.reference_tables import Tables


class AgeArgs(Strict):
    op: Op
    years: int


class SexArgs(Strict):
    is_: Literal["female", "male"] = Field(alias="is")


class AgeAtLeast(Node):
    """Age in whole years at the as-of instant; a birthday starts at 00:00 UTC."""

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
        age = age_in_years(born, today)
        next_birthday = birthday(born, age + 1)
        ctx.review_at(datetime.combine(next_birthday, time.min, tzinfo=UTC))
        resource = demographics.provenance.resource if demographics.provenance else None
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
        result = compare(age, self.years, self.op)
        trace.findings.append(
            f"age {age} years ({'meets' if result else 'does not meet'} {self.op} {self.years})"
        )
        return Truth.of(result)

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
