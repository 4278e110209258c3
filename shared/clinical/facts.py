"""Canonical clinical facts: the one shape every input becomes and every consumer reads.

FHIR R4 resources and HL7 v2 OBX segments are normalised into these by ``shared.clinical``;
intake publishes them, the evaluator keeps them as patient state, the engine reads them,
the audit trail snapshots them. Values are in canonical units (see ``shared.clinical.units``),
times are aware UTC, and every fact names where it came from.

No names, addresses, identifiers or free-text notes: only what eligibility needs.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.time import UtcDatetime


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Coding(_Frozen):
    """A code in a code system; matched by (system, code), never by display text."""

    system: str
    code: str
    display: str | None = None


class Quantity(_Frozen):
    """A value in a canonical UCUM unit (the normaliser converts; the engine never does)."""

    value: float
    unit: str
    comparator: str | None = Field(
        default=None, description="'<', '<=', '>=' or '>' when the source gave a bound, not a value"
    )
    upper: float | None = Field(
        default=None,
        description=(
            "a value known only as a range (FHIR R4 valueRange, HL7 v2 SN '5^-^10'): the"
            " inclusive upper bound, with ``value`` the inclusive lower bound and comparator"
            " '>='; a reader that ignores it still reads a true bound (>= value)"
        ),
    )


class ReferenceRange(_Frozen):
    """One reference range, in the result's canonical unit.

    FHIR R4 ``Observation.referenceRange`` may repeat: the entries are alternatives for
    different populations, told apart by ``appliesTo`` (e.g. SNOMED 248152002 female,
    248153007 male) and ``age`` (kept here in years, bounds inclusive). ``text`` keeps a range
    sent as text ("7-35 U/L"), read into ``low``/``high`` when it parses.

    ``unread`` is set when a range was sent (HL7 v2.5.1 OBX-7, FHIR R4 referenceRange.text) but
    could not be read: it names where and why, and has no bounds. A criterion relative to the
    limit of normal is then unknown: the lab's own range decides, never a site default.
    """

    low: Quantity | None = None
    high: Quantity | None = None
    applies_to: tuple[Coding, ...] = ()
    type: Coding | None = Field(
        default=None, description="referenceRange.type (normal, therapeutic, recommended ...)"
    )
    age_low_years: float | None = None
    age_high_years: float | None = None
    text: str | None = None
    unread: ReadingNote | None = None


class ReadingNote(_Frozen):
    """Why one element of a result was not read exactly as sent, at its source path.

    ``path`` is the element's path in the input (``Bundle.entry[3].resource.valueString``,
    ``OBX[2].5``); ``reason`` is a sentence a person can act on. Carries no input excerpt
    longer than the value itself; in what intake publishes only a token of a closed
    vocabulary stays quoted (``shared.clinical.excerpts``).
    """

    path: str
    reason: str


class ReceivedValue(_Frozen):
    """The value and unit exactly as the sender wrote them (for evidence beside the canonical)."""

    value: str | None = None
    unit: str | None = None


class TimeBounds(_Frozen):
    """A fact time known only to the day (or hour, month, year): the instants it may stand for.

    FHIR R4 date / dateTime without a time, HL7 v2 DTM coarser than a minute (v2.5.1 2A.3.22):
    ``effective_start``/``effective_end`` keep the start of the period as before; these bounds
    say where the true instant may lie. The engine evaluates a criterion at both ends and calls
    it ``unknown`` when the answer depends on the time of day (``shared.eligibility.engine``).
    """

    start_earliest: UtcDatetime | None = None
    start_latest: UtcDatetime | None = None
    end_earliest: UtcDatetime | None = None
    end_latest: UtcDatetime | None = None
    note: ReadingNote


class DailyDose(_Frozen):
    """A medication's dose per day, as the order or statement states it, or why it was not read.

    ``quantity`` is in ``mg/d`` (a mass per day) or ``mg/kg/d`` (a mass per kg of body weight
    per day), computed from FHIR R4 Dosage (doseQuantity x timing.repeat frequency / period,
    see ``shared.clinical.dosage``); ``unread`` names the element that could not be read (free
    text sig, a dose range, as needed, a dose in tablets ...). ``received`` is the dose and
    timing as sent, in short ("60 mg, 1 per 1.0 d").
    """

    quantity: Quantity | None = None
    unread: ReadingNote | None = None
    received: str | None = None


class FactKind(StrEnum):
    OBSERVATION = "observation"
    CONDITION = "condition"
    MEDICATION = "medication"
    PROCEDURE = "procedure"


class Provenance(_Frozen):
    """Where a fact came from: enough to find the source record, nothing identifying the patient.

    ``resource`` is ``"<ResourceType>/<id>"`` for FHIR input and
    ``"HL7v2/<message control id>/OBX/<set id>"`` for HL7 v2 input.
    """

    source_system: str
    format: str = Field(description="'fhir-r4' or 'hl7v2'")
    resource: str
    version: str | None = None
    received_at: UtcDatetime | None = None


class ClinicalFact(_Frozen):
    """One observation, condition, medication use or procedure, normalised.

    ``fact_id`` is deterministic from the provenance, so a re-sent or corrected resource
    replaces the earlier version of the same fact instead of adding a second one.
    ``status`` keeps the source status (``final``, ``amended``, ``entered-in-error``,
    ``active``, ``resolved``, ``completed``, ``stopped`` ...); consumers ignore
    ``entered-in-error`` facts.
    """

    fact_id: str
    kind: FactKind
    codes: tuple[Coding, ...]
    status: str | None = None
    effective_start: UtcDatetime | None = None
    effective_end: UtcDatetime | None = None
    value_quantity: Quantity | None = None
    value_code: Coding | None = None
    value_boolean: bool | None = None
    reference_range: ReferenceRange | None = None
    reference_ranges: tuple[ReferenceRange, ...] = Field(
        default=(),
        description=(
            "every referenceRange entry sent (alternatives by appliesTo/age), when there are"
            " several or one is restricted; reference_range stays the first for old readers"
        ),
    )
    interpretation: str | None = Field(default=None, description="abnormal flag, e.g. H, L, N, A")
    components: tuple[ClinicalFact, ...] = ()
    provenance: Provenance
    unread: ReadingNote | None = Field(
        default=None,
        description=(
            "set when the result exists (code, time, provenance) but its value could not be"
            " read; every criterion that reads this concept is unknown while it is the latest"
        ),
    )
    notes: tuple[ReadingNote, ...] = Field(
        default=(), description="elements read with a warning (alias applied, approximate time)"
    )
    received: ReceivedValue | None = None
    time_bounds: TimeBounds | None = Field(
        default=None,
        description=(
            "set when effective_start/effective_end were sent without a time of day (a FHIR"
            " date, an HL7 v2 DTM of day or hour precision): the instants each may stand for"
        ),
    )
    dose: DailyDose | None = Field(
        default=None,
        description=(
            "medications only: the daily dose read from structured dosage (FHIR R4 Dosage), or"
            " why it was not read; None when no dosage was sent"
        ),
    )


class Sex(StrEnum):
    """Administrative sex as FHIR ``Patient.gender`` gives it (used by Cockcroft-Gault and ULN)."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Demographics(_Frozen):
    """The demographic facts eligibility needs. Birth date is kept for exact age boundaries."""

    birth_date: date | None = None
    sex: Sex | None = None
    deceased: bool | None = None
    deceased_on: date | None = None
    """The day of death as the sender wrote it (FHIR R4 ``Patient.deceasedDateTime``, HL7 v2.5.1
    PID-29), in the sender's own calendar; None when not sent or not given to the day."""
    provenance: Provenance | None = None


class SourcePatient(_Frozen):
    """A patient as one source system names it: its identifier and its other names there.

    ``aliases`` are namespaced so they cannot collide with a bare identifier:
    ``Patient/<id>`` (a FHIR resource id, however referenced: relative, absolute URL) and
    ``identifier:<system>|<value>`` (a FHIR Identifier, as in a logical reference).
    """

    source_patient_id: str
    aliases: tuple[str, ...] = ()


class PatientUpdate(_Frozen):
    """What one upstream message says about one patient, in canonical form.

    ``source_patient_id`` is the identifier as the source system knows it (MRN or FHIR
    Patient id); ``aliases`` its other names at the same source (see ``SourcePatient``).
    ``merged_into`` is set when the source says this record was merged away into another
    (FHIR ``Patient.link`` replaced-by, HL7 v2 ADT^A40 MRG): its data follows that record.
    Intake replaces every identifier with surrogate keys before anything leaves intake.
    """

    source_system: str
    source_patient_id: str | None = None
    aliases: tuple[str, ...] = ()
    merged_into: SourcePatient | None = None
    demographics: Demographics | None = None
    facts: tuple[ClinicalFact, ...] = ()


class PatientFacts(_Frozen):
    """Everything known about one patient: the evaluator's state and the engine's input."""

    demographics: Demographics = Demographics()
    facts: tuple[ClinicalFact, ...] = ()
