"""The audited way back from a surrogate key to the source identifier, for coordinators.

The access is logged in the same transaction as the lookup: no identifier is returned unless
the log entry is durable. Attempts on unknown keys are logged too, and so are attempts on a
patient of a site outside the requester's ``sites`` claim (``found`` false: nothing returned).
In that same transaction a ``PatientReidentified`` (surrogate key, who, trial, reason, outcome;
never the identifier) is staged in the outbox for audit's chained access log.
"""

from __future__ import annotations

import uuid
from typing import Literal

from services.intake.core.ports import (
    IntakeStore,
    Reidentification,
    SourceIdentity,
    UnitOfWork,
    in_transaction,
)
from shared.contracts.events import PatientReidentified
from shared.contracts.topics import REIDENTIFICATIONS
from shared.sites import site_visible

SOURCE = "intake"
Outcome = Literal["revealed", "unknown", "outside-sites"]


def reidentified(entry: Reidentification, kind: Literal["reidentify", "lookup"],
                 outcome: Outcome) -> PatientReidentified:
    """The event telling audit of one attempt (``entry.patient_key`` is the surrogate key, or
    ``"-"`` for a look-up that found none); ``entry.at`` is when intake answered (aware UTC).
    """
    event_id = uuid.uuid4()
    return PatientReidentified(
        event_id=event_id, occurred_at=entry.at, recorded_at=entry.at, source=SOURCE,
        patient_key=entry.patient_key, correlation_id=event_id, kind=kind,
        requester=entry.client[:128], role=entry.role[:32],
        trial=entry.trial[:64] if entry.trial else None,
        reason=entry.reason[:2000] if entry.reason else None, outcome=outcome)


def outcome_of(found: bool, hidden: bool) -> Outcome:
    """``revealed`` when found and visible, ``outside-sites`` when hidden by the site scope,
    else ``unknown``."""
    return "outside-sites" if hidden else "revealed" if found else "unknown"


class OutsideSites(Exception):
    """The patient is of a site the requester's token does not claim: answer as unknown."""


async def reidentify(request: Reidentification, transaction: UnitOfWork) -> SourceIdentity | None:
    """The source identity, None for an unknown key; raises ``OutsideSites`` (after logging the
    attempt) for a patient of another site."""
    async def work(store: IntakeStore) -> tuple[SourceIdentity | None, bool]:
        # awaits only the store (``RunsWork``), as ``lookup.look_up``
        identity = await store.source_identity(request.patient_key)
        hidden = identity is not None and not site_visible(
            request.sites, await store.patient_site(request.patient_key))
        await store.log_reidentification(request, found=identity is not None and not hidden)
        await store.add_to_outbox([reidentified(
            request, "reidentify", outcome_of(identity is not None, hidden))], REIDENTIFICATIONS)
        return identity, hidden

    identity, hidden = await in_transaction(transaction, work)
    if hidden:
        raise OutsideSites(request.patient_key)
    return identity
