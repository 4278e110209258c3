"""The evaluator's screening core on in-memory fakes of its ports: what the evaluator's
integration tests check against the real broker and databases, decided here in milliseconds."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.evaluator.core.patient_events import EventsApplied, apply_patient_events
from services.evaluator.core.ports import CurrentStatus, OutgoingEvent
from services.evaluator.core.registry_changes import closing_alert, rescreen_patients
from services.evaluator.core.review_timers import fire_due_timers
from services.evaluator.core.screening import ScreeningContext
from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    Demographics,
    FactKind,
    PatientFacts,
    Provenance,
    Quantity,
)
from shared.clinical.hl7v2 import parse_hl7v2
from shared.contracts.events import (
    DecisionMade,
    EligibilityAlert,
    PatientMerged,
    PatientSnapshot,
    PatientUpdated,
    RegistryChangeRef,
)
from shared.eligibility.decision import Decision, Status, TrialRef
from shared.eligibility.readable import human_time
from tests.unit.evaluator.fakes import (
    LOOKBACK,
    TEST_TRIAL,
    WASHOUT,
    FakeStore,
    FixedClock,
    OneLabScreener,
    RecordingTelemetry,
    drug_fact,
    lab_fact,
    patient_updated,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SECOND_TRIAL = TrialRef(id="TEST-ONE-LAB-B", version="7")
PATIENT = "pk-one"


class Evaluator:
    """The core as the service runs it, over fakes: one unit of work per batch."""

    def __init__(self, trials: tuple[TrialRef, ...] = (TEST_TRIAL,)) -> None:
        self.store = FakeStore()
        self.store.data.active = trials
        self.clock = FixedClock(NOW)
        self.screener = OneLabScreener(trials)
        self.telemetry = RecordingTelemetry()
        self.context = ScreeningContext(self.screener, self.clock, telemetry=self.telemetry)

    async def apply(self, *events: PatientUpdated | PatientMerged) -> EventsApplied:
        async with self.store.unit_of_work() as uow:
            return await apply_patient_events(uow, self.context, events)

    async def fire_timers(self) -> list[OutgoingEvent]:
        async with self.store.unit_of_work() as uow:
            return await fire_due_timers(uow, self.context)

    @property
    def published(self) -> list[OutgoingEvent]:
        return self.store.data.outbox


def decisions_in(events: Sequence[OutgoingEvent]) -> list[DecisionMade]:
    return [e for e in events if isinstance(e, DecisionMade)]


def alerts_in(events: Sequence[OutgoingEvent]) -> list[EligibilityAlert]:
    return [e for e in events if isinstance(e, EligibilityAlert)]


def snapshots_in(events: Sequence[OutgoingEvent]) -> list[PatientSnapshot]:
    return [e for e in events if isinstance(e, PatientSnapshot)]


def merged(survivor: str, merged_key: str) -> PatientMerged:
    return PatientMerged(
        event_id=uuid.uuid4(), occurred_at=NOW, recorded_at=NOW, source="test",
        patient_key=survivor, merged_key=merged_key, correlation_id=uuid.uuid4())


async def test_a_new_lab_flips_a_patient_to_eligible_with_one_decision_per_trial_and_one_alert(
) -> None:
    evaluator = Evaluator((TEST_TRIAL, SECOND_TRIAL))
    await evaluator.apply(patient_updated(PATIENT, (lab_fact(50, NOW - timedelta(days=2)),), NOW))
    second = await evaluator.apply(patient_updated(
        PATIENT, (lab_fact(150, NOW - timedelta(hours=1), fact_id="lab-2"),), NOW))

    latest = decisions_in(second.staged)
    assert sorted(d.decision.trial.id for d in latest) == [TEST_TRIAL.id, SECOND_TRIAL.id]
    assert all(d.decision.status is Status.ELIGIBLE for d in latest)
    assert all(d.previous_status is Status.INELIGIBLE for d in latest)
    assert all(d.state_version == 2 for d in latest)
    assert sorted((a.trial.id, a.alert) for a in alerts_in(second.staged)) == [
        (TEST_TRIAL.id, "newly-eligible"), (SECOND_TRIAL.id, "newly-eligible")]
    assert len(decisions_in(evaluator.published)) == 4
    assert len(evaluator.store.data.alerts) == 2  # kept for coordinators and webhooks
    # one snapshot, two facts, sent once ahead of both trials' decisions, which reference it
    [sent] = snapshots_in(second.staged)
    assert second.staged[0] is sent
    assert len(sent.snapshot.facts) == 2
    assert {d.snapshot_hash for d in latest} == {sent.snapshot_hash}
    assert {d.snapshot for d in latest} == {None}


async def test_the_same_event_delivered_twice_adds_no_decision_and_no_alert() -> None:
    evaluator = Evaluator()
    event = patient_updated(PATIENT, (lab_fact(150, NOW - timedelta(hours=1)),), NOW)
    first = await evaluator.apply(event)
    again = await evaluator.apply(event)
    twice_in_one_batch = await Evaluator().apply(event, event)

    assert (first.applied, len(first.staged)) == (1, 3)  # its snapshot, a decision, an alert
    assert (again.applied, again.staged, again.redelivered_keys) == (0, [], {PATIENT})
    assert len(evaluator.published) == 3
    assert evaluator.store.data.states[PATIENT].version == 1
    assert twice_in_one_batch.applied == 1
    assert len(twice_in_one_batch.staged) == 3


async def test_an_alert_is_raised_only_when_a_patient_crosses_the_eligible_line() -> None:
    evaluator = Evaluator()
    kinds = []
    for value, fact_id, hours in ((150, "a", 5), (160, "b", 4), (20, "c", 3), (30, "d", 2)):
        outcome = await evaluator.apply(patient_updated(
            PATIENT, (lab_fact(value, NOW - timedelta(hours=hours), fact_id=fact_id),), NOW))
        kinds.append([a.alert for a in alerts_in(outcome.staged)])

    assert kinds == [["newly-eligible"], [], ["no-longer-eligible"], []]
    assert len(decisions_in(evaluator.published)) == 4  # every screening is still a decision
    history = [(made.previous_status, made.decision.status)
               for made, _ in evaluator.store.data.history]
    assert history == [(None, Status.ELIGIBLE), (Status.ELIGIBLE, Status.INELIGIBLE)]
    headlines = [said for _, said in evaluator.store.data.history]
    assert headlines[0] == ("now eligible: at first screening, the one inclusion criterion met; "
                            "the one exclusion does not apply")
    assert headlines[1].startswith("no longer eligible: I1")


async def test_a_late_older_result_does_not_override_the_newer_one_by_clinical_time() -> None:
    evaluator = Evaluator()
    await evaluator.apply(patient_updated(
        PATIENT, (lab_fact(150, NOW - timedelta(hours=1), fact_id="new"),), NOW))
    late = await evaluator.apply(patient_updated(
        PATIENT, (lab_fact(20, NOW - timedelta(days=3), fact_id="old"),), NOW))

    # the decision is the standing one (150 decides): nothing new is written for the trial
    assert decisions_in(late.staged) == []
    assert alerts_in(late.staged) == []
    [standing] = decisions_in(evaluator.published)
    assert standing.decision.status is Status.ELIGIBLE
    assert "150" in standing.decision.criteria[0].reason
    status = evaluator.store.data.statuses[(PATIENT, TEST_TRIAL.id)]
    assert status.decision_id == str(standing.decision_id)
    [sent] = snapshots_in(late.staged)  # the new state still reaches the audit trail
    assert sent.state_version == 2
    assert {f.fact_id for f in sent.snapshot.facts} == {"new", "old"}  # both kept


async def test_a_decision_that_only_restates_the_standing_one_is_not_written_again() -> None:
    evaluator = Evaluator((TEST_TRIAL, SECOND_TRIAL))
    await evaluator.apply(patient_updated(
        PATIENT, (lab_fact(150, NOW - timedelta(hours=2), fact_id="a"),), NOW))
    evaluator.clock.now = NOW + timedelta(minutes=1)
    unrelated = ClinicalFact(
        fact_id="note-1", kind=FactKind.OBSERVATION,
        codes=(Coding(system="http://loinc.org", code="8302-2"),), status="final",
        effective_start=NOW, value_quantity=Quantity(value=170, unit="cm"),
        provenance=Provenance(source_system="test", format="fhir-r4",
                              resource="Observation/note-1"))
    quiet = await evaluator.apply(patient_updated(PATIENT, (unrelated,), NOW))

    assert quiet.applied == 1
    assert quiet.redelivered_keys == set()
    assert [type(e) for e in quiet.staged] == [PatientSnapshot]  # the new state, no decision
    assert len(decisions_in(evaluator.published)) == 2
    assert evaluator.store.data.states[PATIENT].version == 2

    # the next change is decided against the standing decision, and alerts as before
    evaluator.clock.now = NOW + timedelta(minutes=2)
    fallen = await evaluator.apply(patient_updated(
        PATIENT, (lab_fact(20, NOW + timedelta(minutes=1), fact_id="b"),), NOW))
    latest = decisions_in(fallen.staged)
    assert [(d.previous_status, d.decision.status, d.state_version) for d in latest] == [
        (Status.ELIGIBLE, Status.INELIGIBLE, 3)] * 2
    assert sorted(a.alert for a in alerts_in(fallen.staged)) == ["no-longer-eligible"] * 2


async def test_a_review_timer_is_set_at_next_review_at_and_fires_then_only() -> None:
    evaluator = Evaluator()
    stopped = NOW - timedelta(seconds=5)
    first = await evaluator.apply(patient_updated(
        PATIENT, (lab_fact(150, NOW - timedelta(hours=1)), drug_fact(stopped)), NOW))
    [made] = decisions_in(first.staged)
    due = stopped + WASHOUT
    assert made.decision.status is Status.INELIGIBLE
    assert made.decision.next_review_at == due
    assert evaluator.store.data.timers == {(PATIENT, TEST_TRIAL.id): due}

    evaluator.clock.now = due - timedelta(milliseconds=1)
    assert await evaluator.fire_timers() == []
    evaluator.clock.now = due + timedelta(seconds=1)
    fired = await evaluator.fire_timers()

    [review] = decisions_in(fired)
    assert review.decision.as_of == due  # the timer's own instant: when eligibility began
    assert review.decision.status is Status.ELIGIBLE
    assert [a.alert for a in alerts_in(fired)] == ["newly-eligible"]
    assert review.state_version == made.state_version  # no new data, same state
    lab_ages_out = NOW - timedelta(hours=1) + LOOKBACK  # the next instant it can change
    assert evaluator.store.data.timers == {(PATIENT, TEST_TRIAL.id): lab_ages_out}
    assert await evaluator.fire_timers() == []


async def test_a_timer_of_a_trial_no_longer_active_is_dropped_without_a_decision() -> None:
    evaluator = Evaluator()
    await evaluator.apply(patient_updated(
        PATIENT, (drug_fact(NOW - timedelta(seconds=5)),), NOW))
    assert evaluator.store.data.timers
    evaluator.store.data.active = ()
    evaluator.clock.now = NOW + timedelta(minutes=1)

    assert await evaluator.fire_timers() == []
    assert evaluator.store.data.timers == {}


async def test_a_merged_record_moves_to_the_survivor_and_is_never_screened_again() -> None:
    evaluator = Evaluator()
    await evaluator.apply(
        patient_updated("pk-survivor", (lab_fact(20, NOW - timedelta(days=2), "s-lab"),), NOW,
                        Demographics(birth_date=None)),
        patient_updated("pk-merged", (lab_fact(150, NOW - timedelta(hours=1), "m-lab"),), NOW,
                        Demographics(deceased=True)))
    merge = await evaluator.apply(merged("pk-survivor", "pk-merged"))
    later = await evaluator.apply(patient_updated(
        "pk-merged", (lab_fact(160, NOW - timedelta(minutes=5), "m-lab-2"),), NOW))

    [made] = decisions_in(merge.staged)
    assert made.patient_key == "pk-survivor"
    [sent] = snapshots_in(merge.staged)
    assert made.snapshot_hash == sent.snapshot_hash
    assert {f.fact_id for f in sent.snapshot.facts} == {"s-lab", "m-lab"}
    assert sent.snapshot.demographics.deceased is True  # either record saying so is kept
    closed = [a for a in alerts_in(merge.staged) if a.alert == "closed"]
    assert [(a.patient_key, a.trial.id) for a in closed] == [("pk-merged", TEST_TRIAL.id)]
    assert "pk-survivor" in closed[0].reasons[0]
    assert {d.patient_key for d in decisions_in(later.staged)} == {"pk-survivor"}
    stored = evaluator.store.data
    assert "pk-merged" not in stored.states
    assert all(key != "pk-merged" for key, _ in stored.statuses)
    assert stored.survivors == {"pk-merged": "pk-survivor"}


async def test_a_merge_delivered_again_or_of_an_already_merged_record_moves_nothing() -> None:
    evaluator = Evaluator()
    await evaluator.apply(
        patient_updated("pk-a", (lab_fact(150, NOW - timedelta(hours=1), "a"),), NOW),
        patient_updated("pk-b", (lab_fact(150, NOW - timedelta(hours=1), "b"),), NOW))
    event = merged("pk-a", "pk-b")
    await evaluator.apply(event)
    before = list(evaluator.published)

    assert (await evaluator.apply(event)).staged == []
    assert (await evaluator.apply(merged("pk-a", "pk-b"))).staged == []
    assert evaluator.published == before


class PoisonedScreener(OneLabScreener):
    """Raises outside the engine (where no engine-failure policy applies) for a patient with
    a fact called ``poison``."""

    def evaluate(
        self, trial: TrialRef, facts: PatientFacts, as_of: datetime,
        patient_key: str | None = None,
    ) -> Decision:
        self.poisoned = any(f.fact_id == "poison" for f in facts.facts)
        return super().evaluate(trial, facts, as_of, patient_key)

    def content_hash(self, trial: TrialRef) -> str | None:
        if self.poisoned:
            raise RuntimeError("cannot hash this trial's text")
        return None


async def test_an_event_whose_screening_raises_is_rejected_and_the_rest_of_the_batch_commits(
) -> None:
    evaluator = Evaluator()
    evaluator.context = ScreeningContext(PoisonedScreener(), evaluator.clock,
                                         telemetry=evaluator.telemetry)
    poison = patient_updated("pk-poison", (lab_fact(150, NOW, "poison"),), NOW)
    outcome = await evaluator.apply(
        poison, patient_updated("pk-good", (lab_fact(150, NOW - timedelta(hours=1)),), NOW))

    assert [index for index, _ in outcome.rejected] == [0]
    assert "RuntimeError" in outcome.rejected[0][1]
    assert outcome.applied == 1
    assert {d.patient_key for d in decisions_in(evaluator.published)} == {"pk-good"}
    assert "pk-poison" not in evaluator.store.data.states  # nothing of it was kept
    [(about, error)] = evaluator.telemetry.dead_lettered
    assert about == (poison.event_id, "pk-poison")
    assert isinstance(error, RuntimeError)


async def test_an_engine_failure_is_undetermined_and_counted_and_the_update_is_kept() -> None:
    evaluator = Evaluator((TEST_TRIAL, SECOND_TRIAL))
    original = evaluator.screener.evaluate

    def evaluate(
        trial: TrialRef, facts: PatientFacts, as_of: datetime, patient_key: str | None = None,
    ) -> Decision:
        if trial == SECOND_TRIAL:
            raise ZeroDivisionError("engine bug")
        return original(trial, facts, as_of, patient_key)

    evaluator.screener.evaluate = evaluate  # type: ignore[method-assign]
    event = patient_updated(PATIENT, (lab_fact(150, NOW - timedelta(hours=1)),), NOW)
    outcome = await evaluator.apply(event)

    by_trial = {d.decision.trial.id: d.decision for d in decisions_in(outcome.staged)}
    assert by_trial[TEST_TRIAL.id].status is Status.ELIGIBLE
    assert by_trial[SECOND_TRIAL.id].status is Status.UNDETERMINED
    assert by_trial[SECOND_TRIAL.id].engine_version == "engine-error"
    assert evaluator.telemetry.engine_failures == [((event.event_id, PATIENT), SECOND_TRIAL)]
    assert evaluator.store.data.states[PATIENT].version == 1


async def test_a_failed_write_keeps_nothing_of_the_batch() -> None:
    evaluator = Evaluator()

    async def apply_then_lose_the_database() -> None:
        async with evaluator.store.unit_of_work() as uow:
            await apply_patient_events(uow, evaluator.context, [patient_updated(
                PATIENT, (lab_fact(150, NOW - timedelta(hours=1)),), NOW)])
            raise ConnectionError("the database went away before the commit")

    with pytest.raises(ConnectionError):
        await apply_then_lose_the_database()

    assert evaluator.store.data.states == {}
    assert evaluator.published == []


async def test_activating_a_trial_version_rescreens_every_known_patient_naming_the_change(
) -> None:
    evaluator = Evaluator()
    for key, value in (("pk-1", 150), ("pk-2", 20), ("pk-3", 150)):
        await evaluator.apply(patient_updated(
            key, (lab_fact(value, NOW - timedelta(hours=1)),), NOW))
    await evaluator.apply(merged("pk-1", "pk-3"))
    new_version = TrialRef(id=TEST_TRIAL.id, version="2")
    change = RegistryChangeRef(change_id=uuid.uuid4(), action="activate", actor="cli:test",
                               at=NOW, trial=new_version, content_hash="sha256:x")
    evaluator.clock.now = NOW + timedelta(minutes=1)

    async with evaluator.store.unit_of_work() as uow:
        keys = await uow.patients.keys_after(None, 100)
        staged = await rescreen_patients(uow, evaluator.context, keys, change)

    made = decisions_in(staged)
    assert keys == ["pk-1", "pk-2"]  # the merged record is no longer a patient
    assert [(d.patient_key, d.decision.trial) for d in made] == [
        ("pk-1", new_version), ("pk-2", new_version)]
    assert all(d.registry_change == change and d.causation_id == change.change_id for d in made)
    assert all(d.previous_status is not None for d in made)  # compared with the old version
    assert alerts_in(staged) == []  # nobody crossed the eligible line


async def test_activating_the_version_a_patient_was_already_screened_against_writes_nothing(
) -> None:
    # the folder's trial is screened as shipped by each patient's own event; the registry loop
    # activates that very version a moment later. Before, the re-screen wrote and published a
    # second decision of the same version and status for every such patient (seen as a stray
    # NCT06920433 decision after an INR in test_trial_registry, 2 failed runs of 4)
    evaluator = Evaluator()
    for key, value in (("pk-1", 150), ("pk-2", 20)):
        await evaluator.apply(patient_updated(
            key, (lab_fact(value, NOW - timedelta(hours=1)),), NOW))
    written = len(evaluator.published)
    change = RegistryChangeRef(change_id=uuid.uuid4(), action="activate", actor="folder",
                               at=NOW, trial=TEST_TRIAL, content_hash="sha256:x")
    evaluator.clock.now = NOW + timedelta(minutes=1)

    async with evaluator.store.unit_of_work() as uow:
        keys = await uow.patients.keys_after(None, 100)
        staged = await rescreen_patients(uow, evaluator.context, keys, change)

    assert keys == ["pk-1", "pk-2"]
    assert staged == []  # no decision, no snapshot: both standing decisions say the same
    assert len(evaluator.published) == written


async def test_retiring_a_trial_closes_the_alert_of_an_eligible_patient_with_the_reason() -> None:
    change = RegistryChangeRef(
        change_id=uuid.uuid4(), action="retire", actor="cli:pi", at=NOW,
        trial=TEST_TRIAL, content_hash="sha256:x", reason="enrolment complete")
    decision_id = str(uuid.uuid4())
    closing = closing_alert(PATIENT, CurrentStatus(Status.ELIGIBLE, decision_id, "1", None),
                            change, zone=ZoneInfo("Europe/Paris"))

    assert closing.alert == "closed"
    assert str(closing.decision_id) == decision_id
    assert closing.trial == TEST_TRIAL
    assert closing.reasons == (
        f"trial {TEST_TRIAL.id} retired by cli:pi at {human_time(NOW, ZoneInfo('Europe/Paris'))}"
        ": enrolment complete",)
    assert NOW.isoformat()[:10] not in closing.reasons[0], "the moment as people write it"
    assert closing.occurred_at == NOW, "the event keeps the instant itself"
    assert closing.registry_change == change
    assert closing_alert(PATIENT, CurrentStatus(Status.ELIGIBLE, decision_id, "1", None),
                         change).event_id == closing.event_id  # the same alert if staged twice


async def test_a_trial_no_longer_active_gets_no_decision_from_new_events() -> None:
    evaluator = Evaluator((TEST_TRIAL, SECOND_TRIAL))
    evaluator.store.data.active = (SECOND_TRIAL,)
    outcome = await evaluator.apply(patient_updated(
        PATIENT, (lab_fact(150, NOW - timedelta(hours=1)),), NOW))

    assert [d.decision.trial for d in decisions_in(outcome.staged)] == [SECOND_TRIAL]


async def test_an_eligible_record_merged_into_a_new_key_is_closed_and_the_survivor_alerted(
) -> None:
    evaluator = Evaluator()
    first = await evaluator.apply(patient_updated(
        "pk-old", (lab_fact(150, NOW - timedelta(hours=1), "old-lab"),), NOW))
    [eligible] = decisions_in(first.staged)
    merge = await evaluator.apply(merged("pk-new", "pk-old"))  # a survivor never seen before

    alerts = alerts_in(evaluator.published)
    assert sorted((a.patient_key, a.alert) for a in alerts) == sorted([
        ("pk-old", "newly-eligible"), ("pk-old", "closed"), ("pk-new", "newly-eligible")])
    [closed] = [a for a in alerts if a.alert == "closed"]
    assert closed.reasons == ("record merged into pk-new: screened as that patient from now on",)
    assert closed.decision_id == eligible.decision_id
    assert [d.patient_key for d in decisions_in(merge.staged)] == ["pk-new"]


# HL7 v2.5.1 table 0085 (OBX-11): C replaces the F result of the same observation, and the F
# re-sent afterwards (a replayed interface queue) does not undo the correction.
_OBSERVED = NOW - timedelta(days=1)


def _oru(control: str, sent: datetime, value: str, status: str) -> str:
    when = _OBSERVED.strftime("%Y%m%d%H%M%S+0000")
    return "\r".join([
        f"MSH|^~\\&|LIS|CITY-LAB|TW|TW|{sent.strftime('%Y%m%d%H%M%S+0000')}||ORU^R01^ORU_R01|"
        f"{control}|P|2.5.1",
        "PID|1||MRN-7^^^CITY^MR||Roe^Jane||19900101|F",
        f"OBR|1|PLC-1|FIL-1|lab-panel^Test panel^urn:trialwatch:test|||{when}",
        # OBX-11 is the result status (v2.5.1 7.4.2.11); it was sent in OBX-10 before, so the
        # C was read as a result of unknown status
        f"OBX|1|NM|lab^Test lab^urn:trialwatch:test||{value}|1|||||{status}|||{when}",
    ]) + "\r"


def _hl7_event(message: str) -> PatientUpdated:
    (update,) = parse_hl7v2(message)
    return patient_updated(PATIENT, update.facts, NOW)


async def test_a_corrected_result_replaces_the_final_one_and_a_late_resend_does_not_undo_it(
) -> None:
    evaluator = Evaluator()
    final = _oru("M-1", NOW - timedelta(hours=2), "150", "F")
    corrected = _oru("M-2", NOW - timedelta(hours=1), "15", "C")
    await evaluator.apply(_hl7_event(final))
    await evaluator.apply(_hl7_event(corrected))
    resent = await evaluator.apply(_hl7_event(final))

    reasons = [d.decision.criteria[0].reason for d in decisions_in(evaluator.published)]
    assert reasons[:2] == ["test lab 150.0 >= 100.0", "test lab 15.0 < 100.0"]
    assert all(r == "test lab 15.0 < 100.0" for r in reasons[1:])
    assert all(d.decision.criteria[0].reason == "test lab 15.0 < 100.0"
               for d in decisions_in(resent.staged))


# The same, with the final re-sent under the correction's own MSH-7 (an interface engine that
# re-stamps a replayed message, or F and C batched in one second): the versions are equal, and
# table 0085 C ("a correction and thus replaces a final result") still stands. Before, the
# equal version let the F replace the C.
async def test_a_final_re_sent_with_the_corrections_own_message_time_does_not_undo_it() -> None:
    evaluator = Evaluator()
    corrected_at = NOW - timedelta(hours=1)
    await evaluator.apply(_hl7_event(_oru("M-1", NOW - timedelta(hours=2), "150", "F")))
    await evaluator.apply(_hl7_event(_oru("M-2", corrected_at, "15", "C")))
    resent = await evaluator.apply(_hl7_event(_oru("M-3", corrected_at, "150", "F")))
    assert all(d.decision.criteria[0].reason == "test lab 15.0 < 100.0"
               for d in decisions_in(resent.staged))
    reasons = [d.decision.criteria[0].reason for d in decisions_in(evaluator.published)]
    assert reasons[-1] == "test lab 15.0 < 100.0"
