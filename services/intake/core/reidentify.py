"""The audited way back from a surrogate key to the source identifier, for coordinators.

The access is logged in the same transaction as the lookup: no identifier is returned unless
the log entry is durable. Attempts on unknown keys are logged too.
"""

from __future__ import annotations

from services.intake.core.ports import Reidentification, SourceIdentity, UnitOfWork


async def reidentify(request: Reidentification, transaction: UnitOfWork) -> SourceIdentity | None:
    async with transaction() as store:
        identity = await store.source_identity(request.patient_key)
        await store.log_reidentification(request, found=identity is not None)
    return identity
