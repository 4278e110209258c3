"""Work the evaluator does once per distinct thing, not once per use: a decision's JSON is
dumped once for its status row, outbox row and published message; the missing items of an
undetermined decision are worked out once per distinct set of unknown criteria, whatever
patient values their reasons quote."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.evaluator.adapters.outbox import message_of, messages_of
from services.evaluator.core import decisions
from shared.clinical.facts import PatientFacts
from shared.eligibility.decision import (
    CriterionKind,
    CriterionResult,
    Decision,
    Outcome,
    Status,
    TrialRef,
)

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _undetermined(reason: str, missing: tuple[str, ...]) -> Decision:
    return Decision(
        trial=TrialRef(id="NCT06920433", version="2025-11-14.2"), as_of=AT,
        status=Status.UNDETERMINED, engine_version="test",
        criteria=(CriterionResult(id="I3", kind=CriterionKind.INCLUSION, outcome=Outcome.UNKNOWN,
                                  reason=reason, missing=missing),))


def _made(decision: Decision) -> object:
    return decisions.decision_made(
        patient_key="pk-once", state_version=1, decision=decision, snapshot=PatientFacts(),
        previous_status=None, causation_id=uuid.uuid4(), correlation_id=uuid.uuid4(),
        recorded_at=AT, trial_content_hash="sha256:test", registry_change=None,
        snapshot_hash="sha256:snapshot")


def test_a_decision_is_dumped_once_for_every_use_and_as_its_model_says() -> None:
    made = _made(_undetermined("no eGFR within 90 days", ("an eGFR within 90 days",)))
    first = message_of(made)  # type: ignore[arg-type]
    assert messages_of([made])[0] is first  # type: ignore[list-item]
    assert first.payload == made.model_dump(mode="json")  # type: ignore[attr-defined]
    other = _made(_undetermined("no eGFR within 90 days", ("an eGFR within 90 days",)))
    assert message_of(other) is not first  # type: ignore[arg-type]  # by object, not by value


def test_missing_items_are_worked_out_once_whatever_values_the_reasons_quote(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Decision] = []
    real = decisions.needs

    def counted(decision: Decision) -> object:
        calls.append(decision)
        return real(decision)

    monkeypatch.setattr(decisions, "needs", counted)
    monkeypatch.setattr(decisions, "_MISSING", {})
    wanted = ("a serum creatinine within 30 days",)
    one = decisions.missing_data(_undetermined("creatinine 1.4 mg/dL on 2026-10-01 is too old",
                                               wanted))
    two = decisions.missing_data(_undetermined("creatinine 0.9 mg/dL on 2026-09-12 is too old",
                                               wanted))
    assert one == two == [real(_undetermined("x", wanted))[0].item]
    assert len(calls) == 1
    # with no missing item named the reason is what is missing: each reason counts
    three = decisions.missing_data(_undetermined("the diagnosis date was not recorded", ()))
    four = decisions.missing_data(_undetermined("the smoking status was not recorded", ()))
    assert three != four
    assert len(calls) == 3
