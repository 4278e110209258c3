"""The audited way from a source identity to the surrogate key, for an EHR's decision support.

A CDS Hooks call names the patient by the EHR's own ``Patient.id``; only intake may turn that
into a surrogate key. The look-up is logged (client, role, reason, found) in the same
transaction, in the re-identification access log: no key is returned unless the entry is
durable, and misses are logged too.
"""

from __future__ import annotations

from services.intake.core.ports import (
    IntakeStore,
    Reidentification,
    SourceIdentity,
    UnitOfWork,
    in_transaction,
)
from services.intake.core.reidentify import OutsideSites, outcome_of, reidentified
from shared.contracts.topics import REIDENTIFICATIONS
from shared.sites import site_visible

NOT_FOUND_KEY = "-"


def source_identity(source_system: str, patient_id: str, *,
                    fhir_patient_id: bool = False) -> SourceIdentity:
    """The identity to look ``patient_id`` up by at ``source_system``.

    An identifier value (an MRN, HL7 v2 PID-3 CX.1) is looked up as sent. A FHIR R4
    ``Patient.id`` (CDS Hooks 1.0 ``context.patientId`` is "the FHIR Patient.id of the current
    patient") is looked up as the resource name ``Patient/<id>`` that intake links for every
    Patient it receives (``SourcePatient.aliases``): a patient keyed by its MRN is found by its
    resource id, and a resource id never finds another patient whose MRN has the same value.
    """
    return SourceIdentity(source_system,
                          f"Patient/{patient_id}" if fhir_patient_id else patient_id)


async def look_up(identity: SourceIdentity, entry: Reidentification,
                  transaction: UnitOfWork) -> str | None:
    """The surrogate key of ``identity`` (aliases and merges followed), or None; raises
    ``OutsideSites`` (after logging) when the patient's site is outside ``entry.sites``."""
    async def work(store: IntakeStore) -> tuple[str | None, bool]:
        # awaits only the store (``RunsWork``): on SQLite the group commit runs it with the
        # other writes of its group in one hand-off to its thread
        key = await store.find_patient(identity, ())
        hidden = key is not None and not site_visible(entry.sites, await store.patient_site(key))
        logged = Reidentification(patient_key=key or NOT_FOUND_KEY, client=entry.client,
                                  role=entry.role, reason=entry.reason, at=entry.at,
                                  trial=entry.trial)
        await store.log_reidentification(logged, found=key is not None and not hidden)
        await store.add_to_outbox([reidentified(logged, "lookup", outcome_of(
            key is not None, hidden))], REIDENTIFICATIONS)
        return key, hidden

    key, hidden = await in_transaction(transaction, work)
    if hidden:
        raise OutsideSites(key)
    return key
