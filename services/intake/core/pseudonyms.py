"""Surrogate patient keys, and the removal of source identifiers from what leaves intake."""

from __future__ import annotations

import secrets

from shared.clinical.facts import ClinicalFact, Demographics
from shared.clinical.ids import fact_id

SURROGATE_PREFIX = "pt_"
SURROGATE_KEY_PATTERN = r"^pt_[0-9a-f]{32}$"


def new_surrogate_key() -> str:
    """Random, not derived from the source id: it cannot be reversed without intake's table."""
    return SURROGATE_PREFIX + secrets.token_hex(16)


def without_source_identifier(demographics: Demographics, patient_key: str) -> Demographics:
    """The normaliser names the FHIR Patient as ``Patient/<source id>``: a source identifier."""
    if demographics.provenance is None:
        return demographics
    provenance = demographics.provenance.model_copy(update={"resource": f"Patient/{patient_key}"})
    return demographics.model_copy(update={"provenance": provenance})


def without_source_record_id(fact: ClinicalFact) -> ClinicalFact:
    """The fact with its source record's id replaced by a hash of (sender, record).

    The normaliser names a fact's record as received (FHIR R4 ``Observation/<Resource.id>``,
    HL7 v2 ``HL7v2/<MSH-10>/OBX/<n>`` or ``HL7v2/order/<ORC-2>/RXE``), and senders often build
    ids from the patient's MRN (``<MRN>-hb-1``): an identifier that must not leave intake (issue
    14 section 3). What leaves is ``<first part>/<h>``: the resource type (``Observation``,
    ``MedicationAdministration``, which the washout primitive reads) or ``HL7v2``, then ``h``,
    the first 32 hex digits of SHA-256 over sender and record, the same hash as the fact's own
    ``fact_id`` for part "" (``shared.clinical.ids``), so nothing is revealed that the fact id
    did not already carry, and every part and version of one record keeps one name.
    """
    provenance = fact.provenance
    kind = provenance.resource.split("/", 1)[0]
    hidden = f"{kind}/{fact_id(provenance.source_system, provenance.resource)}"
    hidden_provenance = provenance.model_copy(update={"resource": hidden})
    return fact.model_copy(update={"provenance": hidden_provenance})
