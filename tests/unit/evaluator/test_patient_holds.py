"""Intake's holds on a patient's updates, in the evaluator's core on fakes (issue 14): while a
hold is in effect every decision is undetermined with intake's reason and nothing alerts; a
release re-screens at once (or once its last waiting update is applied); duplicates and a
release seen before its hold change nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.evaluator.core.patient_events import apply_patient_events
from services.evaluator.core.patient_holds import HoldsApplied, apply_hold_events
from services.evaluator.core.ports import OutgoingEvent
from services.evaluator.core.review_timers import fire_due_timers
from services.evaluator.core.screening import ScreeningContext
from shared.contracts.events import (
    DecisionMade,
    EligibilityAlert,
    PatientMerged,
    PatientUpdated,
    PatientUpdatesHeld,
    PatientUpdatesReleased,
)
from shared.eligibility.decision import Outcome, Status, TrialRef
from tests.unit.evaluator.fakes import (
    TEST_TRIAL,
    FakeStore,
    FixedClock,
    OneLabScreener,
    lab_fact,
    patient_updated,
)

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
SECOND = TrialRef(id="TEST-ONE-LAB-B", version="7")
KEY = "pt_held"
REASON = "MessageSizeTooLargeError: larger than the producer's max_request_size"


def held(hold: uuid.UUID, key: str = KEY) -> PatientUpdatesHeld:
    return PatientUpdatesHeld(
        event_id=uuid.uuid5(hold, "held"), occurred_at=NOW, recorded_at=NOW, source="intake",
        patient_key=key, correlation_id=hold, hold_id=hold, reason=REASON,
        first_held_event_id=uuid.uuid4())


def released(hold: uuid.UUID, through: uuid.UUID | None = None, key: str = KEY,
             ) -> PatientUpdatesReleased:
    return PatientUpdatesReleased(
        event_id=uuid.uuid5(hold, "released"), occurred_at=NOW, recorded_at=NOW,
        source="intake", patient_key=key, correlation_id=hold, hold_id=hold, action="retry",
        through_event_id=through)


class Evaluator:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.store.data.active = (TEST_TRIAL, SECOND)
        self.clock = FixedClock(NOW)
        self.context = ScreeningContext(OneLabScreener((TEST_TRIAL, SECOND)), self.clock)

    async def events(self, *events: PatientUpdated) -> list[OutgoingEvent]:
        async with self.store.unit_of_work() as uow:
            return (await apply_patient_events(uow, self.context, events)).staged

    async def holds(self, *events: PatientUpdatesHeld | PatientUpdatesReleased) -> HoldsApplied:
        async with self.store.unit_of_work() as uow:
            return await apply_hold_events(uow, self.context, events)

    def status(self, trial: TrialRef = TEST_TRIAL) -> Status:
        return self.store.data.statuses[(KEY, trial.id)].status


def made(events: list[OutgoingEvent]) -> list[DecisionMade]:
    return [e for e in events if isinstance(e, DecisionMade)]


def alerts(events: list[OutgoingEvent]) -> list[EligibilityAlert]:
    return [e for e in events if isinstance(e, EligibilityAlert)]


def eligible_lab(fact_id: str = "lab-1") -> PatientUpdated:
    return patient_updated(KEY, (lab_fact(150, NOW - timedelta(hours=1), fact_id),), NOW)


async def test_a_hold_makes_every_decision_undetermined_with_intakes_reason_and_alerts_nothing(
) -> None:
    evaluator = Evaluator()
    first = await evaluator.events(eligible_lab())
    assert [a.alert for a in alerts(first)] == ["newly-eligible"] * 2
    evaluator.clock.now = NOW + timedelta(seconds=5)

    hold = uuid.uuid4()
    outcome = await evaluator.holds(held(hold))
    decided = made(outcome.staged)
    assert sorted(d.decision.trial.id for d in decided) == sorted([TEST_TRIAL.id, SECOND.id])
    for decision in decided:
        assert decision.decision.status is Status.UNDETERMINED
        assert decision.previous_status is Status.ELIGIBLE
        [criterion] = decision.decision.criteria
        assert criterion.outcome is Outcome.UNKNOWN
        assert "intake holds updates for this patient" in criterion.reason
        assert REASON in criterion.reason
    assert alerts(outcome.staged) == []  # not even no-longer-eligible
    assert evaluator.store.data.alerts == alerts(first)
    assert outcome.rescreened == {KEY}
    assert evaluator.status() is Status.UNDETERMINED

    # an event already in flight (published before the hold) is applied, still undetermined
    evaluator.clock.now = NOW + timedelta(seconds=6)
    later = await evaluator.events(eligible_lab("lab-2"))
    assert made(later) == []
    assert alerts(later) == []
    assert evaluator.store.data.states[KEY].version == 2
    assert evaluator.status() is Status.UNDETERMINED


async def test_a_release_rescreens_at_once_and_the_right_decision_alerts_again() -> None:
    evaluator = Evaluator()
    await evaluator.events(patient_updated(KEY, (lab_fact(50, NOW - timedelta(hours=2)),), NOW))
    hold = uuid.uuid4()
    await evaluator.holds(held(hold))
    assert evaluator.status() is Status.UNDETERMINED
    # the held update arrives (after the retry) before the release is read: still on hold
    update = eligible_lab("lab-2")
    evaluator.clock.now = NOW + timedelta(seconds=3)
    assert made(await evaluator.events(update)) == []
    assert evaluator.status() is Status.UNDETERMINED

    evaluator.clock.now = NOW + timedelta(seconds=4)
    outcome = await evaluator.holds(released(hold, through=update.event_id))
    decided = made(outcome.staged)
    assert {d.decision.status for d in decided} == {Status.ELIGIBLE}
    assert {d.previous_status for d in decided} == {Status.UNDETERMINED}
    assert [a.alert for a in alerts(outcome.staged)] == ["newly-eligible"] * 2
    assert evaluator.status() is Status.ELIGIBLE
    assert evaluator.store.data.holds[str(hold)].in_effect is False


async def test_a_release_read_before_its_last_held_update_waits_for_that_update() -> None:
    evaluator = Evaluator()
    await evaluator.events(patient_updated(KEY, (lab_fact(50, NOW - timedelta(hours=2)),), NOW))
    hold = uuid.uuid4()
    await evaluator.holds(held(hold))
    update = eligible_lab("lab-2")

    outcome = await evaluator.holds(released(hold, through=update.event_id))
    assert outcome.staged == []
    assert outcome.rescreened == set()
    assert evaluator.status() is Status.UNDETERMINED  # the data is still incomplete
    assert evaluator.store.data.holds[str(hold)].awaiting_event_id == str(update.event_id)

    evaluator.clock.now = NOW + timedelta(seconds=2)
    staged = await evaluator.events(update)
    assert {d.decision.status for d in made(staged)} == {Status.ELIGIBLE}
    assert [a.alert for a in alerts(staged)] == ["newly-eligible"] * 2
    assert evaluator.store.data.holds[str(hold)].in_effect is False


async def test_duplicate_and_out_of_order_hold_events_change_nothing() -> None:
    evaluator = Evaluator()
    await evaluator.events(eligible_lab())
    hold = uuid.uuid4()
    await evaluator.holds(held(hold))
    # the same hold again (a redelivery, a broker refill): nothing
    again = await evaluator.holds(held(hold))
    assert again.staged == []
    assert again.quiet_keys == {KEY}
    # released, then the release and the hold again: one re-screen only
    evaluator.clock.now = NOW + timedelta(seconds=1)
    first = await evaluator.holds(released(hold))
    assert {d.decision.status for d in made(first.staged)} == {Status.ELIGIBLE}
    evaluator.clock.now = NOW + timedelta(seconds=2)
    late = await evaluator.holds(released(hold), held(hold))
    assert late.staged == []
    assert evaluator.status() is Status.ELIGIBLE

    # a release read before its hold is a tombstone: the late hold does not hold the patient
    other = uuid.uuid4()
    early = await evaluator.holds(released(other))
    assert early.staged == []
    after = await evaluator.holds(held(other))
    assert after.staged == []
    assert evaluator.status() is Status.ELIGIBLE
    # two holds: the patient stays held until both are released
    a, b = uuid.uuid4(), uuid.uuid4()
    evaluator.clock.now = NOW + timedelta(seconds=3)
    assert made((await evaluator.holds(held(a), held(b))).staged)
    assert made((await evaluator.holds(released(a))).staged) == []
    assert evaluator.status() is Status.UNDETERMINED
    evaluator.clock.now = NOW + timedelta(seconds=4)
    assert {d.decision.status for d in made((await evaluator.holds(released(b))).staged)} == {
        Status.ELIGIBLE}


async def test_a_hold_on_a_patient_never_seen_holds_its_first_decisions() -> None:
    evaluator = Evaluator()
    hold = uuid.uuid4()
    assert (await evaluator.holds(held(hold))).staged == []  # nothing to screen yet
    staged = await evaluator.events(eligible_lab())
    assert {d.decision.status for d in made(staged)} == {Status.UNDETERMINED}
    assert alerts(staged) == []
    released_now = await evaluator.holds(released(hold))
    assert [a.alert for a in alerts(released_now.staged)] == ["newly-eligible"] * 2


async def test_timers_of_a_held_patient_are_cleared_and_decide_nothing_eligible() -> None:
    evaluator = Evaluator()
    await evaluator.events(eligible_lab())
    await evaluator.holds(held(uuid.uuid4()))
    assert evaluator.store.data.timers == {}  # the held decisions have no review time
    evaluator.clock.now = NOW + timedelta(days=400)
    async with evaluator.store.unit_of_work() as uow:
        assert await fire_due_timers(uow, evaluator.context) == []


async def test_a_release_naming_a_merge_as_the_last_update_ends_with_that_merge() -> None:
    evaluator = Evaluator()
    await evaluator.events(eligible_lab())
    hold = uuid.uuid4()
    await evaluator.holds(held(hold))
    merge = PatientMerged(
        event_id=uuid.uuid4(), occurred_at=NOW, recorded_at=NOW, source="intake",
        patient_key=KEY, correlation_id=uuid.uuid4(), merged_key="pt_other")
    assert (await evaluator.holds(released(hold, through=merge.event_id))).staged == []
    assert evaluator.status() is Status.UNDETERMINED
    evaluator.clock.now = NOW + timedelta(seconds=2)
    async with evaluator.store.unit_of_work() as uow:
        staged = (await apply_patient_events(uow, evaluator.context, [merge])).staged
    assert {d.decision.status for d in made(staged)} == {Status.ELIGIBLE}
    assert evaluator.store.data.holds[str(hold)].in_effect is False


async def test_a_hold_and_its_release_keep_the_patients_site() -> None:
    evaluator = Evaluator()
    await evaluator.events(eligible_lab().model_copy(update={"site": "site-a"}))
    hold = uuid.uuid4()
    await evaluator.holds(held(hold))
    assert evaluator.store.data.states[KEY].site == "site-a"
    await evaluator.holds(released(hold))
    assert evaluator.store.data.states[KEY].site == "site-a"


# Alerts after a release compare with what the coordinator was told before the hold, not with
# the hold's undetermined (docs/evaluator.md "Alerts after a release").

async def test_eligible_before_the_hold_and_after_the_release_is_not_newly_eligible_again(
) -> None:
    evaluator = Evaluator()
    first = await evaluator.events(eligible_lab())
    assert [a.alert for a in alerts(first)] == ["newly-eligible"] * 2
    hold = uuid.uuid4()
    evaluator.clock.now = NOW + timedelta(seconds=1)
    await evaluator.holds(held(hold))
    assert evaluator.store.data.statuses[(KEY, TEST_TRIAL.id)].held_from is Status.ELIGIBLE
    evaluator.clock.now = NOW + timedelta(seconds=2)
    outcome = await evaluator.holds(released(hold))
    assert {d.decision.status for d in made(outcome.staged)} == {Status.ELIGIBLE}
    assert alerts(outcome.staged) == []
    assert evaluator.store.data.alerts == alerts(first)
    assert evaluator.store.data.statuses[(KEY, TEST_TRIAL.id)].held_from is None


async def test_eligible_before_the_hold_and_ineligible_after_the_release_is_no_longer_eligible(
) -> None:
    evaluator = Evaluator()
    await evaluator.events(eligible_lab())
    hold = uuid.uuid4()
    evaluator.clock.now = NOW + timedelta(seconds=1)
    await evaluator.holds(held(hold))
    low = patient_updated(KEY, (lab_fact(40, NOW, "lab-2"),), NOW)
    evaluator.clock.now = NOW + timedelta(seconds=2)
    assert made(await evaluator.events(low)) == []  # held: nothing said yet
    outcome = await evaluator.holds(released(hold, through=low.event_id))
    assert {d.decision.status for d in made(outcome.staged)} == {Status.INELIGIBLE}
    # the coordinator holds a newly-eligible alert: the release tells them it no longer holds
    assert [a.alert for a in alerts(outcome.staged)] == ["no-longer-eligible"] * 2
    assert {a.previous_status for a in alerts(outcome.staged)} == {Status.UNDETERMINED}


async def test_a_rescreen_while_held_keeps_the_status_before_the_hold() -> None:
    evaluator = Evaluator()
    await evaluator.events(eligible_lab())
    hold = uuid.uuid4()
    evaluator.clock.now = NOW + timedelta(seconds=1)
    await evaluator.holds(held(hold))
    # a merge while held re-screens the survivor: held again, from undetermined
    merge = PatientMerged(
        event_id=uuid.uuid4(), occurred_at=NOW, recorded_at=NOW, source="intake",
        patient_key=KEY, correlation_id=uuid.uuid4(), merged_key="pt_other")
    evaluator.clock.now = NOW + timedelta(seconds=2)
    async with evaluator.store.unit_of_work() as uow:
        staged = (await apply_patient_events(uow, evaluator.context, [merge])).staged
    assert {d.previous_status for d in made(staged)} == {Status.UNDETERMINED}
    assert evaluator.store.data.statuses[(KEY, TEST_TRIAL.id)].held_from is Status.ELIGIBLE
    evaluator.clock.now = NOW + timedelta(seconds=3)
    outcome = await evaluator.holds(released(hold))
    assert {d.decision.status for d in made(outcome.staged)} == {Status.ELIGIBLE}
    assert alerts(outcome.staged) == []


# A hold follows a merge: the merged-away record's held updates are the survivor's data now.

def merged_into_key(old: str) -> PatientMerged:
    return PatientMerged(
        event_id=uuid.uuid4(), occurred_at=NOW, recorded_at=NOW, source="intake",
        patient_key=KEY, correlation_id=uuid.uuid4(), merged_key=old)


async def test_a_hold_on_a_merged_away_record_holds_the_survivor_until_its_release() -> None:
    evaluator = Evaluator()
    old = "pt_old_held"
    await evaluator.events(eligible_lab())  # the survivor: eligible, alerted once
    await evaluator.events(patient_updated(
        old, (lab_fact(50, NOW - timedelta(minutes=30), "old-lab"),), NOW))
    hold = uuid.uuid4()
    evaluator.clock.now = NOW + timedelta(seconds=1)
    await evaluator.holds(held(hold, key=old))
    evaluator.clock.now = NOW + timedelta(seconds=2)
    async with evaluator.store.unit_of_work() as uow:
        staged = (await apply_patient_events(uow, evaluator.context, [merged_into_key(old)])
                  ).staged
    # the merge's own screening of the survivor is held: undetermined, no alert
    assert {(d.patient_key, d.decision.status) for d in made(staged)} == {
        (KEY, Status.UNDETERMINED)}
    assert alerts(staged) == []
    assert evaluator.store.data.holds[str(hold)].patient_key == KEY  # moved with the data
    # a later update of the survivor is still held
    evaluator.clock.now = NOW + timedelta(seconds=3)
    assert made(await evaluator.events(eligible_lab("lab-2"))) == []
    assert evaluator.status() is Status.UNDETERMINED
    # intake releases the dead letter under the merged-away key: the survivor is released
    held_update = patient_updated(old, (lab_fact(160, NOW, "old-lab-2"),), NOW)
    evaluator.clock.now = NOW + timedelta(seconds=4)
    assert (await evaluator.holds(released(hold, through=held_update.event_id, key=old))
            ).staged == []  # waits for the held update
    evaluator.clock.now = NOW + timedelta(seconds=5)
    staged = await evaluator.events(held_update)
    assert {(d.patient_key, d.decision.status) for d in made(staged)} == {
        (KEY, Status.ELIGIBLE)}
    assert alerts(staged) == []  # eligible before the hold reached it: not newly eligible
    assert evaluator.status() is Status.ELIGIBLE


async def test_a_hold_read_after_the_merge_of_its_record_holds_the_survivor() -> None:
    evaluator = Evaluator()
    old = "pt_old_late_hold"
    await evaluator.events(eligible_lab())
    await evaluator.events(patient_updated(old, (lab_fact(160, NOW, "old-lab"),), NOW))
    evaluator.clock.now = NOW + timedelta(seconds=1)
    async with evaluator.store.unit_of_work() as uow:
        await apply_patient_events(uow, evaluator.context, [merged_into_key(old)])
    assert evaluator.status() is Status.ELIGIBLE
    # intake held the old record's update before the merge; its notice is read after it
    hold = uuid.uuid4()
    evaluator.clock.now = NOW + timedelta(seconds=2)
    outcome = await evaluator.holds(held(hold, key=old))
    assert outcome.rescreened == {KEY}
    assert {(d.patient_key, d.decision.status) for d in made(outcome.staged)} == {
        (KEY, Status.UNDETERMINED)}
    assert evaluator.store.data.holds[str(hold)].patient_key == KEY
    evaluator.clock.now = NOW + timedelta(seconds=3)
    outcome = await evaluator.holds(released(hold, key=old))
    assert {(d.patient_key, d.decision.status) for d in made(outcome.staged)} == {
        (KEY, Status.ELIGIBLE)}
    assert alerts(outcome.staged) == []
