"""A patient's site (PatientUpdated.site, stamped by intake from the lab token) is kept with the
screening state and stamped on the patient's alerts, on the evaluator's core over fakes."""

from __future__ import annotations

import uuid
from datetime import timedelta

from services.evaluator.core.ports import CurrentStatus
from services.evaluator.core.registry_changes import closing_alert
from shared.contracts.events import (
    DecisionMade,
    EligibilityAlert,
    PatientMerged,
    PatientUpdated,
    RegistryChangeRef,
)
from shared.eligibility.decision import Status, TrialRef
from tests.unit.evaluator.fakes import lab_fact, patient_updated
from tests.unit.evaluator.test_screening_core import NOW, PATIENT, Evaluator, alerts_in


def at_site(event: PatientUpdated, site: str | None) -> PatientUpdated:
    return event.model_copy(update={"site": site})


async def test_the_site_of_an_update_is_kept_with_the_state_and_stamped_on_its_alert() -> None:
    evaluator = Evaluator()
    outcome = await evaluator.apply(at_site(patient_updated(
        PATIENT, (lab_fact(150, NOW - timedelta(hours=1)),), NOW), "A"))
    assert evaluator.store.data.states[PATIENT].site == "A"
    [alert] = alerts_in(outcome.staged)
    assert alert.site == "A"


async def test_every_decision_carries_the_patients_site_for_audit() -> None:
    evaluator = Evaluator()
    outcome = await evaluator.apply(at_site(patient_updated(
        PATIENT, (lab_fact(150, NOW - timedelta(hours=1)),), NOW), "A"))
    made = [e for e in outcome.staged if isinstance(e, DecisionMade)]
    assert made
    assert {d.site for d in made} == {"A"}
    unstamped = await evaluator.apply(patient_updated(
        "pk_unstamped", (lab_fact(150, NOW - timedelta(hours=1)),), NOW))
    assert {d.site for d in unstamped.staged if isinstance(d, DecisionMade)} == {None}


async def test_an_update_without_a_site_keeps_the_site_the_patient_has() -> None:
    evaluator = Evaluator()
    await evaluator.apply(at_site(patient_updated(
        PATIENT, (lab_fact(50, NOW - timedelta(hours=2)),), NOW), "A"))
    outcome = await evaluator.apply(patient_updated(
        PATIENT, (lab_fact(150, NOW - timedelta(hours=1), fact_id="lab-2"),), NOW))
    assert evaluator.store.data.states[PATIENT].site == "A"
    assert [a.site for a in alerts_in(outcome.staged)] == ["A"]


async def test_the_latest_stamped_site_wins() -> None:
    evaluator = Evaluator()
    await evaluator.apply(at_site(patient_updated(
        PATIENT, (lab_fact(50, NOW - timedelta(hours=2)),), NOW), "A"))
    await evaluator.apply(at_site(patient_updated(
        PATIENT, (lab_fact(60, NOW - timedelta(hours=1), fact_id="lab-2"),), NOW), "B"))
    assert evaluator.store.data.states[PATIENT].site == "B"


async def test_a_patient_never_stamped_has_no_site_and_neither_have_its_alerts() -> None:
    evaluator = Evaluator()
    outcome = await evaluator.apply(patient_updated(
        PATIENT, (lab_fact(150, NOW - timedelta(hours=1)),), NOW))
    assert evaluator.store.data.states[PATIENT].site is None
    assert [a.site for a in alerts_in(outcome.staged)] == [None]


async def test_a_merge_keeps_the_survivors_site_and_closes_the_merged_records_alert_at_its_site(
) -> None:
    evaluator = Evaluator()
    await evaluator.apply(at_site(patient_updated(
        "pk-old", (lab_fact(150, NOW - timedelta(hours=1)),), NOW), "B"))
    await evaluator.apply(at_site(patient_updated(
        "pk-new", (lab_fact(50, NOW - timedelta(hours=1), fact_id="lab-9"),), NOW), "A"))
    outcome = await evaluator.apply(PatientMerged(
        event_id=uuid.uuid4(), occurred_at=NOW, recorded_at=NOW, source="test",
        patient_key="pk-new", merged_key="pk-old", correlation_id=uuid.uuid4()))
    assert evaluator.store.data.states["pk-new"].site == "A"
    closed = [a for a in alerts_in(outcome.staged) if a.alert == "closed"]
    assert [(a.patient_key, a.site) for a in closed] == [("pk-old", "B")]


def test_an_alert_read_without_a_site_is_still_valid_and_has_none() -> None:
    alert = closing_alert("pk-1", CurrentStatus(Status.ELIGIBLE, str(uuid.uuid4()), "1", None),
                          _change())
    raw = alert.model_dump(mode="json")
    raw.pop("site")
    assert EligibilityAlert.model_validate(raw).site is None


def _change() -> RegistryChangeRef:
    return RegistryChangeRef(change_id=uuid.uuid4(), action="retire", actor="cli:t", at=NOW,
                             trial=TrialRef(id="NCT1", version="1"), content_hash="sha256:x")
