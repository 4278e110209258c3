"""The keys under which a receipt is found again, so a re-send publishes nothing new.

A content key identifies what was sent: each fact by its source record and version (or, when
the source gives no version, by its normalised content), so the same resource id and version
always maps to the same receipt. An ``Idempotency-Key`` is scoped to the client that sent it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.clinical.facts import ClinicalFact, Demographics, PatientUpdate, Provenance
from shared.hashing import content_hash

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"


def content_key(updates: Sequence[PatientUpdate], refused: Sequence[str] = ()) -> str:
    """``refused``: the problems of refused entries; a submission that refuses different
    entries is a different submission (its receipt must name them), even when what was
    accepted is the same."""
    identity: Any = [
        {
            "source_system": update.source_system,
            "patient": update.source_patient_id,
            "demographics": _demographics_identity(update.demographics),
            "facts": sorted(_fact_identity(fact) for fact in update.facts),
            # a merge is news even when the merged record's own content is not
            **({"merged_into": update.merged_into.model_dump(mode="json")}
               if update.merged_into is not None else {}),
        }
        for update in updates
    ]
    if refused:
        identity = {"updates": identity, "refused": sorted(refused)}
    return "content:" + content_hash(identity)


def client_key(client: str, idempotency_key: str) -> str:
    return f"client:{client}:{idempotency_key}"


def _fact_identity(fact: ClinicalFact) -> str:
    return _identity(fact.provenance, fact)


def _demographics_identity(demographics: Demographics | None) -> str | None:
    if demographics is None:
        return None
    return _identity(demographics.provenance, demographics)


def _identity(provenance: Provenance | None, read: ClinicalFact | Demographics) -> str:
    if provenance is not None and provenance.version:
        return f"{provenance.source_system}|{provenance.resource}|v{provenance.version}"
    where = f"{provenance.source_system}|{provenance.resource}" if provenance else ""
    # the content is dumped only when no version identifies the record (issue 13)
    return f"{where}|{content_hash(_timeless(read.model_dump(mode='json')))}"


def _timeless(value: Any) -> Any:
    """The same content received twice differs only in ``received_at``: leave it out.

    ``value`` is a JSON-mode dump (only dict, list and scalars): scalars are kept without a
    call per value."""
    if isinstance(value, dict):
        return {k: _timeless(v) if isinstance(v, dict | list) else v
                for k, v in value.items() if k != "received_at"}
    if isinstance(value, list):
        return [_timeless(item) if isinstance(item, dict | list) else item for item in value]
    return value
