"""An age criterion never raises on a birth date far in the future (issue 14 probe, 2026-12-03).

benchmarks/hostile_pipeline.py posted Patient.birthDate "9999-12-31" (FHIR R4 date allows years
0001-9999), which intake accepted: the age criterion read age -7974 years, as it reads any birth
after as-of (a replayed as-of before a patient's birth gives age -1: fail, golden decisions),
then set a review at the birthday on which the answer flips, the 18th, in year 10017, and
``date.replace`` raised ValueError ("year 10017 is out of range"). The evaluator caught it: the
trial's decision was an engine failure (undetermined, traceback logged) for all three trials.
Now no review is set beyond the calendar; the criterion is decided as for any birth after
as-of. NCT06946485 I5 reads "Aged 18-65 years".
"""

from __future__ import annotations

from shared.eligibility.decision import Outcome
from tests.unit.eligibility.test_age_at_death import _born, _decide, _i5


def test_a_birth_date_of_9999_12_31_is_decided_like_any_birth_after_as_of() -> None:
    far = _decide(_born("9999-12-31"))  # raised ValueError: year 10017 is out of range
    near = _decide(_born("2999-01-01"))
    assert _i5(far).outcome is _i5(near).outcome is Outcome.FAIL, _i5(far).reason
    assert "age -7974 years" in _i5(far).reason  # as of 2026-03-01
    assert {c.id: c.outcome for c in far.criteria} == {c.id: c.outcome for c in near.criteria}
    assert far.status is near.status
    # no review past the calendar; the nearer one (the next birthday, in 2026/2027) stands
    assert far.next_review_at is None or far.next_review_at.year <= 9999
