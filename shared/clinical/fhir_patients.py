"""Who a FHIR resource is about: a Patient's names at its source, and records merged away.

A patient is named at one source by its resource id (``Patient/p-j1``, however the reference
is written: relative, absolute URL; FHIR R4 References 2.3.0) and by its identifiers
(``Reference.identifier``, a logical reference). Intake links every name to one surrogate key,
so a ``Patient/p-j1`` reference posted after the Patient resource maps to the same patient.

A record merged away carries ``link`` type ``replaced-by`` (FHIR R4 Patient.link: "the patient
resource containing this link must no longer be used") and ``active: false``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.clinical.facts import SourcePatient
from shared.clinical.fhir_values import Json, Reader

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
REPLACED_BY = "replaced-by"
REPLACES = "replaces"


RECORD_NUMBER_ALIAS = "mr:"  # the namespace of a medical record number's alias


def patient_aliases(resource: Json) -> tuple[str, ...]:
    """``Patient/<id>`` and ``identifier:<system>|<value>`` for each full identifier, plus
    ``mr:<system>|<value>`` for each full identifier typed MR (FHIR R4 Identifier.type, code
    ``MR`` "Medical record number" of HL7 v2 table 0203): the one a coordinator can find the
    patient by in the EHR, so re-identification can name its issuer (Identifier.system) even
    when the same value is also sent under another system (Synthea sends its UUID twice). No
    reference is ever written ``mr:...``, so these names only label, never match."""
    names = [f"Patient/{resource['id']}"] if resource.get("id") else []
    for identifier in resource.get("identifier") or ():
        name = identifier_alias(identifier)
        if name is not None:
            names.append(name)
            if is_record_number(identifier):
                names.append(RECORD_NUMBER_ALIAS + name.removeprefix("identifier:"))
    return tuple(dict.fromkeys(names))


def is_record_number(identifier: Any) -> bool:
    """Whether a FHIR Identifier is typed MR (Identifier.type.coding code ``MR`` of
    http://terminology.hl7.org/CodeSystem/v2-0203, HL7 v2 table 0203 "Medical record number";
    a coding with no system is taken as that table, as ``patient_id`` does)."""
    if not isinstance(identifier, dict) or not isinstance(identifier.get("type"), dict):
        return False
    return any(isinstance(coding, dict) and coding.get("code") == "MR"
               and coding.get("system") in (None, V2_0203)
               for coding in identifier["type"].get("coding") or ())


def identifier_alias(identifier: Any) -> str | None:
    """``identifier:<system>|<value>``; ``None`` without both (a value alone is ambiguous)."""
    if not isinstance(identifier, dict):
        return None
    system, value = identifier.get("system"), identifier.get("value")
    if not (isinstance(system, str) and isinstance(value, str) and system and value):
        return None
    return f"identifier:{system}|{value}"


def resource_id_of(reference: str) -> str | None:
    """``p-j1`` from ``Patient/p-j1`` or ``https://host/fhir/Patient/p-j1[/_history/2]``."""
    parts = reference.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
        return parts[-1]
    return None


def replaced_by(
    reader: Reader,
    resource: Json,
    path: str,
    resolve: Callable[[Json], SourcePatient | None],
) -> SourcePatient | None:
    """The record this Patient was merged into, from its ``replaced-by`` link, if any.

    A ``replaced-by`` link on a record that says ``active: true`` contradicts itself and is
    refused; so is one that names no Patient (``resolve`` maps the link's ``other`` Reference).
    """
    links = [
        (index, link)
        for index, link in enumerate(resource.get("link") or ())
        if isinstance(link, dict) and link.get("type") == REPLACED_BY
    ]
    if not links:
        if resource.get("active") is False:
            # FHIR R4 Patient.active (a modifier element): "labelled as a modifier because it
            # is a status element that can indicate that a record should not be treated as
            # valid" ("often set to false when a record was created in error"). Without a
            # replaced-by link naming the record in use, whether its data are valid is
            # unknown: refused, never screened as if active (probe round 4: the vignette
            # sent with active false was ELIGIBLE).
            reader.problem(f"{path}.active", (
                "record not in active use (FHIR R4 Patient.active false, a modifier: the record"
                " may not be valid) and not linked replaced-by the record in use: its data are"
                " not screened; send the active record, or link this one to it"))
        return None
    index, link = links[0]
    where = f"{path}.link[{index}]"
    if len(links) > 1:
        reader.problem(f"{path}.link", "more than one replaced-by link: the survivor is unclear")
        return None
    if resource.get("active") is True:
        reader.problem(
            f"{path}.active",
            "a record replaced by another must not be active (FHIR R4 Patient.link replaced-by)",
        )
        return None
    other = link.get("other")
    survivor = resolve(other) if isinstance(other, dict) else None
    if survivor is None:
        reader.problem(
            f"{where}.other", "replaced-by must name a Patient (reference or identifier)"
        )
    return survivor


def replaced_records(
    resource: Json, resolve: Callable[[Json], SourcePatient | None]
) -> list[tuple[int, SourcePatient | None]]:
    """The records this (surviving) Patient says it replaces: ``link`` type ``replaces``
    (FHIR R4 Patient.link: "the link points back to an inactive patient resource that has been
    merged into this resource"), each with its index; ``None`` where no Patient is named."""
    found = []
    for index, link in enumerate(resource.get("link") or ()):
        if isinstance(link, dict) and link.get("type") == REPLACES:
            other = link.get("other")
            found.append((index, resolve(other) if isinstance(other, dict) else None))
    return found
