"""Accept one submission: normalise, then in one transaction key the patients, queue the
events in the outbox and store the receipt. A re-send returns the original receipt."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TypeVar
from uuid import UUID

from services.intake.core.events import patient_merged, patient_updated
from services.intake.core.idempotency import client_key, content_key
from services.intake.core.media import MediaType
from services.intake.core.normalise import Normalised, normalise
from services.intake.core.ports import (
    Clock,
    Conflict,
    IntakeStore,
    ScreenedCodes,
    SourceIdentity,
    UnitOfWork,
    in_transaction,
)
from services.intake.core.pseudonyms import new_surrogate_key
from services.intake.core.publish_limit import PublishLimit
from services.intake.core.receipts import Receipt
from services.intake.core.refusals import EventTooLarge
from services.intake.core.screening import with_code_warnings
from shared.clinical.errors import Problem
from shared.clinical.facts import PatientUpdate
from shared.clinical.hl7v2 import DEFAULT_PROCESSING_IDS
from shared.contracts.events import PatientMerged, PatientUpdated
from shared.contracts.topics import PATIENT_EVENTS

# Parsing a multi-megabyte bundle takes long enough to stall other requests on the loop.
_OFF_LOOP_BYTES = 64 * 1024
_CONFLICT_RETRIES = 3
_PROBE_KEY = new_surrogate_key()
_PROBE_ID = uuid.UUID(int=0)
DEFAULT_PUBLISH_LIMIT = PublishLimit()
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Submission:
    body: bytes
    media: MediaType
    client: str
    received_at: datetime
    idempotency_key: str | None = None
    sender_zone: tzinfo | None = None  # the HL7 v2 sender's configured zone (INTAKE_HL7V2_ZONES)
    # this site's own MRN assigning authority (INTAKE_MRN_ASSIGNING_AUTHORITY; empty: not set)
    site_mrn_authority: frozenset[str] = frozenset()
    # the HL7 v2 MSH-11 processing ids read (INTAKE_HL7V2_PROCESSING_IDS; table 0103, default P)
    processing_ids: frozenset[str] = DEFAULT_PROCESSING_IDS
    # the site the submitting token claims (shared.infra.auth.submitting_site), never the payload's
    site: str | None = None


@dataclass(frozen=True, slots=True)
class Acceptance:
    receipt: Receipt
    replayed: bool


@dataclass(frozen=True, slots=True)
class Prepared:
    """A submission read and checked, ready to record: what ``prepare`` returns (picklable,
    so the bulk import can prepare batches in worker processes)."""

    normalised: Normalised
    keys: list[str]  # the receipt keys: Idempotency-Key (scoped to the client), content key


async def accept(
    submission: Submission,
    transaction: UnitOfWork,
    clock: Clock,
    limit: PublishLimit = DEFAULT_PUBLISH_LIMIT,
    screened: ScreenedCodes | None = None,
) -> Acceptance:
    """Raises ``Refusal`` for bad input, ``EventTooLarge`` (413) when an event built from it
    would be larger than ``limit`` lets the broker's producer publish; returns only once the
    receipt is committed. With ``screened`` (the codes the active trials' criteria read), the
    receipt names each result, condition or medication no criterion reads, and each medication
    whose codings name different drugs, which the engine keeps unread
    (``screening.with_code_warnings``)."""
    normalised = await _normalise(submission)
    if screened is not None:
        normalised = with_code_warnings(normalised, screened)
    # each event is measured inside the transaction, from the JSON its outbox row stores
    # (serialised once); a refusal rolls the transaction back, so nothing is stored
    return await record(submission, Prepared(normalised, _keys(submission, normalised)),
                        transaction, clock, limit)


def prepare(submission: Submission, limit: PublishLimit = DEFAULT_PUBLISH_LIMIT) -> Prepared:
    """What ``accept`` does before the transaction, synchronously (no I/O, no clock): read the
    body through the one normaliser and refuse what could not be published. Raises
    ``Refusal`` (``EventTooLarge`` included) as ``accept`` does."""
    normalised = normalise(submission.body, submission.media, source_system=submission.client,
                           received_at=submission.received_at,
                           sender_zone=submission.sender_zone,
                           site_mrn_authority=submission.site_mrn_authority,
                           processing_ids=submission.processing_ids)
    return prepare_normalised(submission, normalised, limit)


def prepare_normalised(
    submission: Submission, normalised: Normalised, limit: PublishLimit = DEFAULT_PUBLISH_LIMIT
) -> Prepared:
    """``prepare`` for a submission already read through the one normaliser (the bulk import
    reads each NDJSON line once, ``services.intake.bulk``): refuses what could not be
    published (``EventTooLarge``) and computes the receipt keys."""
    _refuse_unpublishable(normalised.updates, submission.received_at, limit, submission.site)
    return Prepared(normalised, _keys(submission, normalised))


async def record(
    submission: Submission, prepared: Prepared, transaction: UnitOfWork, clock: Clock,
    limit: PublishLimit = DEFAULT_PUBLISH_LIMIT,
) -> Acceptance:
    """The transaction of ``accept`` for a prepared submission (retried on ``Conflict``):
    returns only once the receipt is committed; a re-send returns the original receipt.
    Raises ``EventTooLarge`` (the transaction rolled back) when an event it would queue is
    larger than ``limit`` lets the producer publish."""
    for attempt in range(_CONFLICT_RETRIES):
        try:
            return await _record(submission, prepared.normalised, prepared.keys, transaction,
                                 clock, limit)
        except Conflict:
            if attempt == _CONFLICT_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _keys(submission: Submission, normalised: Normalised) -> list[str]:
    refused = [f"{p.path}: {p.reason}" for e in normalised.entries for p in e.problems]
    keys = [content_key(normalised.updates, refused)]
    if submission.idempotency_key:
        keys.insert(0, client_key(submission.client, submission.idempotency_key))
    return keys


async def _normalise(submission: Submission) -> Normalised:
    return await _off_loop_if_large(submission, functools.partial(
        normalise, submission.body, submission.media, source_system=submission.client,
        received_at=submission.received_at, sender_zone=submission.sender_zone,
        site_mrn_authority=submission.site_mrn_authority,
        processing_ids=submission.processing_ids))


async def _off_loop_if_large(submission: Submission, run: Callable[[], _T]) -> _T:
    if len(submission.body) > _OFF_LOOP_BYTES:
        return await asyncio.to_thread(run)
    return run()


def _refuse_unpublishable(
    updates: list[PatientUpdate], received_at: datetime, limit: PublishLimit,
    site: str | None = None,
) -> None:
    """Every event is measured before anything is stored, with a key of the real length
    (surrogate keys are fixed-length), so nothing accepted can be too large to publish (the
    bulk import's check in its worker processes; ``record`` measures the real events)."""
    measured = []
    for index, update in enumerate(updates):
        event = patient_updated(_without_merged_demographics(update), patient_key=_PROBE_KEY,
                                receipt_id=_PROBE_ID, received_at=received_at,
                                recorded_at=received_at, site=site)
        if event is not None:
            measured.append((index, event, event.model_dump_json()))
    _refuse_too_large(measured, limit)


def _refuse_too_large(
    measured: list[tuple[int, PatientUpdated, str]], limit: PublishLimit,
) -> None:
    """``measured``: (index of the patient's update, its event, the event's stored JSON)."""
    problems = []
    for index, event, stored in measured:
        size = limit.excess(event, stored)
        if size is not None:
            problems.append(Problem(
                f"patient[{index}]",
                f"the PatientUpdated event of this patient would take {size} bytes on the "
                f"broker; the producer publishes at most {limit.max_request_size} bytes "
                "(KAFKA_MAX_REQUEST_SIZE): send this patient's results in smaller submissions"))
    if problems:
        raise EventTooLarge(
            f"{len(problems)} event(s) would exceed the broker's limit of "
            f"{limit.max_request_size} bytes; nothing was accepted", problems)


async def _record(
    submission: Submission,
    normalised: Normalised,
    keys: list[str],
    transaction: UnitOfWork,
    clock: Clock,
    limit: PublishLimit = DEFAULT_PUBLISH_LIMIT,
) -> Acceptance:
    async def work(store: IntakeStore) -> Acceptance:
        # awaits only the store (``RunsWork``): the group commit may run it in its thread
        existing = await store.receipt_for(keys)
        if existing is not None:
            return Acceptance(existing, replayed=True)
        receipt_id = uuid.uuid4()
        recorded_at = clock()
        updates = normalised.updates
        merges = await _apply_merges(store, updates, receipt_id, submission.received_at,
                                     recorded_at)
        identities = [_identity(update) for update in updates]
        # Patients are keyed (and their rows locked) in one global order, so two submissions
        # naming the same patients in different orders cannot deadlock.
        key_of: dict[SourceIdentity, str] = {}
        for identity, aliases in sorted(_names_by_identity(updates).items(),
                                        key=lambda item: _sort_key(item[0])):
            resolved = await store.resolve_patient(identity, aliases, new_surrogate_key())
            key_of[identity] = resolved.patient_key
            merges.extend(patient_merged(merged, resolved.patient_key, "same-patient",
                                         receipt_id=receipt_id, at=submission.received_at,
                                         recorded_at=recorded_at)
                          for merged in resolved.merged)
        # a name resolved early may have been merged by a later one: every key is the survivor
        # (with one patient there is no later one: its key is the survivor resolve returned)
        if len(key_of) > 1:
            key_of = {identity: await store.find_patient(identity, ()) or key
                      for identity, key in key_of.items()}
        patient_keys = [key_of[identity] for identity in identities]
        if submission.site is not None:
            await store.stamp_site(list(dict.fromkeys(patient_keys)), submission.site)
        # each event serialised once: measured against the limit, then stored as it is
        measured = [
            (index, event, event.model_dump_json())
            for index, (update, patient_key) in enumerate(zip(updates, patient_keys,
                                                               strict=True))
            if (event := patient_updated(_without_merged_demographics(update),
                                         patient_key=patient_key, receipt_id=receipt_id,
                                         received_at=submission.received_at,
                                         recorded_at=recorded_at,
                                         site=submission.site)) is not None
        ]
        _refuse_too_large(measured, limit)
        events: list[PatientUpdated | PatientMerged] = [*merges]
        events += [event for _, event, _ in measured]
        await store.add_to_outbox(events, PATIENT_EVENTS, [
            *(merge.model_dump_json() for merge in merges),
            *(stored for _, _, stored in measured)])
        receipt = Receipt(
            receipt_id=receipt_id,
            client=submission.client,
            format=submission.media.format,
            received_at=submission.received_at,
            patient_keys=tuple(dict.fromkeys(patient_keys)),
            event_ids=tuple(event.event_id for event in events),
            entries=normalised.entries,
            warnings=normalised.warnings,
        )
        await store.add_receipt(receipt, keys)
        return Acceptance(receipt, replayed=False)

    return await in_transaction(transaction, work)


async def _apply_merges(
    store: IntakeStore,
    updates: list[PatientUpdate],
    receipt_id: UUID,
    received_at: datetime,
    recorded_at: datetime,
) -> list[PatientMerged]:
    """Records the source says were merged away (FHIR Patient.link replaced-by, HL7 v2
    ADT^A40 MRG): their names now lead to the survivor, their key (if any) is merged into it."""
    merges: list[PatientMerged] = []
    for update in updates:
        if update.merged_into is None:
            continue
        into = update.merged_into
        survivor = await store.resolve_patient(
            SourceIdentity(update.source_system, into.source_patient_id), into.aliases,
            new_surrogate_key())
        merges.extend(patient_merged(merged, survivor.patient_key, "same-patient",
                                     receipt_id=receipt_id, at=received_at,
                                     recorded_at=recorded_at) for merged in survivor.merged)
        old = _identity(update)
        old_key = await store.find_patient(old, update.aliases)
        if old_key is not None and old_key != survivor.patient_key:
            await store.merge_patients(old_key, survivor.patient_key, "source-merge")
            merges.append(patient_merged(old_key, survivor.patient_key, "source-merge",
                                         receipt_id=receipt_id, at=received_at,
                                         recorded_at=recorded_at))
        await store.link_names(old.source_system,
                               [old.source_patient_id, *update.aliases], survivor.patient_key)
    return merges


def _names_by_identity(updates: list[PatientUpdate]) -> dict[SourceIdentity, tuple[str, ...]]:
    names: dict[SourceIdentity, tuple[str, ...]] = {}
    for update in updates:
        identity = _identity(update)
        names[identity] = tuple(dict.fromkeys((*names.get(identity, ()), *update.aliases)))
    return names


def _without_merged_demographics(update: PatientUpdate) -> PatientUpdate:
    """A record merged away "must no longer be used" (FHIR R4 Patient.link): its demographics
    never overwrite the survivor's; its facts, if any, follow the survivor."""
    if update.merged_into is None:
        return update
    return update.model_copy(update={"demographics": None})


def _identity(update: PatientUpdate) -> SourceIdentity:
    assert update.source_patient_id, "normalise refuses unattributed updates"
    return SourceIdentity(update.source_system, update.source_patient_id)


def _sort_key(identity: SourceIdentity) -> tuple[str, str]:
    return identity.source_system, identity.source_patient_id
