"""Surrogate patient keys, and the removal of source identifiers from what leaves intake."""

from __future__ import annotations

import secrets

from shared.clinical.facts import Demographics

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
