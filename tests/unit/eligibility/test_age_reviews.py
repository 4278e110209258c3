"""An age criterion is reviewed only at the birthday that can flip its answer.

NCT06920433 I1 is only "age >= 18": met, it never changes again (age only grows), so it must
not schedule every adult's next birthday ("103rd birthday (I1)" for a 102-year-old); not met,
it changes at the 18th birthday, not at the next one. Property: evaluated one second before and
one second after a review instant, the age comparison differs exactly when the engine reports
an outcome change there (``context.wakes``); a ``Refresh`` instant (the next birthday, which
only changes the age said) never changes it, and without a reported change it never changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clinical.facts import Demographics
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.context import Context, Refresh, Trace, wakes
from shared.eligibility.decision import Decision, Outcome
from shared.eligibility.durations import age_in_years, birthday
from shared.eligibility.engine import (
    build_index,
    evaluate,
    evaluate_incremental,
    permanent_failures,
    waiting_failures,
)
from shared.eligibility.loader import load_trial
from shared.eligibility.logic import Truth
from shared.eligibility.primitives.demographic import AgeAtLeast, next_flip
from shared.eligibility.readable import needs, review_reasons, waiting_until
from tests.unit.eligibility.fhir_builder import AS_OF, PatientBuilder, eligible_patient

SLE_CAR_T = load_trial("NCT06920433", "2025-11-14.2")
PARIS = ZoneInfo("Europe/Paris")
SECOND = timedelta(seconds=1)


def _age(op: str, years: int, demographics: Demographics, at: datetime) -> tuple[Truth, list[Any]]:
    node = AgeAtLeast(op, years)
    ctx: Any = Context(as_of=at, index=SimpleNamespace(demographics=demographics),  # type: ignore[arg-type]
                       tables=None)  # type: ignore[arg-type]
    truth = node.evaluate(ctx, Trace())
    return truth, ctx.review_candidates


@settings(max_examples=300, deadline=None)
@given(
    op=st.sampled_from([">=", ">", "<=", "<", "=="]),
    years=st.integers(0, 120),
    born=st.dates(date(1900, 1, 1), date(2030, 12, 31)),
    after=st.integers(0, 130 * 366 * 24 * 3600),
    died_after=st.one_of(st.none(), st.integers(0, 120 * 366)),
)
def test_an_age_comparison_changes_only_at_the_reported_instant(
    op: str, years: int, born: date, after: int, died_after: int | None
) -> None:
    as_of = datetime.combine(born, time.min, tzinfo=UTC) + timedelta(seconds=after)
    died = None if died_after is None else born + timedelta(days=died_after)
    demographics = Demographics(birth_date=born, deceased=died is not None, deceased_on=died)
    truth, candidates = _age(op, years, demographics, as_of)
    change = wakes(candidates)
    for refresh in (t for t in candidates if type(t) is Refresh):
        assert _age(op, years, demographics, refresh - SECOND)[0] is truth
        assert _age(op, years, demographics, refresh + SECOND)[0] is truth, "a refresh flipped"
    if change is not None:
        assert _age(op, years, demographics, change - SECOND)[0] is truth
        assert _age(op, years, demographics, change + SECOND)[0] is not truth, (
            "a reported change that changes nothing wakes the evaluator for nothing")
        return
    # no change reported: the answer holds at every later birthday (and a second either side)
    age = age_in_years(born, as_of.date())
    for turned in range(age + 1, max(age, years) + 3):
        at = datetime.combine(birthday(born, turned), time.min, tzinfo=UTC)
        for moment in (at - SECOND, at + SECOND):
            if moment > as_of:
                assert _age(op, years, demographics, moment)[0] is truth, (
                    f"changed at {moment} with no change reported")


def test_next_flip_is_the_boundary_the_comparison_tests() -> None:
    assert next_flip(33, 18, ">=") is None, "age >= 18 met never changes again"
    assert next_flip(10, 18, ">=") == 18
    assert next_flip(10, 18, ">") == 19
    assert next_flip(40, 75, "<=") == 76
    assert next_flip(80, 75, "<=") is None
    assert next_flip(40, 75, "<") == 75
    assert next_flip(10, 18, "==") == 18
    assert next_flip(18, 18, "==") == 19
    assert next_flip(19, 18, "==") is None


def _decide(birth_date: str, as_of: datetime = AS_OF) -> Decision:
    return _decide_with_i1_change(birth_date, as_of)[0]


def _decide_with_i1_change(birth_date: str, as_of: datetime = AS_OF
                           ) -> tuple[Decision, datetime | None]:
    """The decision and the instant I1's outcome can next change (the engine's own record)."""
    builder = eligible_patient()
    builder.patient["birthDate"] = birth_date
    facts = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    decision, state = evaluate_incremental(SLE_CAR_T, build_index(SLE_CAR_T, facts), as_of, None)
    assert decision == evaluate(SLE_CAR_T, facts, as_of)
    return decision, state.criteria["I1"].wakes_at


def test_an_adult_is_not_reviewed_on_a_birthday_for_age_at_least_18() -> None:
    for born in ("1993-12-05", "1923-12-05"):  # 32 and 102 at as-of (1 Mar 2026)
        decision, i1_change = _decide_with_i1_change(born)
        assert i1_change is None, "age >= 18 met never changes again"
        i1 = next(c for c in decision.criteria if c.id == "I1")
        assert i1.outcome is Outcome.PASS
        birthday_review = datetime(2026, 12, 5, tzinfo=UTC)
        assert decision.next_review_at != birthday_review
        assert not any("birthday" in r for r in review_reasons(decision, {}, PARIS)), (
            review_reasons(decision, {}, PARIS))


def test_a_child_is_reviewed_on_the_18th_birthday_not_the_next_one() -> None:
    decision, i1_change = _decide_with_i1_change("2016-03-12")  # 9 at as-of: 18 on 12 Mar 2034
    assert i1_change == datetime(2034, 3, 12, tzinfo=UTC)
    i1 = next(c for c in decision.criteria if c.id == "I1")
    assert i1.outcome is Outcome.FAIL
    assert decision.next_review_at is not None
    assert decision.next_review_at != datetime(2026, 3, 12, tzinfo=UTC), (
        "the 10th birthday cannot change I1")
    at_18 = decision.model_copy(update={"next_review_at": datetime(2034, 3, 12, tzinfo=UTC)})
    assert review_reasons(at_18, {}, PARIS) == [
        "18th birthday: from then old enough for the age limit (I1)"]


def _bare(birth_date: str) -> Decision:
    """A patient with only birth date and sex on record: every other criterion is unknown."""
    builder = PatientBuilder()
    builder.patient["birthDate"] = birth_date
    facts = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    return evaluate(SLE_CAR_T, facts, AS_OF)


def test_a_child_has_nothing_to_send_until_the_18th_birthday() -> None:
    assert len(needs(_bare("1990-01-01"))) > 10, "an adult with no data is asked for much"
    bare = _bare("2016-03-12")
    assert needs(bare) == (), "no test sent can make a child eligible before 18"
    decision = _decide("2016-03-12")  # 9 at as-of: 18 on 12 Mar 2034
    assert [(c.id, at) for c, at in waiting_failures(decision)] == [
        ("I1", datetime(2034, 3, 12, tzinfo=UTC))]
    assert waiting_until(decision) == [("I1", "the 18th birthday on 12 Mar 2034")]
    assert permanent_failures(decision) == ()


def test_an_adult_failing_on_results_keeps_what_to_send() -> None:
    decision = _decide("1993-12-05")
    assert waiting_failures(decision) == ()
    assert needs(decision) == needs(_decide("1990-01-01")), "age is not what holds it back"
