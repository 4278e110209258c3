"""The audited way back from a surrogate key to the source identifier, for coordinators.

The access is logged in the same transaction as the lookup: no identifier is returned unless
the log entry is durable. Attempts on unknown keys are logged too, and so are attempts on a
patient of a site outside the requester's ``sites`` claim (``found`` false: nothing returned).
"""

from __future__ import annotations

from services.intake.core.ports import Reidentification, SourceIdentity, UnitOfWork
from shared.sites import site_visible


class OutsideSites(Exception):
    """The patient is of a site the requester's token does not claim: answer as unknown."""


async def reidentify(request: Reidentification, transaction: UnitOfWork) -> SourceIdentity | None:
    """The source identity, None for an unknown key; raises ``OutsideSites`` (after logging the
    attempt) for a patient of another site."""
    async with transaction() as store:
        identity = await store.source_identity(request.patient_key)
        hidden = identity is not None and not site_visible(
            request.sites, await store.patient_site(request.patient_key))
        await store.log_reidentification(request, found=identity is not None and not hidden)
    if hidden:
        raise OutsideSites(request.patient_key)
    return identity
