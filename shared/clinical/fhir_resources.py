"""One FHIR resource -> canonical facts (or demographics, for Patient).

Condition status encoding: ``status`` is the verificationStatus code when that is
``refuted``, ``entered-in-error``, ``unconfirmed``, ``provisional`` or ``differential`` (it
overrides clinicalStatus, so a refuted or unconfirmed diagnosis can never read as ``active``);
otherwise it is the clinicalStatus code (``active``, ``resolved`` ...). Each is read only from a
coding of its bound code system (``condition_status``); with no clinicalStatus the status is the
verificationStatus (``confirmed``) or None, and the fact is kept unread: whether it is active is
unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.clinical.dosage import read_dosage
from shared.clinical.facts import (
    AllergyReading,
    ClinicalFact,
    Coding,
    DailyDose,
    Demographics,
    FactKind,
    Provenance,
    ReadingNote,
    Sex,
    TimeBounds,
)
from shared.clinical.fhir_patients import resource_id_of
from shared.clinical.fhir_values import (
    Json,
    Reader,
    analytes_disagree,
    interpretation_of,
    json_boolean,
    json_type,
    loinc_of,
    read_concept,
    read_value,
    sent_unit,
)
from shared.clinical.ids import fact_id
from shared.clinical.local_codes import crosswalked
from shared.clinical.medication_codes import identified_medication
from shared.clinical.reading import range_fields, result_name
from shared.clinical.record_numbers import MrIdentifier, SiteRecordNumber, site_record_number
from shared.clinical.times import (
    CLOCK_SKEW,
    TimeFormatError,
    birth_after_receipt,
    day_as_written,
    fhir_date_bounds,
    parse_fhir_date,
)
from shared.clinical.units import analyte_for

_NOT_A_POSITIVE_DIAGNOSIS = {
    "refuted",
    "entered-in-error",
    "unconfirmed",
    "provisional",
    "differential",
}
_MR_TYPE = "MR"
_OBSERVATION_STATUS = frozenset({
    "registered", "preliminary", "final", "amended", "corrected", "cancelled",
    "entered-in-error", "unknown",
})


@dataclass(frozen=True)
class Source:
    """Where the resources come from, and how to find a referenced Medication."""

    system: str
    received_at: datetime | None
    medication: Callable[[str, Json], Json | None]
    container: Json | None = None  # the resource holding a contained resource being read

    def provenance(self, resource: Json) -> Provenance:
        """Where a resource came from: source system, ``Type/id`` and meta.versionId.

        A contained resource is named ``<Container>/<id>#<contained id>`` with the container's
        version (FHIR R4 dom-4: a contained resource has no meta.versionId of its own; its id
        is unique only within its container)."""
        if self.container is not None:
            return Provenance(
                source_system=self.system,
                format="fhir-r4",
                resource=contained_name(self.container, resource),
                version=(self.container.get("meta") or {}).get("versionId"),
                received_at=self.received_at,
            )
        version = (resource.get("meta") or {}).get("versionId")
        return Provenance(
            source_system=self.system,
            format="fhir-r4",
            resource=f"{resource['resourceType']}/{resource.get('id', '')}",
            version=version,
            received_at=self.received_at,
        )


def contained_name(container: Json, contained: Json) -> str:
    """``DiagnosticReport/dr1#o1``: a contained resource named through its container."""
    return f"{container['resourceType']}/{container.get('id', '')}#{contained.get('id', '')}"


# FHIR R4 elements whose references name results of the patient: DiagnosticReport.result
# ("Observations that are part of this diagnostic report") and Observation.hasMember ("a
# reference to another resource ... that represents the observations ... in a group")
RESULT_REFERENCES = {"DiagnosticReport": "result", "Observation": "hasMember"}


@dataclass(frozen=True)
class ContainedResults:
    """The contained Observations a resource references as results (``#id``), by index in
    ``contained`` (with the path of the first reference to each), and every ``#id`` result
    reference that names no contained Observation (path, why)."""

    read: dict[int, str]
    unresolved: list[tuple[str, str]]


def contained_results(resource: Json, path: str) -> ContainedResults:
    """Which contained Observations are results (module: FHIR R4 References, contained).

    FHIR R4 References 2.3.0.4: a reference ``#o1`` is to the resource with id ``o1`` in the
    container's ``contained`` (no nested containment, dom-2: members a contained panel names
    by ``#id`` are its container's too). Followed from ``DiagnosticReport.result`` or
    ``Observation.hasMember`` and on through each contained Observation's ``hasMember``.
    References to resources outside (``Observation/x``) are read as their own entries.
    """
    key = RESULT_REFERENCES.get(str(resource.get("resourceType")))
    read: dict[int, str] = {}
    unresolved: list[tuple[str, str]] = []
    contained = [c if isinstance(c, dict) else {} for c in resource.get("contained") or ()]
    if key is None:
        return ContainedResults(read, unresolved)
    pending = [(f"{path}.{key}[{i}].reference", ref) for i, ref in
               enumerate(resource.get(key) or ())]
    while pending:
        where, reference = pending.pop(0)
        written = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(written, str) or not written.startswith("#"):
            continue
        index = next((i for i, c in enumerate(contained) if c.get("id") == written[1:]), None)
        if index is None:
            unresolved.append((where, f"{written!r} names no resource in contained (FHIR R4"
                               " References: '#id' is resolved only within the resource)"))
        elif contained[index].get("resourceType") != "Observation":
            unresolved.append((where, f"{written!r} is a {contained[index].get('resourceType')}"
                               ", not an Observation: not a result"))
        elif index not in read:
            read[index] = where
            pending += [(f"{path}.contained[{index}].hasMember[{i}].reference", ref)
                        for i, ref in enumerate(contained[index].get("hasMember") or ())]
    return ContainedResults(read, unresolved)


# FHIR R4 DiagnosticReport.status / Observation.status ``entered-in-error``: the report was
# withdrawn; what it contains has no existence apart from it (DomainResource.contained)
_WITHDRAWN = "entered-in-error"


def read_contained(
    reader: Reader, source: Source, resource: Json, path: str
) -> list[ClinicalFact]:
    """The facts of the contained Observations ``resource`` references as results.

    Each is read as an Observation (``observation``) at ``<path>.contained[k]``, named
    ``<Container>/<id>#<contained id>`` with the container's version. A contained resource
    shares its container's context (FHIR R4 DomainResource.contained: "These resources do not
    have an independent existence apart from the resource that contains them"): with no
    ``subject`` it is about the container's subject; a ``subject`` differing from the
    container's is refused at ``contained[k].subject`` (whose result it is is contradictory);
    a withdrawn container (``entered-in-error``) withdraws them. A ``#id`` result reference
    naming no contained Observation is refused at its path (never zero facts silently).
    """
    found = contained_results(resource, path)
    for where, why in found.unresolved:
        reader.problem(where, why)
    facts: list[ClinicalFact] = []
    inner = Source(source.system, source.received_at, source.medication, container=resource)
    for index in sorted(found.read):
        item = resource["contained"][index]
        where = f"{path}.contained[{index}]"
        if "subject" in item and not _same_subject(item["subject"], resource.get("subject")):
            reader.problem(f"{where}.subject", (
                "differs from its container's subject: a contained resource has no existence"
                " apart from the resource containing it (FHIR R4 DomainResource.contained), so"
                " whose result it is is contradictory"))
            continue
        built = observation(reader, inner, item, where)
        if resource.get("status") == _WITHDRAWN:
            built = [_withdrawn(fact) for fact in built]
        facts += built
    return facts


def _withdrawn(fact: ClinicalFact) -> ClinicalFact:
    return fact.model_copy(update={"status": _WITHDRAWN, "components": tuple(
        part.model_copy(update={"status": _WITHDRAWN}) for part in fact.components)})


def _same_subject(own: Any, container: Any) -> bool:
    """Whether two subject References name the same patient: the same reference (by resource
    id however written, FHIR R4 References 2.3.0) or the same identifier."""
    if not isinstance(own, dict) or not isinstance(container, dict):
        return False
    mine, theirs = own.get("reference"), container.get("reference")
    if isinstance(mine, str) and isinstance(theirs, str):
        return mine == theirs or (
            resource_id_of(mine) is not None and resource_id_of(mine) == resource_id_of(theirs))
    first, second = own.get("identifier"), container.get("identifier")
    if not isinstance(first, dict) or not isinstance(second, dict):
        return False
    return (first.get("system"), first.get("value")) == (second.get("system"), second.get("value"))


def several_record_numbers(resource: Json) -> str | None:
    """The reason to refuse a FHIR R4 Patient whose ``identifier`` list carries more than one
    different value typed MR (Identifier.type, v2-0203 ``MR``), else None.

    Patient.identifier repeats (FHIR R4 Patient.identifier 0..*), each with its own system; a
    record relayed by an HIE carries each facility's medical record number. TrialWatch files a
    patient under one, and which is this site's is not in the resource (as HL7 v2 PID-3,
    ``hl7v2_patients.several_record_numbers``). The reason names no value (PHI).
    """
    numbers = {
        str(identifier["value"])
        for identifier in resource.get("identifier") or ()
        if isinstance(identifier, dict) and identifier.get("value")
        and any(isinstance(coding, dict) and coding.get("code") == _MR_TYPE
                for coding in (identifier.get("type") or {}).get("coding") or ())
    }
    if len(numbers) < 2:
        return None
    return (f"{len(numbers)} different medical record numbers (Identifier.type v2-0203 MR):"
            " which is this site's is not in the resource; send this site's only")


def site_patient_id(resource: Json, site: Collection[str]) -> SiteRecordNumber:
    """A FHIR R4 Patient's number under this site's own assigning authority ``site`` (its
    names, non-empty; ``shared.clinical.record_numbers``): the identifier typed MR
    (Identifier.type v2-0203) whose ``system`` is one of ``site``; the other MR identifiers
    are other facilities' (FHIR R4 Patient.identifier 0..*, Identifier.system "the namespace
    for the identifier value"). Never ``Patient.id``: the resource id is the sender's, not
    this site's number."""
    found = [
        MrIdentifier(frozenset({str(identifier["system"])}) if identifier.get("system")
                     else frozenset(),
                     str(identifier.get("system") or "no system"), str(identifier["value"]))
        for identifier in resource.get("identifier") or ()
        if isinstance(identifier, dict) and identifier.get("value")
        and any(isinstance(coding, dict) and coding.get("code") == _MR_TYPE
                for coding in (identifier.get("type") or {}).get("coding") or ())
    ]
    return site_record_number(found, site, _PATIENT_IDENTIFIER)


_PATIENT_IDENTIFIER = "Identifier.system, Identifier.type v2-0203 MR; FHIR R4 Patient.identifier"


def patient_id(resource: Json) -> str | None:
    """The MR-typed identifier if there is one, else ``Patient.id``."""
    for identifier in resource.get("identifier") or ():
        for coding in (identifier.get("type") or {}).get("coding") or ():
            if coding.get("code") == _MR_TYPE and identifier.get("value"):
                return str(identifier["value"])
    return resource.get("id")


def demographics(reader: Reader, source: Source, resource: Json, path: str) -> Demographics:
    """A FHIR R4 Patient as demographics: birthDate (partial dates kept unknown), gender
    (AdministrativeGender, else refused at ``<path>.gender``) and deceased[x]."""
    birth_date = None
    if "birthDate" in resource and not isinstance(resource["birthDate"], str):
        # FHIR R4 JSON: a date is a JSON string (the validator would take 0 as 1970-01-01)
        reader.problem(f"{path}.birthDate", "a FHIR date must be a JSON string "
                       f"(YYYY, YYYY-MM or YYYY-MM-DD), not a {json_type(resource['birthDate'])}")
    elif resource.get("birthDate"):
        try:
            birth_date = parse_fhir_date(resource["birthDate"])
        except TimeFormatError as error:
            reader.problem(f"{path}.birthDate", str(error))
        if birth_date is not None and (
                impossible := birth_after_receipt(birth_date, source.received_at)):
            reader.problem(f"{path}.birthDate", impossible)
            birth_date = None
    gender = resource.get("gender")
    deceased: bool | None = None
    deceased_on = None
    if "deceasedBoolean" in resource:
        deceased = json_boolean(reader, resource["deceasedBoolean"], f"{path}.deceasedBoolean")
    elif "deceasedDateTime" in resource:
        if reader.time(resource["deceasedDateTime"], f"{path}.deceasedDateTime") is not None:
            deceased_on = day_as_written(str(resource["deceasedDateTime"]))
        deceased = True
    if gender is not None and gender not in set(Sex):
        # FHIR R4 Patient.gender is bound (required) to AdministrativeGender
        reader.problem(f"{path}.gender", "not one of male, female, other, unknown")
    return Demographics(
        birth_date=birth_date,
        sex=Sex(gender) if isinstance(gender, str) and gender in set(Sex) else None,
        deceased=deceased,
        deceased_on=deceased_on,
        provenance=source.provenance(resource),
    )


def observation(reader: Reader, source: Source, resource: Json, path: str) -> list[ClinicalFact]:
    """A FHIR R4 Observation as one fact with its components (FHIR R4 Observation).

    value[x] through ``read_value`` (read, refused at its path, or kept unread), time through
    ``observation_time``, status as sent. A component shares the Observation's time and
    status. Problems go to ``reader``; an empty list when the code cannot be read.
    """
    provenance = source.provenance(resource)
    status = resource.get("status")
    if status not in _OBSERVATION_STATUS:
        # FHIR R4 Observation.status 1..1, binding required to observation-status: another code
        # ("pending", "F") says nothing the standard defines, so it is never read as final
        reader.problem(f"{path}.status", "not an observation-status code (registered,"
                       " preliminary, final, amended, corrected, cancelled, entered-in-error,"
                       " unknown; FHIR R4 Observation.status, required binding)")
        return []

    def built_path(index: int) -> str:
        return f"{path}.component[{index}]"

    start, end, time_notes = observation_time(reader, resource, path)
    undated = _undated(path) if start is None and end is None else None
    if undated is not None:
        # the note on the time becomes the reason the result is unread
        time_notes = tuple(n for n in time_notes if n.path != undated.note.path)
    unread_time = _status_unread(resource, path) or (undated.note if undated else None)
    fact = _observed(reader, resource, path, provenance, part="")
    if fact is None:
        return []
    # a date without a time (a day, or a month or year: FHIR R4 dateTime partial date) is the
    # whole period it names; the engine judges every criterion at both ends of it
    bounds = undated or _issued_only(resource, start, end, path) or time_bounds(
        resource, *_EFFECTIVE, path)
    bounds = _over_a_period(resource, start, end, bounds, path) or bounds
    late = _after_receipt(resource, start, bounds, source.received_at, path)
    if late is not None:
        reader.problem(*late)
        return []
    components = []
    for index, component in enumerate(resource.get("component") or ()):
        built = _observed(
            reader, component, f"{path}.component[{index}]", provenance, f"component[{index}]"
        )
        if built is not None:
            missing = None if _has_value(built) else _no_value(component, built_path(index))
            absent = _absent(component, built_path(index)) if missing else None
            if missing is not None and absent is None and built.interpretation is None \
                    and _catalogued(built):
                # as for the Observation itself (below): a component of an analyte a criterion
                # reads, with neither value[x], dataAbsentReason nor interpretation, is a result
                # that carries nothing: kept unread, so an older result never decides in its
                # place (probe round 4: a CBC panel's empty 777-3 component was no result and
                # the older 180 passed I6.1)
                absent = missing
            shared = {
                "status": resource.get("status"),
                "effective_start": start,
                "effective_end": end,
                "time_bounds": bounds,
                "notes": (
                    *time_notes, *built.notes, *((missing,) if missing and not absent else ())
                ),
                "unread": built.unread or unread_time or absent,
            }
            components.append(built.model_copy(update=shared))
    notes = fact.notes
    absent = None
    if not _has_value(fact) and not components:
        missing = _no_value(resource, path)
        absent = _absent(resource, path) if missing is not None else None
        if missing is not None and absent is None and fact.interpretation is None \
                and _catalogued(fact):
            # FHIR R4 Observation.value[x] 0..1 with obs-6/obs-7: a result with neither a value,
            # a dataAbsentReason, an interpretation, components nor members carries no result;
            # for an analyte a criterion reads it is kept unread, so an older result never
            # decides in its place
            absent = missing
        notes = (*notes, missing) if missing is not None and absent is None else notes
    return [
        fact.model_copy(
            update={
                "status": resource.get("status"),
                "effective_start": start,
                "effective_end": end,
                "time_bounds": bounds,
                "components": tuple(components),
                "notes": (*time_notes, *notes, *_replacing(fact, status, provenance.resource,
                                                           path)),
                "unread": fact.unread or unread_time or absent,
            }
        )
    ]


# FHIR R4 observation-status: corrected / amended "Subsequent to being Final, the observation
# has been modified"; entered-in-error "The observation has been withdrawn following previous
# final release". Each replaces or withdraws the earlier version of the same resource (its id).
_REPLACING = {
    "corrected": "corrects the earlier {name} result sent as {ref}: this version replaces it",
    "amended": "corrects the earlier {name} result sent as {ref}: this version replaces it",
    "entered-in-error": "withdraws the earlier {name} result sent as {ref}: it no longer counts",
}


def _replacing(fact: ClinicalFact, status: object, ref: str, path: str) -> tuple[ReadingNote, ...]:
    """The receipt note of a result that corrects or withdraws an earlier one (no values)."""
    words = _REPLACING.get(status) if isinstance(status, str) else None
    if words is None:
        return ()
    reason = f"status {status} (FHIR R4 observation-status): " + words.format(
        name=result_name(fact.codes), ref=ref)
    return (ReadingNote(path=f"{path}.status", reason=reason),)


# FHIR R4 observation-status (required binding of Observation.status): the statuses whose result
# is kept unread. ``cancelled``: "The observation is unavailable because the measurement was not
# started or not completed" (HL7 v2 table 0085 X/N): no result was obtained, and an older one
# must not decide in its place. ``unknown``: "The authoring/source system does not know which of
# the status values currently applies": it may be preliminary or withdrawn. (``preliminary`` is
# counted unread by the engine; ``registered`` has no result yet and ``entered-in-error`` is
# withdrawn: both are ignored by the engine, ``shared/eligibility/index.py``.)
_UNREAD_STATUS = {
    "cancelled": "the measurement was not started or not completed: no result was obtained",
    "unknown": "the sender does not know whether the result is final, preliminary or withdrawn",
}


# an Observation with no time may have been obtained at any instant: the engine caps the last
# at as-of and at the receipt (``FactIndex.at_bound``); the first is older than any record
_EVER = datetime(1, 1, 2, tzinfo=UTC)
_NEVER_AFTER = datetime(9999, 12, 31, tzinfo=UTC)


def _undated(path: str, kind: str = "Observation") -> TimeBounds:
    """The bounds of a result with neither ``effective[x]`` nor ``issued``, whose note is the
    reason the result is kept unread.

    FHIR R4 Observation.effective[x] (0..1): "The time or time-period the observed value is
    asserted as being true" (US Core Laboratory Result Observation requires it); ``issued``
    bounds it from above when sent. With neither, the result was obtained at some unknown
    instant up to its receipt: it cannot be ordered against other results or placed in a
    window. Kept unread and bounded by every instant it may stand for, it is the newest result
    at the last of them, so no older result ever decides in its place (undated, it was ordered
    older than every dated result, which decided).
    """
    return TimeBounds(
        start_earliest=_EVER,
        start_latest=_NEVER_AFTER,
        note=ReadingNote(
            path=f"{path}.effective[x]",
            reason=(
                f"no effective[x] and no issued (FHIR R4 {kind}.effective[x], the clinically"
                " relevant time): when the result was obtained is unknown, so it cannot be"
                " ordered against other results or placed in a window, and an older result"
                " cannot stand in for it"
            ),
        ),
    )


def _issued_only(
    resource: Json, start: datetime | None, end: datetime | None, path: str
) -> TimeBounds | None:
    # (DiagnosticReport.issued: "The date and time that this version of the report was made
    # available to providers", the same upper bound)
    """The bounds of a result dated only by ``issued``: any instant up to it.

    FHIR R4 Observation.issued: "The date and time this version of the observation was made
    available to providers, typically after the results have been reviewed and verified". It
    bounds the collection time from above only: dated at it, a result outranked one taken
    before it that it may predate. The engine judges every criterion at both ends (``_EVER``
    and ``issued``). None when ``effective[x]`` was read.
    """
    sent = ("effectiveDateTime", "effectiveInstant", "effectivePeriod.start", "effectivePeriod.end")
    if start is not None or end is None or any(_element(resource, key) for key in sent):
        return None
    return TimeBounds(
        start_earliest=_EVER,
        start_latest=end,
        note=ReadingNote(
            path=f"{path}.issued",
            reason=(
                "no effective[x]: collected at some instant up to issued (FHIR R4"
                f" {resource.get('resourceType')}.issued: when the result was made available);"
                " an order or window"
                " it decides is judged at both ends"
            ),
        ),
    )


def _status_unread(resource: Json, path: str) -> ReadingNote | None:
    status = resource.get("status")
    if status == "registered" and _sends_value(resource):
        # FHIR R4 observation-status registered: "The existence of the observation is
        # registered, but there is no result yet available". A value sent under it contradicts
        # the status: whether it is a result (released or not) is unknown, so it is kept
        # unread, never dropped (probe round 4: a registered platelet count of 8 was ignored
        # as pending with no trace, and the older 180 decided I6.1)
        return ReadingNote(path=f"{path}.status", reason=(
            "status 'registered' (FHIR R4 observation-status: no result yet available) sent"
            " with a value: whether the value is a result is unknown"))
    meaning = _UNREAD_STATUS.get(status) if isinstance(status, str) else None
    if meaning is None:
        return None
    return ReadingNote(
        path=f"{path}.status",
        reason=f"status {status!r} (FHIR R4 observation-status): {meaning}",
    )


def _absent(element: Json, path: str) -> ReadingNote | None:
    """The unread note of a result sent with ``dataAbsentReason`` and no ``value[x]``.

    FHIR R4 Observation.dataAbsentReason: "Provides a reason why the expected value in the
    element Observation.value[x] is missing" (obs-6: only when value[x] is absent). The result
    exists and says its value is missing (not performed, error, masked, a value the device could
    not report ...): it is kept unread, so every criterion reading it is unknown while it is the
    latest result, and an older result never decides in its place (issue 9).
    """
    absent = _first_code(element.get("dataAbsentReason"))
    if absent is None:
        if isinstance(element.get("dataAbsentReason"), dict):
            absent = "no code"
        else:
            return None
    return ReadingNote(
        path=f"{path}.dataAbsentReason",
        reason=(
            f"no value: the sender says why it is absent ({absent}; FHIR R4"
            " Observation.dataAbsentReason): the result could not be obtained, and an older"
            " result cannot stand in for it"
        ),
    )


def observation_time(
    reader: Reader, resource: Json, path: str
) -> tuple[datetime | None, datetime | None, tuple[ReadingNote, ...]]:
    """When the result was obtained (FHIR R4 Observation.effective[x], else .issued).

    ``effective[x]`` (dateTime, Period, instant) is the clinically relevant time. Without it,
    ``issued`` (the instant the result was made available) bounds that time from above: it
    becomes ``effective_end`` with a note that the time is approximate, so the result is never
    undated. A date without a time (``2026-02-26``, or a partial ``2026-02``, ``2026``) is
    read as the start of its period, and ``time_bounds`` keeps the whole period it names.
    ``effectiveTiming`` is not read (named in a note). With no time at all, ``observation``
    keeps the result unread (``_undated``).
    """
    start, end = reader.period(resource, "effective", path)
    notes: list[ReadingNote] = []
    if "effectiveTiming" in resource:
        notes.append(
            ReadingNote(path=f"{path}.effectiveTiming", reason="a Timing is not read as a time")
        )
    if start is not None or end is not None:
        return start, end, ()
    if resource.get("issued") is not None:
        issued = reader.time(resource["issued"], f"{path}.issued")
        if issued is not None:
            notes.append(
                ReadingNote(
                    path=f"{path}.issued",
                    reason=(
                        "no effective[x]: dated by issued, which bounds the collection time"
                        " from above; the time is approximate"
                    ),
                )
            )
        return None, issued, tuple(notes)
    notes.append(
        ReadingNote(
            path=f"{path}.effective[x]",
            reason="no effective[x] and no issued: the result has no time and counts in no window",
        )
    )
    return None, None, tuple(notes)


def time_bounds(
    resource: Json, start: tuple[str, ...], end: tuple[str, ...], path: str
) -> TimeBounds | None:
    """The bounds of the fact's start and end times when either was sent without a time of day.

    ``start``/``end`` name where each time may be: ``effectiveDateTime``, ``effectivePeriod.start``
    ... (the first present is used, as the readers do). FHIR R4 dateTime: a date without a time
    names the whole day (month, year) in a zone it does not give (``times.fhir_date_bounds``).
    None when every time read is an instant.
    """
    found: dict[str, tuple[datetime, datetime] | None] = {}
    where: list[str] = []
    written_as: list[str] = []
    for side, keys in (("start", start), ("end", end)):
        for key in keys:
            written = _element(resource, key)
            if written is None:
                continue
            try:
                found[side] = fhir_date_bounds(written)
            except TimeFormatError:
                found[side] = None  # refused at its path by the reader already
            if found[side] is not None:
                where.append(f"{path}.{key}")
                written_as.append(written)
            break
    start_bounds, end_bounds = found.get("start"), found.get("end")
    if start_bounds is None and end_bounds is None:
        return None
    return TimeBounds(
        start_earliest=start_bounds[0] if start_bounds else None,
        start_latest=start_bounds[1] if start_bounds else None,
        end_earliest=end_bounds[0] if end_bounds else None,
        end_latest=end_bounds[1] if end_bounds else None,
        note=ReadingNote(path=where[0], reason=_period_named(written_as[0])),
    )


# FHIR R4 dateTime: "a date, or partial date (e.g. just year or year + month)": by its length
_PRECISION = {4: "year", 7: "month", 10: "day"}


def _period_named(written: str) -> str:
    """Why a time has bounds, naming the period ``written`` stands for (a day, month, year)."""
    period = _PRECISION.get(len(written), "day")
    sent = "a day" if period == "day" else f"only a {period} ({written!r})"
    return (
        f"time sent without a time of day, as {sent} (FHIR R4 dateTime): it may be any instant"
        f" of that {period} in any zone; a window or an order it decides is judged at both ends"
    )


def _element(resource: Json, key: str) -> str | None:
    value: Any = resource
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


_EFFECTIVE = (("effectiveDateTime", "effectivePeriod.start"), ("effectivePeriod.end",))


def _over_a_period(
    resource: Json, start: datetime | None, end: datetime | None, bounds: TimeBounds | None,
    path: str,
) -> TimeBounds | None:
    """The bounds of an Observation sent with an ``effectivePeriod`` that has both ends.

    FHIR R4 Observation.effective[x]: "the time or time-period the observed value is asserted
    as being true"; a Period ("a time period defined by a start and end") says the value stands
    for all of it (a timed urine collection, a value averaged over days). Against a result
    taken inside that period it is neither older nor newer, so the engine judges each
    criterion with it at the period's start and at its end (``time_bounds``), and an order the
    two ends decide differently is unknown. Before (probe round 4), it was read at its start:
    a platelet count of 8 for 1 January to 28 February was older than the 180 of 26 February,
    which decided I6.1. None when the period has no two ends or they are equal.
    """
    period = resource.get("effectivePeriod")
    if not isinstance(period, dict) or start is None or end is None or end <= start:
        return None
    earliest = bounds.start_earliest if bounds is not None and bounds.start_earliest else start
    latest = bounds.end_latest if bounds is not None and bounds.end_latest else end
    return TimeBounds(
        start_earliest=earliest, start_latest=latest,
        end_earliest=bounds.end_earliest if bounds is not None else None,
        end_latest=bounds.end_latest if bounds is not None else None,
        note=ReadingNote(path=f"{path}.effectivePeriod", reason=(
            "the value stands for a period (FHIR R4 Observation.effectivePeriod), not an"
            " instant: a window or an order it decides is judged at both ends")))


def _after_receipt(
    resource: Json, start: datetime | None, bounds: TimeBounds | None,
    received_at: datetime | None, path: str,
) -> tuple[str, str] | None:
    """The problem (path, reason) of an Observation observed after TrialWatch received it.

    FHIR R4 Observation.effective[x]: "the time or time-period the observed value is asserted
    as being true". A result cannot be observed after the message carrying it arrived: an
    effective time later than ``received_at`` by more than ``CLOCK_SKEW`` (a day or month sent
    counts from its first instant anywhere, ``time_bounds``) is a date typed wrong (03-05 for
    02-03), refused at its path as HL7 v2 OBX-14 already was (``hl7v2._after_message``). Not
    kept unread: the engine skips a result dated after its evaluation time, so the older
    result would decide until that date (probe round 4: a platelet count of 8 dated five days
    after its receipt left the older 180 deciding I6.1: ELIGIBLE). Nothing compared without an
    arrival time.
    """
    if start is None or received_at is None:
        return None
    earliest = bounds.start_earliest if bounds is not None and bounds.start_earliest else start
    if earliest - received_at <= CLOCK_SKEW:
        return None
    element = next((name for name in ("effectiveDateTime", "effectiveInstant") if name in resource),
                   "effectivePeriod.start")
    return f"{path}.{element}", (
        f"observed after TrialWatch received it ({received_at.isoformat()}) by more than the"
        f" {int(CLOCK_SKEW.total_seconds() // 60)} minutes of clock skew allowed: a result"
        " cannot be later than the message that carries it")


def _sends_value(resource: Json) -> bool:
    """Whether the Observation or one of its components sends a value[x]."""
    elements = [resource, *(c for c in resource.get("component") or () if isinstance(c, dict))]
    return any(key.startswith("value") for element in elements for key in element)


def _has_value(fact: ClinicalFact) -> bool:
    """A value was read, or the fact already says why it was not."""
    return (
        fact.value_quantity is not None
        or fact.value_code is not None
        or fact.value_boolean is not None
        or fact.unread is not None
    )


def _catalogued(fact: ClinicalFact) -> bool:
    """Whether the fact's LOINC code is an analyte of the catalogue (``analytes.yaml``)."""
    loinc = loinc_of(fact.codes)
    return loinc is not None and analyte_for(loinc) is not None


def _no_value(element: Json, path: str) -> ReadingNote | None:
    if element.get("hasMember"):
        return None  # a panel: its members are Observations read on their own
    absent = _first_code(element.get("dataAbsentReason"))
    if absent is not None:
        # FHIR R4 Observation.dataAbsentReason: why the expected value[x] is missing
        return ReadingNote(
            path=f"{path}.dataAbsentReason",
            reason=f"no value: the sender says why ({absent}); the result carries no value",
        )
    return ReadingNote(path=f"{path}.value[x]", reason="no value[x]: the result carries no value")


def _observed(
    reader: Reader, element: Json, path: str, provenance: Provenance, part: str
) -> ClinicalFact | None:
    code_notes: list[ReadingNote] = []
    codes = reader.codings(element.get("code"), f"{path}.code", code_notes)
    if not codes:
        reader.problem(f"{path}.code", "no coding with both system and code")
        return None
    # a sender's local code read as the LOINC/SNOMED CT code the site maps it to (noted)
    codes, mapped = crosswalked(codes, reader.source_system, f"{path}.code")
    code_notes.extend(mapped)
    disagree = analytes_disagree(codes)
    if disagree is not None:
        reader.problem(f"{path}.code.coding", disagree)
        return None
    loinc = loinc_of(codes)
    value = read_value(reader, loinc, element, path)
    flag, flag_note = interpretation_of(element.get("interpretation"), f"{path}.interpretation")
    unread = value.unread
    if (
        flag_note is not None
        and unread is None
        and value.quantity is None
        and value.code is None
        and value.boolean is None
    ):
        unread = flag_note  # the flag is the whole result, and it cannot be read
        flag_note = None
    obs6 = _absent_with_value(element, path, value)
    if obs6 is not None:
        reader.problem(*obs6)
        return None
    # a range without its own unit is in the unit the result was sent in, not the canonical one
    sent = element.get("valueQuantity") or {}
    unit = sent_unit(sent).unit if value.quantity else None
    return ClinicalFact(
        fact_id=fact_id(provenance.source_system, provenance.resource, part),
        kind=FactKind.OBSERVATION,
        codes=codes,
        value_quantity=value.quantity,
        value_code=value.code,
        value_boolean=value.boolean,
        **_ranges(reader, loinc, element.get("referenceRange"), f"{path}.referenceRange", unit),
        interpretation=flag,
        provenance=provenance,
        unread=unread,
        notes=(*code_notes, *value.notes, *((flag_note,) if flag_note else ())),
        received=value.received,
    )


def _absent_with_value(element: Json, path: str, value: Any) -> tuple[str, str] | None:
    """FHIR R4 obs-6: "dataAbsentReason SHALL only be present if Observation.value[x] is not
    present". Both sent: the sender says the value is missing (or an ``error``) and sends one;
    which holds is unknown, so it is refused at ``dataAbsentReason``."""
    if not element.get("dataAbsentReason"):
        return None
    if not any(key.startswith("value") for key in element):
        return None
    return (
        f"{path}.dataAbsentReason",
        "sent with a value[x] (FHIR R4 obs-6: dataAbsentReason SHALL only be present if"
        " value[x] is not present): whether the value stands is unknown",
    )


def _ranges(
    reader: Reader, loinc: str | None, ranges: Any, path: str, unit: str | None
) -> dict[str, Any]:
    """``reference_range`` (the first entry) and, when the entries are alternatives (several,
    or one restricted by appliesTo/age), every one of them as ``reference_ranges``."""
    return range_fields(reader.reference_ranges(loinc, ranges, path, unit))


def condition(reader: Reader, source: Source, resource: Json, path: str) -> list[ClinicalFact]:
    """A FHIR R4 Condition as one fact: onset[x] and abatement[x] times (other forms named in
    notes) and the status of ``condition_status``."""
    notes: list[ReadingNote] = []
    codes = _required_codes(reader, resource.get("code"), f"{path}.code", notes)
    onset, _ = reader.period(resource, "onset", path)
    abatement_start, abatement_end = reader.period(resource, "abatement", path)
    # FHIR R4 Condition.onset[x] / abatement[x]: dateTime | Age | Period | Range | string
    # (abatement also boolean); only times are read, the other forms are named
    notes += _unread_times(resource, path, "onset", ("Age", "Range", "String"))
    notes += _unread_times(resource, path, "abatement", ("Age", "Range", "String", "Boolean"))
    open_period = "abatementPeriod" in resource and abatement_end is None
    if open_period and abatement_start is not None:
        # FHIR R4 Period: "If the end of the period is missing, it means that the period is
        # ongoing"; an abatementPeriod with a start only says the condition began to resolve
        # then, not when it had resolved: no abatement date, so a criterion reading a window
        # is unknown on it (``records.marked_end_unknown``). Before (probe round 4), it was
        # read as ended at the start: a breast cancer whose abatementPeriod began in 2015 was
        # "not within five years" and E6 passed.
        notes.append(ReadingNote(path=f"{path}.abatementPeriod.end", reason=(
            "abatementPeriod with no end (FHIR R4 Period: the period is ongoing): when the"
            " condition resolved is not sent")))
    status, unread = condition_status(reader, resource, path)
    fact = _fact(
        source,
        resource,
        FactKind.CONDITION,
        codes,
        status=status,
        effective_start=onset,
        effective_end=abatement_end or (None if open_period else abatement_start),
        notes=notes,
    )
    bounds = time_bounds(
        resource,
        ("onsetDateTime", "onsetPeriod.start"),
        ("abatementDateTime", "abatementPeriod.end"),
        path,
    )
    update = {key: value for key, value in (("time_bounds", bounds), ("unread", unread))
              if value is not None}
    return [fact.model_copy(update=update)] if update else [fact]


def _unread_times(
    resource: Json, path: str, prefix: str, forms: tuple[str, ...]
) -> list[ReadingNote]:
    return [
        ReadingNote(path=f"{path}.{prefix}{form}", reason=f"{prefix}{form} is not read as a time")
        for form in forms
        if f"{prefix}{form}" in resource
    ]


CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VER_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
# FHIR R4 Condition.clinicalStatus / verificationStatus: each bound (required) to its code system
_CLINICAL_CODES = frozenset({
    "active", "recurrence", "relapse", "inactive", "remission", "resolved"})
_VERIFICATION_CODES = frozenset({
    "unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"})
_ABATED_STATUSES = frozenset({"inactive", "resolved", "remission"})


def condition_status(
    reader: Reader, resource: Json, path: str
) -> tuple[str | None, ReadingNote | None]:
    """The status a Condition fact carries (module docstring), and why it is kept unread.

    FHIR R4 Condition (https://hl7.org/fhir/R4/condition-definitions.html): clinicalStatus is
    bound (required) to ``condition-clinical``, verificationStatus to ``condition-ver-status``;
    only codings of those systems are read (``_status_code``: text alone, another system, a
    code outside the system or two that differ are refused at the element's path). Then:

    - con-5 (rule): "clinicalStatus SHALL NOT be present if verificationStatus is
      entered-in-error": both sent, whether the entry is withdrawn is unknown: refused at
      ``clinicalStatus``;
    - a verificationStatus that denies the diagnosis (refuted, entered-in-error, unconfirmed,
      provisional, differential) is the status (the engine never reads it as active);
    - con-4 (rule): "If condition is abated, then clinicalStatus must be either inactive,
      resolved, or remission": abated and said active (or no clinicalStatus): kept unread at
      ``clinicalStatus``, whether it is active is unknown;
    - no clinicalStatus (con-3 is only a guideline in R4: an encounter diagnosis may have
      none): kept unread at ``clinicalStatus``, whether it is active is unknown ("confirmed"
      says the diagnosis is sure, not that it is current).
    """
    clinical = _status_code(
        reader, resource, "clinicalStatus", CONDITION_CLINICAL, _CLINICAL_CODES, path)
    verification = _status_code(
        reader, resource, "verificationStatus", CONDITION_VER_STATUS, _VERIFICATION_CODES, path)
    where = f"{path}.clinicalStatus"
    if verification == "entered-in-error" and "clinicalStatus" in resource:
        reader.problem(where, "sent with verificationStatus entered-in-error (FHIR R4 con-5:"
                       " clinicalStatus SHALL NOT be present if verificationStatus is"
                       " entered-in-error): whether the entry is withdrawn is unknown")
        return verification, None
    if verification in _NOT_A_POSITIVE_DIAGNOSIS:
        return verification, None
    abated = any(key.startswith("abatement") for key in resource)
    if "clinicalStatus" not in resource:
        said = "abated, and no clinicalStatus (FHIR R4 con-4: an abated condition's" \
            " clinicalStatus must be inactive, resolved or remission)" if abated else (
            "no clinicalStatus (FHIR R4 Condition.clinicalStatus, 0..1)")
        return verification, ReadingNote(path=where, reason=(
            f"{said}: whether the condition is active is unknown"
            + (f" (verificationStatus {verification!r} says only that the diagnosis is sure)"
               if verification == "confirmed" else "")))
    if clinical is not None and abated and clinical not in _ABATED_STATUSES:
        return clinical, ReadingNote(path=where, reason=(
            f"clinicalStatus {clinical!r} with abatement[x] sent (FHIR R4 con-4: if the"
            " condition is abated, clinicalStatus must be inactive, resolved or remission):"
            " whether the condition is active is unknown"))
    return clinical or verification, None


def _status_code(
    reader: Reader, resource: Json, key: str, system: str, codes: frozenset[str], path: str,
    kind: str = "Condition",
) -> str | None:
    """The code of ``resource[key]`` in ``system`` (a required binding), else None with the
    problem at its path; None without a problem when the element is absent."""
    if key not in resource:
        return None
    where = f"{path}.{key}"
    concept = resource[key]
    if not isinstance(concept, dict):
        reader.problem(where, f"a FHIR R4 CodeableConcept (a JSON object with a coding in"
                       f" {system}), not a {json_type(concept)} (a code alone is FHIR STU3)")
        return None
    found: dict[str, int] = {}
    for index, coding in enumerate(concept.get("coding") or ()):
        if isinstance(coding, dict) and coding.get("system") == system:
            code = coding.get("code")
            if code not in codes:
                reader.problem(f"{where}.coding[{index}].code", f"{code!r} is not a code of"
                               f" {system} ({', '.join(sorted(codes))}; FHIR R4 {kind}."
                               f"{key}, required binding)")
                return None
            found.setdefault(code, index)
    if not found:
        sent = "text alone" if concept.get("text") and not concept.get("coding") else (
            "no coding in that system")
        reader.problem(where, f"{sent}: FHIR R4 {kind}.{key} is bound (required) to"
                       f" {system}; text or a code of another system is not read as the status")
        return None
    if len(found) > 1:
        reader.problem(where, f"codes {', '.join(map(repr, found))} of {system} differ: which"
                       " status holds is unknown")
        return None
    return next(iter(found))


def _administered_dose(dosage: Any, path: str) -> DailyDose | None:
    """A FHIR R4 ``MedicationAdministration.dosage`` kept as an unread daily dose.

    ``dosage.dose`` (SimpleQuantity) is the amount given in that one administration
    (https://hl7.org/fhir/R4/medicationadministration-definitions.html#MedicationAdministration.dosage.dose),
    not a dose per day, so it is never a daily dose; it is kept unread with the reason and the
    amount as sent, as an HL7 v2.5.1 RXA-6/7 administered amount is
    (``shared.clinical.hl7v2_medications``). None when no dosage was sent.
    """
    if not isinstance(dosage, dict) or not dosage:
        return None
    raw = dosage.get("dose")
    dose: Json = raw if isinstance(raw, dict) else {}
    value, unit = dose.get("value"), dose.get("code") or dose.get("unit")
    shown = f"{value if value is not None else ''} {unit or ''}".strip() or None
    where = f"{path}.dose" if dose else path
    return DailyDose(
        unread=ReadingNote(path=where, reason=(
            "an administered dose (MedicationAdministration.dosage.dose) is one administration,"
            " not a daily dose (as an HL7 v2 RXA-6 administered amount)")),
        received=shown,
    )


# FHIR R4 required status bindings of the medication resources (value set, codes):
# MedicationStatement.status medication-statement-status, MedicationRequest.status
# medicationrequest-status, MedicationAdministration.status medication-admin-status,
# MedicationDispense.status medicationdispense-status.
_MEDICATION_STATUS: dict[str, tuple[str, tuple[str, ...]]] = {
    "MedicationStatement": ("medication-statement-status", (
        "active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown",
        "not-taken")),
    "MedicationRequest": ("medicationrequest-status", (
        "active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft",
        "unknown")),
    "MedicationAdministration": ("medication-admin-status", (
        "in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped",
        "unknown")),
    "MedicationDispense": ("medicationdispense-status", (
        "preparation", "in-progress", "cancelled", "on-hold", "completed", "entered-in-error",
        "stopped", "declined", "unknown")),
}


def medication(reader: Reader, source: Source, resource: Json, path: str) -> list[ClinicalFact]:
    """A FHIR R4 MedicationStatement, MedicationAdministration, MedicationRequest or
    MedicationDispense as one fact.

    The drug from medicationCodeableConcept or the referenced Medication (refused at
    ``medicationReference`` when not found); the time from effective[x] (authoredOn for a
    request, whenHandedOver for a dispense: the start of the exposure, its end not sent); an
    undated use is kept with a note. A dispense not handed over is kept unread at ``status``
    (``_dispense_not_handed_over``). A status that is not a code of the resource's required
    status value set (``_MEDICATION_STATUS``), or none, is refused at ``status``.
    """
    status = resource.get("status")
    value_set, codes_allowed = _MEDICATION_STATUS[resource["resourceType"]]
    if status not in codes_allowed:
        # FHIR R4 <Resource>.status 1..1, binding required (codes are case-sensitive): another
        # string ('Not-taken', 'Entered-in-error', 'not_taken') is no status the standard
        # defines; read as sent, it counted as a use of the drug (probe round 6)
        reader.problem(f"{path}.status", (
            f"not a {value_set} code ({', '.join(codes_allowed)}; FHIR R4"
            f" {resource['resourceType']}.status, required binding, codes are case-sensitive)"))
        return []
    notes: list[ReadingNote] = []
    if "medicationCodeableConcept" in resource:
        codes = _required_codes(
            reader,
            resource["medicationCodeableConcept"],
            f"{path}.medicationCodeableConcept",
            notes,
        )
    else:
        reference = (resource.get("medicationReference") or {}).get("reference")
        referenced = source.medication(reference, resource) if reference else None
        if referenced is None:
            reader.problem(
                f"{path}.medicationReference", "Medication not found in the resource or the bundle"
            )
            return []
        codes = _required_codes(
            reader, referenced.get("code"), f"{path}.medicationReference", notes
        )
    if codes:
        where_code = (f"{path}.medicationCodeableConcept" if "medicationCodeableConcept" in resource
                      else f"{path}.medicationReference")
        codes, identified = identified_medication(codes, reader.source_system, where_code)
        notes.extend(identified)
    if resource["resourceType"] == "MedicationRequest":
        start, end = reader.time(resource.get("authoredOn"), f"{path}.authoredOn"), None
        where = f"{path}.authoredOn"
    elif resource["resourceType"] == "MedicationDispense":
        # FHIR R4 MedicationDispense.whenHandedOver: "the time the dispensed product was
        # provided to the patient or their representative": the exposure starts then; when the
        # supply was last taken is not sent (whenPrepared is no exposure, daysSupply not read)
        start, end = reader.time(resource.get("whenHandedOver"), f"{path}.whenHandedOver"), None
        where = f"{path}.whenHandedOver"
    else:
        start, end = reader.period(resource, "effective", path)
        where = f"{path}.effective[x]"
    # FHIR R4 MedicationAdministration.effectiveDateTime is the instant of the administration
    # ("a specific date/time ... during which the administration took place"): it starts and
    # ends then, as an HL7 v2.5.1 RXA whose RXA-4 end is empty (RXA-3 "is assumed")
    administered_at = (
        resource["resourceType"] == "MedicationAdministration" and "effectiveDateTime" in resource
    )
    if administered_at and end is None:
        end = start
    if start is None and end is None:
        notes.append(ReadingNote(path=where, reason="no time: the medication use is undated"))
    fact = _fact(
        source, resource, FactKind.MEDICATION, codes, resource.get("status"), start, end, notes
    )
    # FHIR R4 MedicationRequest.dosageInstruction / MedicationStatement.dosage (Dosage); a
    # MedicationAdministration.dosage is one administration, not a daily dose: kept unread
    dosage_key = {
        "MedicationRequest": "dosageInstruction", "MedicationStatement": "dosage",
        "MedicationDispense": "dosageInstruction",
    }.get(resource["resourceType"])
    dose = read_dosage(resource.get(dosage_key), f"{path}.{dosage_key}") if dosage_key else None
    if resource["resourceType"] == "MedicationAdministration":
        dose = _administered_dose(resource.get("dosage"), f"{path}.dosage")
    if resource["resourceType"] == "MedicationRequest":
        bounds = time_bounds(resource, ("authoredOn",), (), path)
    elif resource["resourceType"] == "MedicationDispense":
        bounds = time_bounds(resource, ("whenHandedOver",), (), path)
    elif administered_at:
        bounds = time_bounds(resource, ("effectiveDateTime",), ("effectiveDateTime",), path)
    else:
        bounds = time_bounds(resource, *_EFFECTIVE, path)
    unread = (_request_not_given(resource, path) or _dispense_not_handed_over(resource, path)
              or _administration_end_unknown(resource, start, end, path))
    update = {
        key: value
        for key, value in (("dose", dose), ("time_bounds", bounds), ("unread", unread))
        if value is not None
    }
    return [fact.model_copy(update=update)] if update else [fact]


def _administration_end_unknown(
    resource: Json, start: datetime | None, end: datetime | None, path: str
) -> ReadingNote | None:
    """The unread note of a MedicationAdministration that is over but whose end is not sent.

    FHIR R4 MedicationAdministration.effectivePeriod is the period "during which the
    administration took place"; Period: "If the end of the period is missing, it means that
    the period is ongoing". With a status saying it is over (completed, stopped, not
    in-progress) and no end, the last instant of exposure is unknown: a washout cannot be
    counted from it. Before (probe round 4), the start was read as the dose itself: a
    rituximab administration begun in June 2025, completed at a time not sent, let E11 pass.
    In progress (or on hold) with no end is read as the ongoing exposure it says it is.
    """
    if resource["resourceType"] != "MedicationAdministration" or "effectivePeriod" not in resource:
        return None
    if start is None or end is not None or resource.get("status") in {"in-progress", "on-hold"}:
        return None
    return ReadingNote(path=f"{path}.effectivePeriod.end", reason=(
        f"administration {resource.get('status')!r} with no end (FHIR R4 Period: a missing end"
        " means ongoing): when the exposure ended is unknown, so no washout is counted from it"))


# FHIR R4 medicationrequest-intent (MedicationRequest.intent, 1..1, a modifier element): the
# intents that are an order ("order", and the orders derived from one). "proposal" (a
# suggestion "without an intention to ensure it occurs"), "plan" (an intention, with no
# authorisation to act), "directive" and "option" (a choice inside a RequestGroup) are no order.
_ORDER_INTENTS = frozenset(
    {"order", "original-order", "reflex-order", "filler-order", "instance-order"})


def _request_not_given(resource: Json, path: str) -> ReadingNote | None:
    """Why a MedicationRequest is no record that the drug was given, or None.

    FHIR R4 MedicationRequest.doNotPerform (a modifier: "this is a request for the medication
    not to be ordered or prescribed") and an ``intent`` that is no order (``_ORDER_INTENTS``)
    say nothing was given: the fact is kept unread at that element, so it proves no use (a
    criterion needing use is unknown, never met on it) and an exposure it may stand for has
    an unknown washout. Probe round 3: a "do not give" or a proposed prednisone was read as
    prednisone taken, and NCT06920433 I2 passed.
    """
    if resource["resourceType"] != "MedicationRequest":
        return None
    if resource.get("doNotPerform") is True:
        return ReadingNote(path=f"{path}.doNotPerform", reason=(
            "doNotPerform true: a request that the medication NOT be given (FHIR R4"
            " MedicationRequest.doNotPerform, a modifier): no record that it was taken"))
    intent = resource.get("intent")
    if intent not in _ORDER_INTENTS:
        return ReadingNote(path=f"{path}.intent", reason=(
            f"intent {intent!r} is no order (FHIR R4 medicationrequest-intent: a proposal, plan,"
            " directive or option authorises no one to give it): no record that it was taken"))
    return None


# FHIR R4 medicationdispense-status (MedicationDispense.status, 1..1, a modifier, required
# binding; http://hl7.org/fhir/R4/codesystem-medicationdispense-status.html). Only
# "completed" ("the dispensed product has been picked up") is a handover that happened.
# "cancelled" ("was not and will never be picked up"), "declined" ("declined and not
# performed") and "entered-in-error" are no exposure: the engine reads them as not taken
# (records.NOT_TAKEN). The others may hide a handover, or one may follow: kept unread here.
_DISPENSE_NOT_HANDED_OVER = {
    "preparation": "the core event has not started yet, but some staging activities have"
                   " begun: nothing has been handed over yet",
    "in-progress": "the dispensed product is ready for pickup: it has not been picked up yet",
    "on-hold": "the dispense process is paused: nothing has been handed over yet",
    "stopped": "actions implied by the dispense have been permanently halted, before all of"
               " them occurred: whether and what was handed over is unknown",
    "unknown": "the authoring system does not know which status applies: it may have been"
               " handed over or not",
}


def _dispense_not_handed_over(resource: Json, path: str) -> ReadingNote | None:
    """Why a MedicationDispense is no record of a handover (``_DISPENSE_NOT_HANDED_OVER``), or
    None (completed, and the statuses the engine reads as no exposure). Kept unread at
    ``status``: no proof of use, and an exposure it may stand for has an unknown washout
    (never a passed one)."""
    if resource["resourceType"] != "MedicationDispense":
        return None
    status = resource.get("status")
    why = _DISPENSE_NOT_HANDED_OVER.get(status) if isinstance(status, str) else None
    if why is None:
        return None
    return ReadingNote(path=f"{path}.status", reason=(
        f"status {status!r} (FHIR R4 medicationdispense-status: {why}): not a record that the"
        " drug was handed over and taken"))


ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
# FHIR R4 AllergyIntolerance (https://hl7.org/fhir/R4/allergyintolerance-definitions.html):
# clinicalStatus and verificationStatus are CodeableConcepts bound (required) to their code
# systems; type, category, criticality and reaction.severity are codes bound (required) to
# allergy-intolerance-type, -category, -criticality and reaction-event-severity.
_ALLERGY_CLINICAL_CODES = frozenset({"active", "inactive", "resolved"})
_ALLERGY_VERIFICATION_CODES = frozenset({
    "unconfirmed", "confirmed", "refuted", "entered-in-error"})
_ALLERGY_CODES = {
    "type": frozenset({"allergy", "intolerance"}),
    "category": frozenset({"food", "medication", "environment", "biologic"}),
    "criticality": frozenset({"low", "high", "unable-to-assess"}),
    "severity": frozenset({"mild", "moderate", "severe"}),
}


def _allergy_code(reader: Reader, value: Any, key: str, where: str) -> str | None:
    """``value`` when it is a code of ``key``'s required binding, else None with the problem
    at ``where`` (a code outside the binding is never read as the nearest one)."""
    codes = _ALLERGY_CODES[key]
    if isinstance(value, str) and value in codes:
        return value
    reader.problem(where, f"{value!r} is not a code of FHIR R4 AllergyIntolerance {key}"
                   f" ({' | '.join(sorted(codes))}, required binding)")
    return None


def allergy_intolerance(
    reader: Reader, source: Source, resource: Json, path: str
) -> list[ClinicalFact]:
    """A FHIR R4 AllergyIntolerance as one fact of kind ``allergy`` (``AllergyReading``).

    The substance (``code``, 0..1) is the fact's codes; onset[x] (dateTime or Period; Age,
    Range and string named in notes), else recordedDate ("when this record was created"), its
    time. Every coded element is read only as a code of its required binding (``_ALLERGY_CODES``,
    the two status code systems); any other is refused at its path. ait-1 (rule):
    "AllergyIntolerance.clinicalStatus SHALL be present if verificationStatus is not
    entered-in-error" and ait-2: "SHALL NOT be present if verificationStatus is
    entered-in-error": either broken is refused at ``clinicalStatus``. An entered-in-error
    record has that status (withdrawn, read by no criterion).
    """
    notes: list[ReadingNote] = []
    codes = reader.codings(resource.get("code"), f"{path}.code", notes)
    clinical = _status_code(reader, resource, "clinicalStatus", ALLERGY_CLINICAL,
                            _ALLERGY_CLINICAL_CODES, path, "AllergyIntolerance")
    verification = _status_code(reader, resource, "verificationStatus", ALLERGY_VERIFICATION,
                                _ALLERGY_VERIFICATION_CODES, path, "AllergyIntolerance")
    withdrawn = verification == "entered-in-error"
    if withdrawn and "clinicalStatus" in resource:
        reader.problem(f"{path}.clinicalStatus", "sent with verificationStatus entered-in-error"
                       " (FHIR R4 ait-2: clinicalStatus SHALL NOT be present then): whether"
                       " the entry is withdrawn is unknown")
    elif not withdrawn and "clinicalStatus" not in resource:
        reader.problem(f"{path}.clinicalStatus", "not sent (FHIR R4 ait-1: clinicalStatus SHALL"
                       " be present if verificationStatus is not entered-in-error): whether"
                       " the allergy is active, inactive or resolved is unknown")
    kind = resource.get("type")
    type_ = None if kind is None else _allergy_code(reader, kind, "type", f"{path}.type")
    categories: list[str] = []
    sent_categories = resource.get("category") or []
    if not isinstance(sent_categories, list):
        sent_categories = [sent_categories]
    for index, value in enumerate(sent_categories):
        category = _allergy_code(reader, value, "category", f"{path}.category[{index}]")
        if category is not None and category not in categories:
            categories.append(category)
    criticality = resource.get("criticality")
    if criticality is not None:
        criticality = _allergy_code(reader, criticality, "criticality", f"{path}.criticality")
    severities: list[str] = []
    manifestations: list[Coding] = []
    reactions = resource.get("reaction") or []
    for index, reaction in enumerate(reactions if isinstance(reactions, list) else [reactions]):
        where = f"{path}.reaction[{index}]"
        if not isinstance(reaction, dict):
            reader.problem(where, f"a FHIR R4 BackboneElement (a JSON object), not a"
                           f" {json_type(reaction)}")
            continue
        if "severity" in reaction:
            severity = _allergy_code(reader, reaction["severity"], "severity",
                                     f"{where}.severity")
            # kept once each (mild | moderate | severe): E1 reads whether any is severe
            if severity is not None and severity not in severities:
                severities.append(severity)
        for number, concept in enumerate(reaction.get("manifestation") or []):
            manifestations.extend(reader.codings(
                concept, f"{where}.manifestation[{number}]", notes))
    start, end = reader.period(resource, "onset", path)
    # FHIR R4 AllergyIntolerance.onset[x]: dateTime | Age | Period | Range | string
    notes += _unread_times(resource, path, "onset", ("Age", "Range", "String"))
    bounds_keys: tuple[str, ...] = ("onsetDateTime", "onsetPeriod.start")
    if start is None and end is None and "recordedDate" in resource:
        start = reader.time(resource["recordedDate"], f"{path}.recordedDate")
        bounds_keys = ("recordedDate",)
    fact = _fact(source, resource, FactKind.ALLERGY, codes,
                 verification if withdrawn else clinical, start, end, notes)
    reading = AllergyReading(
        verification=verification, type=type_, categories=tuple(categories),
        criticality=criticality, reaction_severities=tuple(severities),
        manifestations=tuple(dict.fromkeys(manifestations)),
    )
    update: dict[str, Any] = {"allergy": reading}
    bounds = time_bounds(resource, bounds_keys, ("onsetPeriod.end",), path)
    if bounds is not None:
        update["time_bounds"] = bounds
    return [fact.model_copy(update=update)]


def procedure(reader: Reader, source: Source, resource: Json, path: str) -> list[ClinicalFact]:
    """A FHIR R4 Procedure as one fact dated by performed[x] (string, Age, Range: named)."""
    notes: list[ReadingNote] = []
    codes = _required_codes(reader, resource.get("code"), f"{path}.code", notes)
    start, end = reader.period(resource, "performed", path)
    # FHIR R4 Procedure.performed[x]: dateTime | Period | string | Age | Range
    notes += _unread_times(resource, path, "performed", ("String", "Age", "Range"))
    fact = _fact(
        source, resource, FactKind.PROCEDURE, codes, resource.get("status"), start, end, notes
    )
    bounds = time_bounds(
        resource, ("performedDateTime", "performedPeriod.start"), ("performedPeriod.end",), path
    )
    return [fact.model_copy(update={"time_bounds": bounds})] if bounds else [fact]


def diagnostic_report(
    reader: Reader, source: Source, resource: Json, path: str
) -> list[ClinicalFact]:
    """Each conclusion code becomes an observation-like fact; a report without one adds nothing.

    Its time is effective[x]; without it, issued bounds it from above (``_issued_only``); with
    neither, each conclusion is kept unread at ``effective[x]`` (``_undated``).

    FHIR R4 DiagnosticReport.conclusionCode is a list of CodeableConcepts, each read as a
    coded result (any known coding decides; text alone through the result vocabulary). The
    report's own results arrive as the Observations it references: entries of their own, read
    on their own, or contained Observations (``result`` ``#o1``), read by ``read_contained``.
    """
    conclusions = resource.get("conclusionCode") or ()
    if not conclusions:
        return []
    notes: list[ReadingNote] = []
    codes = _required_codes(reader, resource.get("code"), f"{path}.code", notes)
    start, end = reader.period(resource, "effective", path)
    bounds = time_bounds(resource, *_EFFECTIVE, path)
    unread_time = None
    if start is None and end is None:
        # FHIR R4 DiagnosticReport.effective[x] 0..1, issued 0..1: as an Observation's
        issued = reader.time(resource.get("issued"), f"{path}.issued")
        if issued is not None:
            end, bounds = issued, _issued_only(resource, None, issued, path)
            notes.append(ReadingNote(path=f"{path}.issued", reason=(
                "no effective[x]: dated by issued, which bounds the time from above; the time"
                " is approximate")))
        else:
            bounds = _undated(path, "DiagnosticReport")
            unread_time = bounds.note
    provenance = source.provenance(resource)
    facts = []
    for index, concept in enumerate(conclusions):
        value = read_concept(reader, None, concept, f"{path}.conclusionCode[{index}]")
        facts.append(
            ClinicalFact(
                fact_id=fact_id(source.system, provenance.resource, f"conclusionCode[{index}]"),
                kind=FactKind.OBSERVATION,
                codes=codes,
                status=resource.get("status"),
                effective_start=start,
                effective_end=end,
                time_bounds=bounds,
                value_code=value.code,
                value_quantity=value.quantity,
                provenance=provenance,
                unread=value.unread or unread_time,
                notes=(*notes, *value.notes),
                received=value.received,
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
    notes: list[ReadingNote] | None = None,
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
        notes=tuple(notes or ()),
    )


def _required_codes(
    reader: Reader, concept: Any, path: str, notes: list[ReadingNote] | None = None
) -> tuple[Coding, ...]:
    """Every coding of the concept (all stand for it; the engine matches any one it knows),
    with the codings the site code crosswalk maps a local one to (``local_codes``; noted)."""
    codes = reader.codings(concept, path, notes)
    if not codes:
        reader.problem(path, "no coding with both system and code")
        return codes
    if notes is None:
        return codes  # a mapping is never applied where it could not be noted
    codes, mapped = crosswalked(codes, reader.source_system, path)
    notes.extend(mapped)
    return codes


def _first_code(concept: Any) -> str | None:
    for coding in (concept or {}).get("coding") or ():
        if coding.get("code"):
            return str(coding["code"])
    return None


Builder = Callable[[Reader, Source, Json, str], list[ClinicalFact]]

def _and_contained(builder: Builder) -> Builder:
    """``builder``'s facts, then those of the contained Observations referenced as results."""
    def build(reader: Reader, source: Source, resource: Json, path: str) -> list[ClinicalFact]:
        return [*builder(reader, source, resource, path),
                *read_contained(reader, source, resource, path)]
    build.__doc__ = builder.__doc__
    return build


BUILDERS: dict[str, Builder] = {
    "Observation": _and_contained(observation),
    "Condition": condition,
    "MedicationStatement": medication,
    "MedicationRequest": medication,
    "MedicationAdministration": medication,
    "MedicationDispense": medication,
    "Procedure": procedure,
    "AllergyIntolerance": allergy_intolerance,
    "DiagnosticReport": _and_contained(diagnostic_report),
}

