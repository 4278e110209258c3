"""Decision and alert events from an engine decision: deterministic ids, transitions, reasons."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import OrderedDict
from datetime import datetime
from uuid import UUID

from shared.clinical.facts import ClinicalFact, PatientFacts
from shared.contracts.events import (
    AlertKind,
    DecisionMade,
    EligibilityAlert,
    PatientSnapshot,
    RegistryChangeRef,
)
from shared.eligibility.decision import (
    CriterionKind,
    CriterionResult,
    Decision,
    Outcome,
    Status,
    TrialRef,
)
from shared.eligibility.readable import clean_reason, needs
from shared.hashing import content_hash
from shared.time import iso_z

SOURCE = "trialwatch-evaluator"
EVALUATOR_VERSION = "trialwatch-evaluator/0.1.0"
_DECISION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://trialwatch.org/ns/evaluator/decision")
_ALERT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://trialwatch.org/ns/evaluator/alert")
_TIMER_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://trialwatch.org/ns/evaluator/timer")
_SNAPSHOT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL,
                                 "https://trialwatch.org/ns/evaluator/snapshot")


def decision_id(patient_key: str, state_version: int, trial: TrialRef, as_of: datetime) -> UUID:
    """The same patient state, trial version and instant always give the same id."""
    name = "|".join((patient_key, str(state_version), trial.id, trial.version, iso_z(as_of)))
    return uuid.uuid5(_DECISION_NAMESPACE, name)


def alert_id(decision: UUID) -> UUID:
    return uuid.uuid5(_ALERT_NAMESPACE, str(decision))


def timer_firing_id(patient_key: str, trial_id: str, due_at: datetime) -> UUID:
    return uuid.uuid5(_TIMER_NAMESPACE, "|".join((patient_key, trial_id, iso_z(due_at))))


def patient_snapshot(
    *, patient_key: str, state_version: int, snapshot: PatientFacts, snapshot_hash: str,
    as_of: datetime, causation_id: UUID | None, correlation_id: UUID, recorded_at: datetime,
) -> PatientSnapshot:
    """The input of one evaluation, sent once before the decisions that reference it. Its id
    depends only on patient key, state version and hash: re-screening an unchanged state (a
    timer, an amendment) stages the same id again, which the outbox keeps once."""
    identity = uuid.uuid5(_SNAPSHOT_NAMESPACE,
                          "|".join((patient_key, str(state_version), snapshot_hash)))
    return PatientSnapshot(
        event_id=identity, occurred_at=as_of, recorded_at=recorded_at, source=SOURCE,
        patient_key=patient_key, causation_id=causation_id, correlation_id=correlation_id,
        state_version=state_version, snapshot_hash=snapshot_hash, snapshot=snapshot,
    )


def decision_made(
    *,
    patient_key: str,
    state_version: int,
    decision: Decision,
    snapshot: PatientFacts,
    previous_status: Status | None,
    causation_id: UUID | None,
    correlation_id: UUID,
    recorded_at: datetime,
    trial_content_hash: str | None = None,
    registry_change: RegistryChangeRef | None = None,
    snapshot_hash: str | None = None,
    site: str | None = None,
) -> DecisionMade:
    """The decision event for one trial (schema version 2: the snapshot is referenced by its
    hash and sent once as ``patient_snapshot``); ``site`` is the patient's
    (``PatientState.site``), kept by audit to scope site-scoped auditors. ``snapshot_hash`` is
    ``content_hash(snapshot)`` when the caller already has it: one event screened against many
    trials shares one snapshot, and hashing it (canonical JSON of every fact, ~5 ms for 250
    facts) cost more than evaluating it.
    """
    identity = decision_id(patient_key, state_version, decision.trial, decision.as_of)
    return DecisionMade(
        event_id=identity,
        occurred_at=decision.as_of,
        recorded_at=recorded_at,
        source=SOURCE,
        patient_key=patient_key,
        causation_id=causation_id,
        correlation_id=correlation_id,
        decision_id=identity,
        state_version=state_version,
        evaluator_version=EVALUATOR_VERSION,
        decision=decision,
        previous_status=previous_status,
        schema_version=2,
        snapshot_hash=snapshot_hash if snapshot_hash is not None else content_hash(snapshot),
        trial_content_hash=trial_content_hash,
        registry_change=registry_change,
        site=site,
    )


def transition(previous: Status | None, current: Status) -> AlertKind | None:
    """Only crossing the eligible line alerts; an unchanged status never repeats an alert."""
    was, now = previous is Status.ELIGIBLE, current is Status.ELIGIBLE
    if now and not was:
        return "newly-eligible"
    if was and not now:
        return "no-longer-eligible"
    return None


def reasons(decision: Decision) -> tuple[str, ...]:
    """Eligible: every criterion's reason. Otherwise: the criteria that stand in the way."""
    relevant = [
        c for c in decision.criteria
        if decision.status is Status.ELIGIBLE or c.outcome is not Outcome.PASS
    ]
    return tuple(f"{c.id}: {clean_reason(c.reason)}" for c in relevant)


def eligibility_alert(made: DecisionMade, kind: AlertKind, headline: str = "",
                      site: str | None = None) -> EligibilityAlert:
    """The alert of a status change; ``site`` is the patient's (``PatientState.site``)."""
    return EligibilityAlert(
        event_id=alert_id(made.decision_id),
        occurred_at=made.occurred_at,
        recorded_at=made.recorded_at,
        source=SOURCE,
        patient_key=made.patient_key,
        causation_id=made.decision_id,
        correlation_id=made.correlation_id,
        alert=kind,
        trial=made.decision.trial,
        decision_id=made.decision_id,
        status=made.decision.status,
        previous_status=made.previous_status,
        reasons=reasons(made.decision),
        headline=headline or kind.replace("-", " "),
        needs=needs(made.decision),
        site=site,
    )


_MISSING: dict[tuple[tuple[str, tuple[str, ...], str], ...], tuple[str, ...]] = {}
_MISSING_KEPT = 4096


def missing_data(decision: Decision) -> list[str]:
    """What would have to arrive for an undetermined decision to be decided, de-duplicated.

    Worked out once per distinct set of unknown criteria (``needs`` reads only their ids,
    missing items, and the reason of one that names no missing item, and rewrites each in
    plain words, which is costly): every event writes one status per trial, and most patients
    lack the same things. A reason is part of the key only where ``needs`` reads it: reasons
    quote the patient's own values and dates, so keying on every reason missed for nearly
    every patient."""
    unknown = tuple((c.id, c.missing, "" if c.missing else c.reason)
                    for c in decision.criteria if c.outcome is Outcome.UNKNOWN)
    items = _MISSING.get(unknown)
    if items is None:
        if len(_MISSING) >= _MISSING_KEPT:
            _MISSING.clear()
        items = _MISSING[unknown] = tuple(need.item for need in needs(decision))
    return list(items)


def engine_failed(trial: TrialRef, as_of: datetime, error: BaseException) -> Decision:
    """What a decision says when the engine raised: undetermined, never eligible, and why."""
    return Decision(
        trial=trial,
        as_of=as_of,
        status=Status.UNDETERMINED,
        criteria=(CriterionResult(
            id="ENGINE",
            kind=CriterionKind.INCLUSION,
            outcome=Outcome.UNKNOWN,
            reason=f"the criteria engine failed on this patient ({type(error).__name__}); "
                   "reported to the maintainers",
            missing=("a criteria engine that can evaluate this patient",),
        ),),
        next_review_at=None,
        engine_version="engine-error",
    )


HELD_ENGINE_VERSION = "intake-hold"


def held_by_intake(trial: TrialRef, as_of: datetime, reasons: tuple[str, ...]) -> Decision:
    """What a decision says while intake holds the patient's updates (``PatientUpdatesHeld``):
    undetermined, never eligible, and why. ``reasons``: intake's, one per hold in effect (no
    payload). The criteria are not evaluated: the data they would read is known to be
    incomplete. No review time: the release re-screens the patient."""
    said = "; ".join(reasons)
    return Decision(
        trial=trial,
        as_of=as_of,
        status=Status.UNDETERMINED,
        criteria=(CriterionResult(
            id="INTAKE-HOLD",
            kind=CriterionKind.INCLUSION,
            outcome=Outcome.UNKNOWN,
            reason=f"intake holds updates for this patient ({said}): the data here is known "
                   "to be incomplete until intake releases them",
            missing=("the patient updates intake holds",),
        ),),
        next_review_at=None,
        engine_version=HELD_ENGINE_VERSION,
    )


_FRAGMENTS: OrderedDict[int, tuple[ClinicalFact, bytes]] = OrderedDict()
_FRAGMENT_BYTES_KEPT = 32 * 1024 * 1024
_fragment_bytes = 0


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def _fact_json(fact: ClinicalFact) -> bytes:
    """``canonical_json(fact)``, remembered for the fact object (at most ~32 MiB of them, the
    oldest forgotten first): one event changes a few of a patient's facts, and re-serialising
    all 250 of them to hash the snapshot cost more than screening it against 30 trials."""
    global _fragment_bytes
    kept = _FRAGMENTS.get(id(fact))
    if kept is not None and kept[0] is fact:
        return kept[1]
    fragment = _canonical(fact.model_dump(mode="json"))
    if kept is not None:
        _fragment_bytes -= len(kept[1])
    _FRAGMENTS[id(fact)] = (fact, fragment)  # the fact is held: its id is not reused meanwhile
    _fragment_bytes += len(fragment)
    while _fragment_bytes > _FRAGMENT_BYTES_KEPT and _FRAGMENTS:
        _, (_, dropped) = _FRAGMENTS.popitem(last=False)
        _fragment_bytes -= len(dropped)
    return fragment


def snapshot_hash(snapshot: PatientFacts) -> str:
    """``shared.hashing.content_hash(snapshot)``, byte for byte the same canonical JSON, built
    from each fact's remembered canonical JSON (``_fact_json``): canonical JSON is
    compositional (sorted keys at every level, no white space, UTF-8), and a ``PatientFacts``
    dumps to exactly ``{"demographics": ..., "facts": [...]}``. Audit recomputes the hash from
    the snapshot it stores, so the two must never differ
    (tests/unit/evaluator/test_snapshot_hash.py)."""
    digest = hashlib.sha256()
    digest.update(b'{"demographics":')
    digest.update(_canonical(snapshot.demographics.model_dump(mode="json")))
    digest.update(b',"facts":[')
    digest.update(b",".join(_fact_json(f) for f in snapshot.facts))
    digest.update(b"]}")
    return "sha256:" + digest.hexdigest()
