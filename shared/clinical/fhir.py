"""FHIR R4 JSON (one resource or a Bundle) -> one PatientUpdate per patient.

Each supported resource is validated with the ``fhir.resources.R4B`` models first (R4B is the
R4 technical correction; the Synthea R4 bundles validate unchanged, so no pre-adaptation is
needed). Bundle entries of other types (Encounter, Claim, ...) are skipped and counted.

Refusals follow the bundle's processing rules (FHIR R4 http, "Batches and transactions"): a
single resource and a ``transaction`` or ``searchset`` Bundle are all or nothing, so any
problem refuses the whole input, naming every problem with its path. The entries of a
``batch``, ``collection`` or ``message`` Bundle stand alone: an entry with a problem is
refused (with every problem and its path) and the others are read; an entry whose Patient
entry was refused is refused too (its facts could not be keyed to the right patient). When
every entry with patient data is refused, the whole input is refused.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from shared.clinical import bounds, fhir_modifiers
from shared.clinical.errors import InvalidInput, Problem
from shared.clinical.facts import (
    ClinicalFact,
    Demographics,
    PatientUpdate,
    ReadingNote,
    SourcePatient,
)
from shared.clinical.fhir_messages import fhir_validation_sentence
from shared.clinical.fhir_patients import (
    RECORD_NUMBER_ALIAS,
    identifier_alias,
    patient_aliases,
    replaced_by,
    replaced_records,
    resource_id_of,
)
from shared.clinical.fhir_resources import (
    BUILDERS,
    RESULT_REFERENCES,
    Source,
    contained_name,
    contained_results,
    demographics,
    patient_id,
    several_record_numbers,
    site_patient_id,
)
from shared.clinical.fhir_values import Json, Reader

BUNDLE_TYPES = frozenset({"collection", "transaction", "batch", "searchset", "message"})
# bundle types whose entries are processed independently (FHIR R4 http: a batch's entries
# succeed or fail on their own; a collection or message is a set of independent resources)
MAX_BUNDLE_ENTRIES = 20_000
"""Entries one Bundle may hold (issue 14 section 2: every input bounded before it is parsed).

A 5 MiB body can hold over a million empty entries, and each costs the reader work: 200,000
of them (800 KB) held intake's worker for 36 s of CPU. The largest real bundle seen here, a
Synthea patient's whole history, has 954 entries; `trialwatch import` posts 500 per Bundle by
default. A Bundle with more is refused at ``Bundle.entry`` before any entry is read."""

INDEPENDENT_ENTRIES = frozenset({"batch", "collection", "message"})
SUPPORTED = frozenset({"Patient", "Medication", *BUILDERS})
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]")


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    IGNORED = "ignored"


@dataclass(frozen=True)
class EntryOutcome:
    """What became of one entry (or of the single resource posted).

    ``accepted``: read; ``warnings`` lists every element not read exactly (path + reason).
    ``refused``: nothing from it is used; ``problems`` says why, each with its path.
    ``ignored``: a resource type TrialWatch does not read (Encounter, Claim ...); its one
    warning says so, at the entry's path, so no entry leaves a receipt without a reason.
    """

    path: str
    resource_type: str | None
    outcome: Outcome
    problems: tuple[Problem, ...] = ()
    warnings: tuple[ReadingNote, ...] = ()
    # (fact id, path of the element that codes it) for each fact read from an accepted entry:
    # ``Bundle.entry[1].resource.code``, ``...medicationCodeableConcept`` (intake's receipt
    # names there a fact whose codes no criterion reads)
    code_paths: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FhirResult:
    updates: list[PatientUpdate]
    skipped: Mapping[str, int]
    entries: tuple[EntryOutcome, ...] = ()

    @property
    def patient_notes(self) -> tuple[ReadingNote, ...]:
        """The warnings of the accepted Patient entries (a Patient gives no fact: these are
        what of it was read with a warning, e.g. other facilities' record numbers not used
        at ``Bundle.entry[n].resource.identifier``)."""
        return tuple(note for entry in self.entries
                     if entry.outcome is Outcome.ACCEPTED and entry.resource_type == "Patient"
                     for note in entry.warnings)


@dataclass
class _Patient:
    source_patient_id: str | None
    aliases: tuple[str, ...] = ()
    merged_into: SourcePatient | None = None
    demographics: Demographics | None = None
    facts: list[ClinicalFact] = field(default_factory=list)


@dataclass(frozen=True)
class _Entry:
    path: str
    full_url: str | None
    resource: Json
    index: int | None = None

    @property
    def entry_path(self) -> str:
        return self.path.removesuffix(".resource")


def parse_fhir(
    payload: bytes | str | Mapping[str, Any],
    *,
    source_system: str,
    received_at: datetime | None = None,
    site_mrn_authority: Collection[str] = (),
) -> list[PatientUpdate]:
    """Normalise a FHIR resource or Bundle, all or nothing whatever the Bundle type.

    Raises ``InvalidInput`` naming every problem when any entry would be refused (the offline
    ``trialwatch evaluate`` reads a whole record or nothing). Intake uses ``normalise_fhir``.
    ``site_mrn_authority`` as for ``normalise_fhir``.
    """
    result = normalise_fhir(payload, source_system=source_system, received_at=received_at,
                            site_mrn_authority=site_mrn_authority)
    problems = [problem for entry in result.entries for problem in entry.problems]
    if problems:
        raise InvalidInput(problems)
    return result.updates


def normalise_fhir(
    payload: bytes | str | Mapping[str, Any],
    *,
    source_system: str,
    received_at: datetime | None = None,
    site_mrn_authority: Collection[str] = (),
) -> FhirResult:
    """As ``parse_fhir``, also saying what became of each entry and counting those skipped.

    ``site_mrn_authority``: the names (Identifier.system) of this site's own MRN assigning
    authority (``shared.clinical.record_numbers``; empty: not configured): a Patient's MR
    identifier under it is its number, the others are named in the entry's warnings.
    Raises ``InvalidInput`` when the whole input is refused (see the module docstring).
    """
    site = frozenset(site_mrn_authority)
    reader = Reader(source_system=source_system)
    document = _load(payload, reader)
    bounds.check_fhir(document)
    fhir_modifiers.check_bundle(reader, document)
    modifiers_possible = fhir_modifiers.may_hold(payload)
    entries = _entries(document, reader) if document is not None else []
    independent = (
        document is not None
        and document.get("resourceType") == "Bundle"
        and isinstance(document.get("type"), str)
        and document["type"] in INDEPENDENT_ENTRIES
    )
    skipped: Counter[str] = Counter()
    supported: list[_Entry] = []
    ignored: list[_Entry] = []
    for entry in entries:
        resource_type = entry.resource.get("resourceType")
        if not isinstance(resource_type, str):
            reader.problem(f"{entry.path}.resourceType", "missing or not a string")
        elif resource_type in SUPPORTED:
            if _validate(entry, reader):
                if modifiers_possible:
                    fhir_modifiers.check_resource(reader, entry.resource, entry.path)
                supported.append(entry)
        elif _is_fhir_type(resource_type):
            skipped[resource_type] += 1
            ignored.append(entry)
        else:
            reader.problem(
                f"{entry.path}.resourceType", f"not a FHIR R4 resource type: {resource_type!r}"
            )
    refused: dict[int, list[Problem]] = {}
    built = _group(supported, reader, source_system, received_at, frozenset(), site)
    if reader.problems and independent:
        built, refused = _without_refused(reader.problems, supported, source_system, received_at,
                                          site)
    elif reader.problems:
        raise InvalidInput(reader.problems)
    outcomes = _outcomes(entries, ignored, refused, built.facts_by_entry, built.entry_notes)
    if refused and not any(o.outcome is Outcome.ACCEPTED for o in outcomes):
        raise InvalidInput([problem for problems in refused.values() for problem in problems])
    return FhirResult(updates=built.updates, skipped=dict(skipped), entries=outcomes)


def _without_refused(
    problems: list[Problem],
    supported: list[_Entry],
    source_system: str,
    received_at: datetime | None,
    site: frozenset[str] = frozenset(),
) -> tuple[_Built, dict[int, list[Problem]]]:
    """Refuse the entries with problems (and those depending on them), read the rest.

    A problem outside any entry (the Bundle itself) refuses the whole input. Refusing a
    Patient or Medication entry can make other entries fail; this repeats until nothing new
    is refused (at most once per entry).
    """
    refused: dict[int, list[Problem]] = {}
    while True:
        for problem in problems:
            match = _ENTRY.match(problem.path)
            if match is None:
                raise InvalidInput(problems)
            refused.setdefault(int(match[1]), []).append(problem)
        kept = [entry for entry in supported if entry.index not in refused]
        gone = frozenset(
            alias
            for entry in supported
            if entry.index in refused and entry.resource["resourceType"] == "Patient"
            for alias in (*_aliases(entry), *patient_aliases(entry.resource))
        )
        reader = Reader(source_system=source_system)
        built = _group(kept, reader, source_system, received_at, gone, site)
        if not reader.problems:
            return built, refused
        problems = reader.problems


def _outcomes(
    entries: list[_Entry],
    ignored: list[_Entry],
    refused: dict[int, list[Problem]],
    facts_by_entry: Mapping[str, list[ClinicalFact]],
    entry_notes: Mapping[str, tuple[ReadingNote, ...]],
) -> tuple[EntryOutcome, ...]:
    ignored_paths = {entry.path for entry in ignored}
    outcomes = []
    for entry in entries:
        resource_type = entry.resource.get("resourceType")
        kind = resource_type if isinstance(resource_type, str) else None
        if entry.index is not None and entry.index in refused:
            outcomes.append(
                EntryOutcome(
                    entry.entry_path, kind, Outcome.REFUSED, problems=tuple(refused[entry.index])
                )
            )
        elif entry.path in ignored_paths:
            not_read = ReadingNote(
                path=entry.entry_path,
                reason=f"{kind or 'this'} resources are not read by TrialWatch: nothing in this"
                " entry is screened",
            )
            outcomes.append(EntryOutcome(entry.entry_path, kind, Outcome.IGNORED,
                                         warnings=(not_read,)))
        else:
            facts = facts_by_entry.get(entry.path, ())
            warnings = entry_notes.get(entry.path, ()) + tuple(
                note for fact in facts for note in fact_warnings(fact))
            code_path = _code_path(entry)
            outcomes.append(
                EntryOutcome(entry.entry_path, kind, Outcome.ACCEPTED, warnings=warnings,
                             code_paths=tuple((fact.fact_id, code_path) for fact in facts))
            )
    for index, problems in refused.items():
        if not any(entry.index == index for entry in entries):
            outcomes.append(
                EntryOutcome(f"Bundle.entry[{index}]", None, Outcome.REFUSED, tuple(problems))
            )
    return tuple(sorted(outcomes, key=_entry_order))


_MEDICATION_USES = frozenset({"MedicationStatement", "MedicationRequest",
                              "MedicationAdministration", "MedicationDispense"})


def _code_path(entry: _Entry) -> str:
    """The element that codes what an entry's facts are: ``code`` (Observation, Condition,
    Procedure, DiagnosticReport), the medication[x] of a medication use (FHIR R4)."""
    if entry.resource.get("resourceType") in _MEDICATION_USES:
        key = ("medicationCodeableConcept" if "medicationCodeableConcept" in entry.resource
               else "medicationReference")
        return f"{entry.path}.{key}"
    return f"{entry.path}.code"


def _entry_order(outcome: EntryOutcome) -> int:
    match = _ENTRY.match(outcome.path)
    return int(match[1]) if match else -1


def fact_warnings(fact: ClinicalFact) -> tuple[ReadingNote, ...]:
    """Every element of a fact (and its components) not read exactly: unread first, then notes,
    a dosage and reference ranges not read, each once (components share their parent's time
    notes)."""
    own = ((fact.unread,) if fact.unread is not None else ()) + fact.notes
    if fact.dose is not None and fact.dose.unread is not None:
        own += (fact.dose.unread,)  # a dosage that could not be read (FHIR R4 Dosage)
    # a reference range sent but not read (OBX-7, referenceRange[i].text)
    ranges = fact.reference_ranges or (
        (fact.reference_range,) if fact.reference_range is not None else ()
    )
    own += tuple(r.unread for r in ranges if r.unread is not None)
    parts = tuple(note for part in fact.components for note in fact_warnings(part))
    return tuple(dict.fromkeys((*own, *parts)))


def _load(payload: bytes | str | Mapping[str, Any], reader: Reader) -> Json | None:
    if isinstance(payload, Mapping):
        return dict(payload)
    try:
        # FHIR R4 decimal: the precision sent is significant (0.50 is not 0.5), so numbers are
        # read as Decimal and kept as sent in ``ClinicalFact.received``
        document = json.loads(payload, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        reader.problem("$", f"malformed JSON: {error}")
        return None
    if not isinstance(document, dict):
        reader.problem("$", "a FHIR resource must be a JSON object")
        return None
    return document


def _entries(document: Json, reader: Reader) -> list[_Entry]:
    resource_type = document.get("resourceType")
    if resource_type != "Bundle":
        if isinstance(resource_type, str) and (
            resource_type in BUILDERS or resource_type == "Patient"
        ):
            return [_Entry(path=str(resource_type), full_url=None, resource=document)]
        reader.problem(
            "resourceType", f"expected a Bundle or a patient-level resource, got {resource_type!r}"
        )
        return []
    if not isinstance(document.get("type"), str) or document["type"] not in BUNDLE_TYPES:
        received = document.get("type")
        reader.problem("Bundle.type", "no Bundle.type sent (required, FHIR R4 Bundle.type 1..1)"
                       if received is None else f"unsupported bundle type {received!r}")
        return []
    raw_entries = document.get("entry") or []
    if not isinstance(raw_entries, list):
        reader.problem("Bundle.entry", "must be a list of entries")
        return []
    if len(raw_entries) > MAX_BUNDLE_ENTRIES:
        reader.problem("Bundle.entry", f"{len(raw_entries):,} entries: at most "
                       f"{MAX_BUNDLE_ENTRIES:,} per Bundle; send the rest in further Bundles")
        return []
    entries = []
    for index, entry in enumerate(raw_entries):
        path = f"Bundle.entry[{index}]"
        if isinstance(entry, dict) and not isinstance(entry.get("fullUrl", ""), str):
            reader.problem(f"{path}.fullUrl", "must be a string")
            continue
        fhir_modifiers.check_entry(reader, entry, path)
        resource = entry.get("resource") if isinstance(entry, dict) else None
        request = entry.get("request") if isinstance(entry, dict) else None
        method = request.get("method") if isinstance(request, dict) else None
        if method in _NOT_CARRIED_OUT:
            # FHIR R4 Bundle.entry.request.method (http-verb): the entry is carried out as
            # that interaction. A DELETE read as nothing would leave the deleted result in
            # use, one read as an update (a resource sent beside it) would keep it; a PATCH
            # (R4 http 3.1.0.5.1: the resource is a Binary JSON/XML patch or a Parameters
            # FHIRPath patch) changes elements of a resource that are not sent, so what it
            # changes is unknown (probe round 4: a PATCH on a platelet count was skipped as a
            # Binary and the count it changed still decided).
            reader.problem(f"{path}.request.method", _NOT_CARRIED_OUT[method])
            continue
        if not isinstance(resource, dict):
            reader.problem(f"{path}.resource", "entry without a resource")
            continue
        entries.append(
            _Entry(
                path=f"{path}.resource",
                full_url=entry.get("fullUrl"),
                resource=resource,
                index=index,
            )
        )
    return entries


_RECEIVES_ONLY = ("TrialWatch only receives data (to withdraw a result, send it with status"
                  " entered-in-error)")
_NOT_CARRIED_OUT = {
    **{verb: f"{verb} is not carried out: {_RECEIVES_ONLY}" for verb in ("DELETE", "GET", "HEAD")},
    "PATCH": ("PATCH is not carried out: a patch (FHIR R4 http, patch) changes elements that"
              " are not sent, so what the resource now says is unknown; send the whole"
              " resource with PUT or POST"),
}


def _validate(entry: _Entry, reader: Reader) -> bool:
    model = get_fhir_model_class(entry.resource["resourceType"])
    try:
        model.model_validate(entry.resource)
    except ValidationError as error:
        for detail in error.errors():
            reader.problem(_join(entry.path, detail["loc"]),
                           fhir_validation_sentence(detail, entry.resource["resourceType"]))
        return False
    return True


@functools.lru_cache(maxsize=512)
def _is_fhir_type(resource_type: str) -> bool:
    """Cached: looking a type up costs ~1 ms (a Bulk Data export's Claim file asks per line)."""
    try:
        get_fhir_model_class(resource_type)
    except (KeyError, ValueError, ImportError, AttributeError):
        return False
    return True


def _join(path: str, loc: tuple[int | str, ...]) -> str:
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


# docs/intake.md: a Patient is keyed by its identifier typed MR (FHIR R4 Patient.identifier;
# Identifier.type, code MR of HL7 v2 table 0203 "Medical record number"), else Patient.id.
NO_PATIENT_ID = (
    "no identifier typed MR (Identifier.type, HL7 v2 table 0203) and no Patient.id: TrialWatch"
    " keys a Patient by its medical record number, else its id (docs/intake.md), so its facts"
    " cannot be attributed")


@dataclass(frozen=True)
class _Built:
    updates: list[PatientUpdate]
    facts_by_entry: Mapping[str, list[ClinicalFact]]
    # an accepted entry read without a fact for the patient, and why (Observation.focus)
    entry_notes: Mapping[str, tuple[ReadingNote, ...]] = field(default_factory=dict)


def _group(
    entries: list[_Entry],
    reader: Reader,
    source_system: str,
    received_at: datetime | None,
    refused_patients: frozenset[str],
    site: frozenset[str] = frozenset(),
) -> _Built:
    by_alias: dict[str, str] = {}
    patients: dict[str, _Patient] = {}
    medications: dict[str, Json] = {}
    entry_notes: dict[str, tuple[ReadingNote, ...]] = {}
    for entry in entries:
        resource = entry.resource
        aliases = _aliases(entry)
        if resource["resourceType"] == "Patient":
            key = aliases[0]
            names = patient_aliases(resource)
            number_refused = False
            if site:
                chosen = site_patient_id(resource, site)
                source_patient_id = chosen.value
                if chosen.problem is not None:
                    number_refused = True
                    reader.problem(f"{entry.path}.identifier", chosen.problem)
                if chosen.unused is not None:
                    entry_notes[entry.path] = (
                        ReadingNote(path=f"{entry.path}.identifier", reason=chosen.unused),)
                # another facility's MR is not her record number here: kept as an
                # ``identifier:`` name (references written with it still find her), never as
                # an ``mr:`` one (what re-identification names, minimum necessary)
                names = tuple(name for name in names if not name.startswith(
                    RECORD_NUMBER_ALIAS) or name[len(RECORD_NUMBER_ALIAS):].split("|", 1)[0]
                    in site)
            else:
                source_patient_id = patient_id(resource)
                if several := several_record_numbers(resource):
                    reader.problem(f"{entry.path}.identifier", several)
            if not source_patient_id and not number_refused:
                reader.problem(f"{entry.path}.identifier", NO_PATIENT_ID)
            patients.setdefault(key, _Patient(source_patient_id, names))
            by_alias.update(dict.fromkeys((*aliases, *names), key))
        elif resource["resourceType"] == "Medication":
            medications.update(dict.fromkeys(aliases, resource))

    def find_medication(reference: str, holder: Json) -> Json | None:
        if reference.startswith("#"):
            contained = holder.get("contained") or ()
            return next((item for item in contained if item.get("id") == reference[1:]), None)
        return medications.get(reference)

    source = Source(system=source_system, received_at=received_at, medication=find_medication)
    facts_by_entry: dict[str, list[ClinicalFact]] = {}
    for entry in entries:
        resource = entry.resource
        resource_type = resource["resourceType"]
        if resource_type == "Patient":
            patient = patients[by_alias[_aliases(entry)[0]]]
            patient.demographics = demographics(reader, source, resource, entry.path)
            patient.merged_into = replaced_by(
                reader, resource, entry.path, lambda other: _named(other, by_alias, patients)
            )
        elif resource_type in BUILDERS:
            owner = _patient_of(entry, by_alias, patients, reader, refused_patients)
            facts = BUILDERS[resource_type](reader, source, resource, entry.path)
            elsewhere = _focus_elsewhere(entry, owner, by_alias, patients)
            if elsewhere is not None:
                facts, entry_notes[entry.path] = [], (elsewhere,)
            else:
                facts, entry_notes[entry.path] = _contained_notes(
                    entry, facts, owner, by_alias, patients)
            facts_by_entry[entry.path] = facts
            if owner is not None:
                owner.facts.extend(facts)
    for entry in entries:
        if entry.resource["resourceType"] == "Patient":
            _replaces(entry, by_alias, patients, reader)
    updates = [
        PatientUpdate(
            source_system=source_system,
            source_patient_id=patient.source_patient_id,
            aliases=patient.aliases,
            merged_into=patient.merged_into,
            demographics=patient.demographics,
            facts=tuple(patient.facts),
        )
        for patient in patients.values()
    ]
    return _Built(updates=updates, facts_by_entry=facts_by_entry, entry_notes=entry_notes)


def _contained_notes(
    entry: _Entry,
    facts: list[ClinicalFact],
    owner: _Patient | None,
    by_alias: dict[str, str],
    patients: dict[str, _Patient],
) -> tuple[list[ClinicalFact], tuple[ReadingNote, ...]]:
    """An entry's facts without its contained results about another focus, and a note for
    each of those and for each contained resource of a type read that is not read.

    Contained Observations a DiagnosticReport.result or Observation.hasMember references are
    read (``fhir_resources.read_contained``); a contained Observation's ``focus`` is judged as
    an entry's (``_focus_elsewhere``). A contained resource of a type TrialWatch reads that is
    not referenced as a result (FHIR R4 dom-3 makes it referenced from elsewhere in the
    resource: a Condition.evidence detail, an Observation.derivedFrom) is not a result of the
    patient's record: it is named in the receipt, never dropped silently.
    """
    resource = entry.resource
    read = contained_results(resource, entry.path).read
    notes: list[ReadingNote] = []
    for index, item in enumerate(resource.get("contained") or ()):
        if not isinstance(item, dict):
            continue
        where = f"{entry.path}.contained[{index}]"
        if index in read:
            inner = _Entry(path=where, full_url=None, resource=item)
            elsewhere = _focus_elsewhere(inner, owner, by_alias, patients)
            if elsewhere is not None:
                name = contained_name(resource, item)
                facts = [fact for fact in facts if fact.provenance.resource != name]
                notes.append(elsewhere)
        elif item.get("resourceType") in BUILDERS:
            referenced = RESULT_REFERENCES.get(str(resource.get("resourceType")))
            notes.append(ReadingNote(path=where, reason=(
                f"a contained {item['resourceType']} is read only as a result"
                f" ({resource['resourceType']}.{referenced} '#id')" if referenced else
                f"a contained {item['resourceType']} is not read in a"
                f" {resource['resourceType']}") + (
                ": it is not a result of the patient's record, and nothing in it is screened")))
    return facts, tuple(notes)


def _focus_elsewhere(
    entry: _Entry,
    owner: _Patient | None,
    by_alias: dict[str, str],
    patients: dict[str, _Patient],
) -> ReadingNote | None:
    """Why an Observation is not a result of the patient of record, or None when it is.

    FHIR R4 Observation.focus (0..*, Reference(Any)): "The actual focus of an observation when
    it is not the patient of record representing something or someone associated with the
    patient such as a spouse, parent, fetus, or donor. For example, fetus observations in a
    mother's record." A donor's platelet count or a fetus's heart rate in her record is not her
    value: read as hers, a donor's 180 x 10^9/L decided her bone marrow criterion. Every focus
    must name the patient of record (the subject: the same reference, or a name the bundle
    links to the same patient) for the result to be hers; otherwise no fact is made for her
    and the entry is accepted with this note at ``<entry>.focus`` (it is not refused: a
    mother's record with a fetal result is valid FHIR). Among the resources read, only
    Observation has ``focus`` in R4 (DiagnosticReport.focus and Procedure.focus are R5; the
    validator refuses them).
    """
    foci = entry.resource.get("focus")
    if entry.resource.get("resourceType") != "Observation" or not foci or owner is None:
        return None
    for focus in foci:
        named = _patient_named(focus, by_alias, patients)
        if named is None or named is not owner:
            shown = focus.get("reference") or focus.get("display") or "another focus"
            return ReadingNote(path=f"{entry.path}.focus", reason=(
                f"the result is about {shown!r}, not the patient of record (FHIR R4"
                " Observation.focus: the actual focus when it is not the patient of record,"
                " such as a fetus or a donor): not read as her result"))
    return None


def _patient_named(
    reference: Json, by_alias: dict[str, str], patients: dict[str, _Patient]
) -> _Patient | None:
    """The patient of this bundle a Reference names (by reference or identifier), if any."""
    for name in _reference_names(reference):
        key = by_alias.get(name, name)
        if key in patients:
            return patients[key]
    return None


def _reference_names(reference: Json | dict[str, object]) -> list[str]:
    """The names a FHIR R4 Reference may be found under in a bundle's aliases: its
    ``reference`` as written, ``Patient/<id>`` for its id, and its logical ``identifier``."""
    names: list[str] = []
    written = reference.get("reference")
    if isinstance(written, str):
        names.append(written)
        local_id = resource_id_of(written)
        if local_id is not None:
            names.append(f"Patient/{local_id}")
    logical = identifier_alias(reference.get("identifier"))
    if logical is not None:
        names.append(logical)
    return names


def _aliases(entry: _Entry) -> list[str]:
    resource = entry.resource
    local = f"{resource['resourceType']}/{resource.get('id')}"
    aliases = [entry.full_url] if entry.full_url else []
    if resource.get("id"):
        aliases.append(local)
    return aliases or [f"{entry.path}"]


def _patient_of(
    entry: _Entry,
    by_alias: dict[str, str],
    patients: dict[str, _Patient],
    reader: Reader,
    refused_patients: frozenset[str] = frozenset(),
) -> _Patient | None:
    resource = entry.resource
    field_name = "patient" if "patient" in resource and "subject" not in resource else "subject"
    subject = resource.get(field_name) or {}
    reference = subject.get("reference")
    path = f"{entry.path}.{field_name}.reference"
    if not reference:
        # a logical reference (FHIR R4 Reference.identifier) names the patient by identifier
        logical = identifier_alias(subject.get("identifier"))
        if logical is not None and logical in refused_patients:
            reader.problem(path, "the Patient entry it refers to was refused")
            return None
        if logical is not None:
            if logical in by_alias:
                return patients[by_alias[logical]]
            value = subject["identifier"]["value"]
            return patients.setdefault(logical, _Patient(value, aliases=(logical,)))
        reader.problem(path, "no patient reference: the fact cannot be attributed")
        return None
    local_id = resource_id_of(reference)
    if reference in refused_patients or f"Patient/{local_id}" in refused_patients:
        reader.problem(path, "the Patient entry it refers to was refused")
        return None
    if reference in by_alias:
        return patients[by_alias[reference]]
    if reference.startswith("urn:uuid:"):
        # FHIR R4 Bundle, "Resolving references in Bundles": a URN reference is resolved only
        # by the Bundle entry whose fullUrl is that URN; it means nothing outside the Bundle.
        # Before, one matching no entry (a typo, a mismatched fullUrl) became a new patient
        # keyed by the uuid, holding a result that may be hers
        reader.problem(path, f"{reference!r} matches no entry's fullUrl in this Bundle: a"
                       " urn:uuid reference can only be resolved within the Bundle (FHIR R4"
                       " Bundle, Resolving references in Bundles), so whose result it is is"
                       " unknown")
        return None
    aliases: tuple[str, ...]
    if local_id is not None:
        # relative or absolute: the same resource id names the same patient (FHIR R4 2.3.0)
        patient_key = f"Patient/{local_id}"
        aliases = (patient_key,)
    else:
        reader.problem(path, f"not a Patient reference: {reference!r}")
        return None
    if patient_key in by_alias:
        by_alias[reference] = by_alias[patient_key]
        return patients[by_alias[patient_key]]
    by_alias[reference] = patient_key
    return patients.setdefault(patient_key, _Patient(source_patient_id=local_id, aliases=aliases))


def _replaces(
    entry: _Entry, by_alias: dict[str, str], patients: dict[str, _Patient], reader: Reader
) -> None:
    """A survivor's ``replaces`` links: each named record is merged into this one."""
    survivor = patients[by_alias[_aliases(entry)[0]]]
    if survivor.source_patient_id is None:
        return
    into = SourcePatient(source_patient_id=survivor.source_patient_id, aliases=survivor.aliases)
    named = replaced_records(entry.resource, lambda other: _named(other, by_alias, patients))
    for index, merged in named:
        path = f"{entry.path}.link[{index}].other"
        if merged is None:
            reader.problem(path, "replaces must name a Patient (reference or identifier)")
            continue
        if merged.source_patient_id == into.source_patient_id:
            reader.problem(path, "a Patient cannot replace itself")
            continue
        key = next((k for k, p in patients.items()
                    if p.source_patient_id == merged.source_patient_id), None)
        record = patients[key] if key is not None else patients.setdefault(
            f"replaces:{merged.source_patient_id}",
            _Patient(merged.source_patient_id, merged.aliases))
        if record.merged_into is not None and record.merged_into != into:
            reader.problem(path, "the replaced record names another survivor (replaced-by)")
            continue
        record.merged_into = into


def _named(
    other: dict[str, object], by_alias: dict[str, str], patients: dict[str, _Patient]
) -> SourcePatient | None:
    """The patient a Reference names (a link's ``other``): in the bundle, else by its names."""
    reference = other.get("reference")
    logical = identifier_alias(other.get("identifier"))
    for name in _reference_names(other):
        if name in by_alias:
            patient = patients[by_alias[name]]
            if patient.source_patient_id is None:
                return None
            return SourcePatient(
                source_patient_id=patient.source_patient_id, aliases=patient.aliases
            )
    if isinstance(reference, str) and (local_id := resource_id_of(reference)) is not None:
        return SourcePatient(source_patient_id=local_id, aliases=(f"Patient/{local_id}",))
    if logical is not None:
        identifier = other["identifier"]
        assert isinstance(identifier, dict)
        return SourcePatient(source_patient_id=str(identifier["value"]), aliases=(logical,))
    return None
