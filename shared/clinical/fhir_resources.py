"""One FHIR resource -> canonical facts (or demographics, for Patient).

Condition status encoding: ``status`` is the verificationStatus code when that is
``refuted``, ``entered-in-error``, ``unconfirmed``, ``provisional`` or ``differential`` (it
overrides clinicalStatus, so a refuted or unconfirmed diagnosis can never read as ``active``);
otherwise it is the clinicalStatus code (``active``, ``resolved`` ...), else ``confirmed`` when
that is all the source says, else ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.clinical.facts import ClinicalFact, Coding, Demographics, FactKind, Provenance, Sex
from shared.clinical.fhir_values import Json, Reader, loinc_of, read_value
from shared.clinical.ids import fact_id
from shared.clinical.times import TimeFormatError, parse_fhir_date

_NOT_A_POSITIVE_DIAGNOSIS = {
    "refuted",
    "entered-in-error",
    "unconfirmed",
    "provisional",
    "differential",
}
_MR_TYPE = "MR"


@dataclass(frozen=True)
class Source:
    """Where the resources come from, and how to find a referenced Medication."""

    system: str
    received_at: datetime | None
    medication: Callable[[str, Json], Json | None]

    def provenance(self, resource: Json) -> Provenance:
        version = (resource.get("meta") or {}).get("versionId")
        return Provenance(
            source_system=self.system,
            format="fhir-r4",
            resource=f"{resource['resourceType']}/{resource.get('id', '')}",
            version=version,
            received_at=self.received_at,
        )


def patient_id(resource: Json) -> str | None:
    """The MR-typed identifier if there is one, else ``Patient.id``."""
    for identifier in resource.get("identifier") or ():
        for coding in (identifier.get("type") or {}).get("coding") or ():
            if coding.get("code") == _MR_TYPE and identifier.get("value"):
                return str(identifier["value"])
    return resource.get("id")


def demographics(reader: Reader, source: Source, resource: Json, path: str) -> Demographics:
    birth_date = None
    if resource.get("birthDate"):
        try:
            birth_date = parse_fhir_date(resource["birthDate"])
        except TimeFormatError as error:
            reader.problem(f"{path}.birthDate", str(error))
    gender = resource.get("gender")
    deceased: bool | None = None
    if "deceasedBoolean" in resource:
        deceased = bool(resource["deceasedBoolean"])
    elif "deceasedDateTime" in resource:
        reader.time(resource["deceasedDateTime"], f"{path}.deceasedDateTime")
        deceased = True
    return Demographics(
        birth_date=birth_date,
        sex=Sex(gender) if isinstance(gender, str) and gender in set(Sex) else None,
        deceased=deceased,
        provenance=source.provenance(resource),
    )


def observation(reader: Reader, source: Source, resource: Json, path: str) -> list[ClinicalFact]:
    provenance = source.provenance(resource)
    start, end = reader.period(resource, "effective", path)
    fact = _observed(reader, resource, path, provenance, part="")
    if fact is None:
        return []
    components = []
    for index, component in enumerate(resource.get("component") or ()):
        built = _observed(
            reader, component, f"{path}.component[{index}]", provenance, f"component[{index}]"
        )
        if built is not None:
            shared = {
                "status": resource.get("status"),
                "effective_start": start,
                "effective_end": end,
            }
            components.append(built.model_copy(update=shared))
    return [
        fact.model_copy(
            update={
                "status": resource.get("status"),
                "effective_start": start,
                "effective_end": end,
                "components": tuple(components),
            }
        )
    ]


def _observed(
    reader: Reader, element: Json, path: str, provenance: Provenance, part: str
) -> ClinicalFact | None:
    codes = reader.codings(element.get("code"), f"{path}.code")
    if not codes:
        reader.problem(f"{path}.code", "no coding with both system and code")
        return None
    loinc = loinc_of(codes)
    value = read_value(reader, loinc, element, path)
    # a range without its own unit is in the unit the result was sent in, not the canonical one
    sent = element.get("valueQuantity") or {}
    unit = (sent.get("code") or sent.get("unit")) if value.quantity else None
    return ClinicalFact(
        fact_id=fact_id(provenance.source_system, provenance.resource, part),
        kind=FactKind.OBSERVATION,
        codes=codes,
        value_quantity=value.quantity,
        value_code=value.code,
        value_boolean=value.boolean,
        **_ranges(reader, loinc, element.get("referenceRange"), f"{path}.referenceRange", unit),
        interpretation=reader.interpretation(element.get("interpretation")),
        provenance=provenance,
    )


def _ranges(
    reader: Reader, loinc: str | None, ranges: Any, path: str, unit: str | None
) -> dict[str, Any]:
    """``reference_range`` (the first entry) and, when the entries are alternatives (several,
    or one restricted by appliesTo/age), every one of them as ``reference_ranges``."""
    found = reader.reference_ranges(loinc, ranges, path, unit)
    if not found:
        return {"reference_range": None}
    restricted = any(
        r.applies_to or r.age_low_years is not None or r.age_high_years is not None for r in found
    )
    if len(found) > 1 or restricted:
        return {"reference_range": found[0], "reference_ranges": found}
    return {"reference_range": found[0]}


def condition(reader: Reader, source: Source, resource: Json, path: str) -> list[ClinicalFact]:
    codes = _required_codes(reader, resource.get("code"), f"{path}.code")
    onset, _ = reader.period(resource, "onset", path)
    abatement_start, abatement_end = reader.period(resource, "abatement", path)
    return [
        _fact(
            source,
            resource,
            FactKind.CONDITION,
            codes,
            status=condition_status(resource),
            effective_start=onset,
            effective_end=abatement_end or abatement_start,
        )
    ]


def condition_status(resource: Json) -> str | None:
    verification = _first_code(resource.get("verificationStatus"))
    if verification in _NOT_A_POSITIVE_DIAGNOSIS:
        return verification
    return _first_code(resource.get("clinicalStatus")) or verification


def medication(reader: Reader, source: Source, resource: Json, path: str) -> list[ClinicalFact]:
    if "medicationCodeableConcept" in resource:
        codes = _required_codes(
            reader, resource["medicationCodeableConcept"], f"{path}.medicationCodeableConcept"
        )
    else:
        reference = (resource.get("medicationReference") or {}).get("reference")
        referenced = source.medication(reference, resource) if reference else None
        if referenced is None:
            reader.problem(
                f"{path}.medicationReference", "Medication not found in the resource or the bundle"
            )
            return []
        codes = _required_codes(reader, referenced.get("code"), f"{path}.medicationReference")
    if resource["resourceType"] == "MedicationRequest":
        start, end = reader.time(resource.get("authoredOn"), f"{path}.authoredOn"), None
    else:
        start, end = reader.period(resource, "effective", path)
    return [_fact(source, resource, FactKind.MEDICATION, codes, resource.get("status"), start, end)]


def procedure(reader: Reader, source: Source, resource: Json, path: str) -> list[ClinicalFact]:
    codes = _required_codes(reader, resource.get("code"), f"{path}.code")
    start, end = reader.period(resource, "performed", path)
    return [_fact(source, resource, FactKind.PROCEDURE, codes, resource.get("status"), start, end)]


def diagnostic_report(
    reader: Reader, source: Source, resource: Json, path: str
) -> list[ClinicalFact]:
    """Each coded conclusion becomes an observation-like fact; reports without one add nothing."""
    conclusions = resource.get("conclusionCode") or ()
    if not conclusions:
        return []
    codes = _required_codes(reader, resource.get("code"), f"{path}.code")
    start, end = reader.period(resource, "effective", path)
    provenance = source.provenance(resource)
    facts = []
    for index, concept in enumerate(conclusions):
        conclusion = reader.codings(concept, f"{path}.conclusionCode[{index}]")
        if not conclusion:
            continue
        facts.append(
            ClinicalFact(
                fact_id=fact_id(source.system, provenance.resource, f"conclusionCode[{index}]"),
                kind=FactKind.OBSERVATION,
                codes=codes,
                status=resource.get("status"),
                effective_start=start,
                effective_end=end,
                value_code=conclusion[0],
                provenance=provenance,
            )
        )
    return facts


def _fact(
    source: Source,
    resource: Json,
    kind: FactKind,
    codes: tuple[Coding, ...],
    status: str | None,
    effective_start: datetime | None,
    effective_end: datetime | None,
) -> ClinicalFact:
    provenance = source.provenance(resource)
    return ClinicalFact(
        fact_id=fact_id(source.system, provenance.resource),
        kind=kind,
        codes=codes,
        status=status,
        effective_start=effective_start,
        effective_end=effective_end,
        provenance=provenance,
    )


def _required_codes(reader: Reader, concept: Any, path: str) -> tuple[Coding, ...]:
    codes = reader.codings(concept, path)
    if not codes:
        reader.problem(path, "no coding with both system and code")
    return codes


def _first_code(concept: Any) -> str | None:
    for coding in (concept or {}).get("coding") or ():
        if coding.get("code"):
            return str(coding["code"])
    return None


Builder = Callable[[Reader, Source, Json, str], list[ClinicalFact]]

BUILDERS: dict[str, Builder] = {
    "Observation": observation,
    "Condition": condition,
    "MedicationStatement": medication,
    "MedicationRequest": medication,
    "MedicationAdministration": medication,
    "Procedure": procedure,
    "DiagnosticReport": diagnostic_report,
}
