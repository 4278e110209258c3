"""The events on each topic. Frozen, versioned, and free of PHI by construction."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.clinical.facts import ClinicalFact, Demographics, PatientFacts
from shared.contracts.envelope import (
    PATIENT_KEY_MAX_LENGTH,
    REASON_MAX_LENGTH,
    SOURCE_MAX_LENGTH,
    Envelope,
)
from shared.contracts.signatures import EventSignature
from shared.eligibility.decision import (
    CRITERION_ID_MAX_LENGTH,
    CRITERION_REASON_MAX_LENGTH,
    Decision,
    Status,
    TrialRef,
)
from shared.eligibility.readable import NEED_MAX_LENGTH, PLAIN_WORDS_GROWTH, Need
from shared.sites import SITE_PATTERN
from shared.time import UtcDatetime

HASH_MAX_LENGTH = 71
"""``sha256:`` + 64 hex digits (``shared.hashing.content_hash``); audit's hash columns hold 71."""
ALERT_TEXT_MAX_LENGTH = (CRITERION_ID_MAX_LENGTH + 2
                         + PLAIN_WORDS_GROWTH * CRITERION_REASON_MAX_LENGTH)
"""One reason of an alert: ``"<criterion id>: "`` and the engine's reason in people's words
(``readable.clean_reason``, at most ``PLAIN_WORDS_GROWTH`` times the engine's bound): 32,802;
real 5,559."""
HEADLINE_MAX_LENGTH = 3 * (2 * NEED_MAX_LENGTH + 256) + 256
"""An alert's headline (``readable.headline``): a lead and at most 3 clauses, each a criterion
id and at most two needs in people's words (``NEED_MAX_LENGTH`` each) or one evidence phrase
(a note and a value in words: shorter); real under 300."""
DEAD_LETTER_KEY_MAX_LENGTH = 512
DEAD_LETTER_PAYLOAD_MAX_LENGTH = 16 * 1024 * 1024
"""Characters: a message the broker delivered (its size limit, 1 MiB by default) as base64."""

SiteCode = Annotated[str, Field(max_length=64, pattern=SITE_PATTERN)]
"""A site code as token claims name it (letters, digits, '.', '_', '-'; at most 64)."""


class PatientUpdated(Envelope):
    """``patient.events.v1``: new or corrected clinical facts about one patient.

    Keyed by ``patient_key``, so one patient's events stay in order on one partition.
    ``site``: the site of the lab system that submitted it, taken by intake from the
    authenticated token's ``sites`` claim, never from the payload (deploy/SECURITY.md "Site
    scope"); absent on events of senders without a site claim and on events written before it.
    """

    event_type: Literal["patient.updated"] = "patient.updated"
    demographics: Demographics | None = None
    facts: tuple[ClinicalFact, ...] = ()
    site: SiteCode | None = Field(
        default=None, description="the submitting lab token's site (its sites claim), or none")


class PatientMerged(Envelope):
    """``patient.events.v1``: the record ``merged_key`` was merged into ``patient_key``.

    The source said so (FHIR ``Patient.link`` replaced-by on an inactive record, HL7 v2
    ADT^A40 with MRG), or one submission named two surrogate keys as the same patient (a
    Patient resource and its identifiers). Surrogate keys only. Keyed by the surviving
    ``patient_key``; the evaluator moves the merged record's facts to the survivor, stops
    screening ``merged_key`` (no decision, no alert for it again) and sends any later event
    for it to the survivor. Decisions already made for ``merged_key`` stay in the audit trail.
    """

    event_type: Literal["patient.merged"] = "patient.merged"
    merged_key: str = Field(max_length=PATIENT_KEY_MAX_LENGTH,
                            description="surrogate key of the record merged away")
    reason: Literal["source-merge", "same-patient"] = "source-merge"


PatientEvent = Annotated[PatientUpdated | PatientMerged, Field(discriminator="event_type")]


class RegistryChangeRef(BaseModel):
    """A trial-registry change (add, activate, deactivate, retire): who, when, which text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    change_id: UUID
    action: Literal["add", "activate", "deactivate", "retire"]
    actor: str = Field(max_length=128, description="the admin client or CLI user")
    at: UtcDatetime
    trial: TrialRef
    content_hash: str = Field(max_length=128,
                              description="sha256 of the stored trial text ('shipped:<version>' "
                                          "for a shipped file not stored in the registry)")
    reason: str | None = Field(default=None, max_length=REASON_MAX_LENGTH)


class PatientSnapshot(Envelope):
    """``eligibility.decisions.v1``: the exact input (patient facts) of one evaluation, sent
    once and referenced by every decision made from it (``DecisionMade.snapshot_hash``).

    Keyed by ``patient_key`` like the decisions and staged before them, so on their partition
    it always precedes them. ``event_id`` is deterministic from patient key, state version and
    hash: a re-screen of an unchanged state sends nothing new. ``snapshot_hash`` is
    ``shared.hashing.content_hash(snapshot)``; consumers check it.
    """

    event_type: Literal["eligibility.snapshot"] = "eligibility.snapshot"
    schema_version: int = 2
    state_version: int
    snapshot_hash: str = Field(max_length=HASH_MAX_LENGTH)
    snapshot: PatientFacts
    signature: EventSignature | None = Field(
        default=None, description="the evaluator's Ed25519 signature of the event without "
                                  "this field and without snapshot (bound by snapshot_hash)")


class DecisionMade(Envelope):
    """``eligibility.decisions.v1``: one trial version evaluated for one patient at one instant.

    ``decision_id`` is deterministic from patient key, patient-state version, trial version
    and as-of time, so a redelivered patient event yields the same id and consumers can
    drop the duplicate. ``snapshot_hash`` is the content hash of the exact input. Schema
    version 2 (published now) references the input by that hash only: it travels once per
    evaluation as a ``PatientSnapshot`` ahead of its decisions. Version 1 (earlier data,
    replays) carries it inline in ``snapshot``; both are read.
    """

    event_type: Literal["eligibility.decided"] = "eligibility.decided"
    decision_id: UUID
    state_version: int
    evaluator_version: str = Field(max_length=64)
    decision: Decision
    previous_status: Status | None = None
    snapshot_hash: str = Field(max_length=HASH_MAX_LENGTH)
    snapshot: PatientFacts | None = Field(
        default=None, description="schema version 1 only: the input inline (version 2 sends "
                                  "it as a PatientSnapshot)")
    trial_content_hash: str | None = Field(
        default=None, max_length=HASH_MAX_LENGTH,
        description="sha256 of the registry text of the trial version used")
    registry_change: RegistryChangeRef | None = Field(
        default=None, description="the registry change that caused this decision (a re-screen)")
    signature: EventSignature | None = Field(
        default=None, description="the evaluator's Ed25519 signature of the signed content "
                                  "(shared.contracts.signatures); audit refuses a decision "
                                  "without a valid one from a trusted key")
    site: SiteCode | None = Field(
        default=None, description="the patient's site when decided (PatientState.site: the "
                                  "site of its latest PatientUpdated that had one); signed "
                                  "when present; audit scopes site-scoped auditor tokens by "
                                  "it (docs/audit.md 'Site scope')")


    @model_validator(mode="after")
    def _snapshot_matches_schema_version(self) -> DecisionMade:
        if self.schema_version == 1 and self.snapshot is None:
            raise ValueError("schema version 1 carries its snapshot inline")
        if self.schema_version >= 2 and self.snapshot is not None:
            raise ValueError("schema version 2 references its snapshot by snapshot_hash only")
        return self


DecisionsEvent = Annotated[DecisionMade | PatientSnapshot, Field(discriminator="event_type")]
"""What ``eligibility.decisions.v1`` carries."""


AlertKind = Literal["newly-eligible", "no-longer-eligible", "closed"]


class EligibilityAlert(Envelope):
    """``eligibility.alerts.v1``: a patient crossed into, or out of, eligible for a trial."""

    event_type: Literal["eligibility.alert"] = "eligibility.alert"
    alert: AlertKind
    trial: TrialRef
    decision_id: UUID
    status: Status
    previous_status: Status | None = None
    # the engine's criterion reasons in people's words, one per criterion (the engine refuses
    # a longer reason where it is made: shared.eligibility.decision.DecisionTextTooLong)
    reasons: tuple[Annotated[str, Field(max_length=ALERT_TEXT_MAX_LENGTH)], ...] = Field(
        default=(), max_length=1000)
    registry_change: RegistryChangeRef | None = Field(
        default=None, description="for 'closed': the deactivation or retirement that closed it")
    headline: str = Field(
        default="", max_length=HEADLINE_MAX_LENGTH,
        description="what changed since the previous decision, e.g. 'now eligible: I6.1 met, "
                    "platelet count 150 x10^9/L on 28 Feb'",
    )
    needs: tuple[Need, ...] = Field(
        default=(), max_length=1000,
        description="what to send next, each item once, with the criteria it unblocks",
    )
    site: SiteCode | None = Field(
        default=None, description="the patient's site when the alert was raised (the site of "
                                  "its latest PatientUpdated that had one); coordinators "
                                  "scoped to other sites never receive it")


class PatientReidentified(Envelope):
    """``intake.reidentifications.v1``: someone asked intake for the source identity behind a
    surrogate key (``POST /patients/{key}/reidentify``, from the coordinator app or the API) or
    for the key behind a source identity (``POST /patients/lookup``).

    Staged in intake's outbox in the transaction that writes intake's own re-identification
    log, so one exists for every attempt intake answered, refused ones included; audit appends
    it to its hash-chained access log (docs/audit.md "Re-identifications"). Surrogate key only,
    never the identifier revealed: ``patient_key`` is ``"-"`` for a look-up that found no
    patient. ``reason`` is the requester's own words, as intake keeps them.
    """

    event_type: Literal["patient.reidentified"] = "patient.reidentified"
    kind: Literal["reidentify", "lookup"] = Field(
        description="reidentify: key -> source identity; lookup: source identity -> key")
    requester: str = Field(max_length=128, description="the token's client name (never the "
                                                       "token)")
    role: str = Field(max_length=32)
    trial: str | None = Field(default=None, max_length=64,
                              description="the trial the requester named")
    reason: str | None = Field(default=None, max_length=2000)
    outcome: Literal["revealed", "unknown", "outside-sites"] = Field(
        description="revealed: answered; unknown: no such patient; outside-sites: a patient "
                    "of a site outside the requester's sites claim, answered as unknown")
    signature: EventSignature | None = Field(
        default=None, description="intake's Ed25519 signature of the event without this field "
                                  "(shared.contracts.signatures); audit appends no "
                                  "re-identification it cannot verify (AUDIT_INTAKE_KEYS)")


CONFIRMED_CRITERIA_MAX_ITEMS = 256
"""Criteria listed in an enrolment's confirmation: a trial file's criteria (real at most 40)."""


class EnrolmentConfirmation(BaseModel):
    """What an investigator confirmed when enrolling a patient TrialWatch had not found
    eligible: the latest decision for the pair when the form was posted (``decision_id``, the
    ``DecisionMade.decision_id``), its ``status`` and the criteria it found failing or could
    not check (ids, in the decision's order), as the confirmation named them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decision_id: UUID
    status: Literal["ineligible", "undetermined"]
    failing: tuple[Annotated[str, Field(max_length=CRITERION_ID_MAX_LENGTH)], ...] = Field(
        default=(), max_length=CONFIRMED_CRITERIA_MAX_ITEMS)
    unknown: tuple[Annotated[str, Field(max_length=CRITERION_ID_MAX_LENGTH)], ...] = Field(
        default=(), max_length=CONFIRMED_CRITERIA_MAX_ITEMS)


CoordinatorActionKind = Literal["acknowledged", "contacted", "not-a-candidate", "enrolled",
                                "reidentified"]


class CoordinatorActed(Envelope):
    """``coordinator.actions.v1``: a coordinator acted on a patient for a trial.

    ``actor`` is the client name of the coordinator's token (never the token, never a person's
    identifier); ``reason`` is the coordinator's own words (required for "not-a-candidate" and
    "reidentified"), kept by audit. ``confirmed_against``: set only on an "enrolled" action
    confirmed against a decision that was not eligible (:class:`EnrolmentConfirmation`).
    """

    event_type: Literal["coordinator.acted"] = "coordinator.acted"
    action_id: UUID
    action: CoordinatorActionKind
    trial_id: str = Field(max_length=64)
    actor: str = Field(max_length=128, description="the coordinator token's client name")
    reason: str | None = Field(default=None, max_length=REASON_MAX_LENGTH)
    alert_id: UUID | None = None
    confirmed_against: EnrolmentConfirmation | None = Field(
        default=None, description="an 'enrolled' action on a decision that was not eligible: "
                                  "the decision the investigator confirmed enrolling against")
    signature: EventSignature | None = Field(
        default=None, description="the evaluator's Ed25519 signature of the event without this "
                                  "field (shared.contracts.signatures)")


class DeadLetter(BaseModel):
    """``<topic>.dlq``: a message that could not be processed, kept with the reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dead_letter_id: UUID
    original_topic: str = Field(max_length=249, description="Kafka's longest topic name")
    partition: int | None = None
    offset: int | None = None
    key: str | None = Field(default=None, max_length=DEAD_LETTER_KEY_MAX_LENGTH)
    payload: str = Field(max_length=DEAD_LETTER_PAYLOAD_MAX_LENGTH,
                         description="the original message value, as text (base64 if binary)")
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    reason: str = Field(max_length=2000)
    failed_at: UtcDatetime
    service: str = Field(max_length=SOURCE_MAX_LENGTH)


class PatientUpdatesHeld(Envelope):
    """``patient.holds.v1``: intake holds this patient's updates (``patient_key``).

    Intake's outbox could not publish one of the patient's updates (the broker can never take
    it: ``reason``, never an excerpt of it) and keeps every later update of the patient behind
    it until an operator resolves it (``trialwatch outbox release``): what the evaluator holds
    about the patient is known to be incomplete. ``hold_id`` names this hold (a release names
    it too); ``first_held_event_id`` is the update that could not be published. Staged in
    intake's outbox in the same transaction as the dead letter, keyed by ``patient_key``;
    ``event_id`` is deterministic from ``hold_id``, so a re-send is the same event. While a
    hold stands, the evaluator decides every trial ``undetermined`` and raises no alert.
    """

    event_type: Literal["patient.updates-held"] = "patient.updates-held"
    hold_id: UUID
    reason: str = Field(max_length=500, description="why the update cannot be published; "
                                                    "no payload, no identifier")
    first_held_event_id: UUID
    signature: EventSignature | None = Field(
        default=None, description="intake's Ed25519 signature of the event without this field "
                                  "(shared.contracts.signatures); the evaluator acts on no "
                                  "hold notice without a valid one")


class PatientUpdatesReleased(Envelope):
    """``patient.holds.v1``: the hold ``hold_id`` on this patient's updates ended.

    ``action`` is the operator's: ``retry`` (the held update is published in its place, then
    the ones behind it) or ``drop`` (it is never published; the ones behind it flow).
    ``through_event_id`` is the last of the patient's updates still unpublished when the hold
    ended: it reaches ``patient.events.v1`` after this event is staged, so a consumer stays
    held until it has applied that update (None: nothing of the patient was waiting). Staged
    in the same transaction as the operator's decision; ``event_id`` deterministic from
    ``hold_id``. A release seen before its hold is a tombstone: the hold, arriving later,
    changes nothing.
    """

    event_type: Literal["patient.updates-released"] = "patient.updates-released"
    hold_id: UUID
    action: Literal["retry", "drop"]
    through_event_id: UUID | None = None
    signature: EventSignature | None = Field(
        default=None, description="intake's Ed25519 signature of the event without this field "
                                  "(shared.contracts.signatures); the evaluator acts on no "
                                  "hold notice without a valid one")


PatientHoldEvent = Annotated[PatientUpdatesHeld | PatientUpdatesReleased,
                             Field(discriminator="event_type")]
"""What ``patient.holds.v1`` carries."""


SCREENED_CODES_MAX = 200_000
"""Most codes (or code-family prefixes) one ``TrialScreening`` lists: the three shipped trials
read about 1,100 codes together, so a hundred times that is room for any trial file."""
CODE_KEY_MAX_LENGTH = 5121
"""``system|code``: a FHIR uri (up to 4,096 here) and a code (1,024)."""
CodeKey = Annotated[str, Field(max_length=CODE_KEY_MAX_LENGTH)]


class TrialScreening(BaseModel):
    """``trials.screening.v1``: which version of one trial the evaluator screens now, and the
    codes its criteria read. Keyed by ``trial_id``; the newest record of a key is the trial's
    state (the topic is a table: read from the beginning, last per key wins; compacted where the
    broker supports it). Staged in the evaluator's outbox in the transaction of the registry
    change (activate, deactivate, retire), and again at the evaluator's start for each trial's
    current state (same ``change_id``: the same message id, so a restart adds nothing new).

    Intake reads it to know, live, which codes no active trial reads (its receipts' "accepted
    but not screened" warnings), and applies a record only when the evaluator's key signed it
    (``signature``, signed when published; any local client can produce onto the topic).
    ``codes`` are exact ``system|code`` keys, ``prefixes``
    ``system|prefix`` code families (ICD-10-CM), both empty unless ``state`` is ``active``;
    medication codes are RxNorm ingredients (a reader rolls products up with its own table)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: Literal["trial.screening"] = "trial.screening"
    schema_version: int = 1
    event_id: UUID = Field(description="deterministic from change_id (the outbox message id)")
    trial_id: str = Field(max_length=64)
    version: str = Field(max_length=64)
    state: Literal["active", "inactive", "retired"]
    content_hash: str = Field(max_length=128)
    change_id: UUID
    at: UtcDatetime
    codes: list[CodeKey] = Field(default_factory=list, max_length=SCREENED_CODES_MAX)
    prefixes: list[CodeKey] = Field(default_factory=list, max_length=SCREENED_CODES_MAX)
    signature: EventSignature | None = Field(
        default=None, description="the evaluator's Ed25519 signature of the event without this "
                                  "field (shared.contracts.signatures); intake applies no "
                                  "record without a valid one")

    @model_validator(mode="after")
    def _codes_only_when_active(self) -> TrialScreening:
        if any("|" not in key for key in (*self.codes, *self.prefixes)):
            raise ValueError("each code is 'system|code'")
        if self.state != "active" and (self.codes or self.prefixes):
            raise ValueError("a trial that is not screened reads no code")
        return self
