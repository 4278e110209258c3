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
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.clinical import bounds
from shared.clinical.ucum import MAX_UNIT_LENGTH
from shared.time import UtcDatetime

# Length bounds of every text a fact carries (issue 14 section 2): an event built by any client
# is refused when a text is longer, naming the field. Each is at least what the normaliser can
# produce from an input within ``shared.clinical.bounds`` (which refuses longer input at its
# path, before parsing, with 422 at intake), and far above the real data: the largest values of
# the 25 Synthea bundles, the HL7 v2 samples (/work/shared/data) and the golden decisions are
# given as "real N" (measured 2026-12-02).
CODE_MAX_LENGTH = bounds.V2_CE_LENGTH
"""A code: HL7 v2.5.1 CE/CWE field bound (1024) >= FHIR code (``bounds.MAX_CODE`` 256); real 15."""
SYSTEM_MAX_LENGTH = bounds.MAX_URI
"""A code system: FHIR R4 uri bound (4096) >= an HL7 v2 coding system (<= 1024); real 43."""
TEXT_MAX_LENGTH = bounds.MAX_TEXT
"""A sent text (display, range text, value as sent): ``bounds.MAX_TEXT`` (65,536), the FHIR
string bound, = HL7 v2 OBX-5 / NTE-3; real 113 (an RxNorm display)."""
UNIT_MAX_LENGTH = MAX_UNIT_LENGTH
"""A canonical unit: longer units are not parsed (``ucum.MAX_UNIT_LENGTH`` 64); real 16."""
SENT_UNIT_MAX_LENGTH = bounds.V2_FIELD_LENGTHS[("OBX", 6)]
"""A unit as sent: HL7 v2 OBX-6 bound (512) >= FHIR Quantity.unit (256); real 16."""
PATH_MAX_LENGTH = 16_384
"""An input path: at most ``bounds.MAX_DEPTH`` (64) FHIR levels of an element name and an index
(64 x ~80 = 5,120), or an HL7 v2 ``OBX[n].f.c``; real 75."""
REASON_MAX_LENGTH = 32_768
"""A reading note's sentence: it quotes at most a few codes, units or URIs (each <= 4096) and
never free text (``reading.quoted``, ``excerpts``); real 233."""
RESOURCE_MAX_LENGTH = 16_384
"""``Type/id#contained`` (ids <= ``bounds.MAX_IDENTIFIER`` 256) or ``HL7v2/<MSH-10>/OBX/<n>``
(fields <= ``bounds.MAX_V2_FIELD`` 4096); real 54."""
VERSION_MAX_LENGTH = bounds.MAX_FHIR_ID
"""FHIR R4 meta.versionId is an ``id`` (datatypes: 1 to 64 characters); HL7 v2 gives MSH-7 as
20 digits; real 20."""
SOURCE_SYSTEM_MAX_LENGTH = 200
"""Intake's source_system bound (= ``shared.contracts.envelope.SOURCE_MAX_LENGTH``); real 7."""
TOKEN_MAX_LENGTH = 64
"""A status, a comparator, a format, a fact id: closed vocabularies or a 32-hex digest; real 11."""
FLAGS_MAX_LENGTH = bounds.MAX_V2_FIELD
"""Abnormal flags: OBX-8 repeats (HL7 v2.5.1 table 0078; <= 4096) or a FHIR code; real 1."""
DOSE_TEXT_MAX_LENGTH = 4_096
"""A dose as sent in short ("60 mg, 1 per 1.0 d"): numbers, a unit (<= 512), a period; real 0
(no Synthea dose is read)."""

Code = Annotated[str, Field(max_length=CODE_MAX_LENGTH)]
System = Annotated[str, Field(max_length=SYSTEM_MAX_LENGTH)]
Text = Annotated[str, Field(max_length=TEXT_MAX_LENGTH)]
Token = Annotated[str, Field(max_length=TOKEN_MAX_LENGTH)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Coding(_Frozen):
    """A code in a code system; matched by (system, code), never by display text."""

    system: System
    code: Code
    display: Text | None = None


class Quantity(_Frozen):
    """A value in a canonical UCUM unit (the normaliser converts; the engine never does)."""

    value: float
    unit: str = Field(max_length=UNIT_MAX_LENGTH)
    comparator: Token | None = Field(
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
    text: Text | None = None
    unread: ReadingNote | None = None


class ReadingNote(_Frozen):
    """Why one element of a result was not read exactly as sent, at its source path.

    ``path`` is the element's path in the input (``Bundle.entry[3].resource.valueString``,
    ``OBX[2].5``); ``reason`` is a sentence a person can act on. Carries no input excerpt
    longer than the value itself; in what intake publishes only a token of a closed
    vocabulary stays quoted (``shared.clinical.excerpts``).
    """

    path: str = Field(max_length=PATH_MAX_LENGTH)
    reason: str = Field(max_length=REASON_MAX_LENGTH)


class ReceivedValue(_Frozen):
    """The value and unit exactly as the sender wrote them (for evidence beside the canonical)."""

    value: Text | None = None
    unit: str | None = Field(default=None, max_length=SENT_UNIT_MAX_LENGTH)


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
    received: str | None = Field(default=None, max_length=DOSE_TEXT_MAX_LENGTH)


class FactKind(StrEnum):
    OBSERVATION = "observation"
    CONDITION = "condition"
    MEDICATION = "medication"
    PROCEDURE = "procedure"
    ALLERGY = "allergy"


ALLERGY_CATEGORY_SYSTEM = "http://hl7.org/fhir/allergy-intolerance-category"
"""The code system of FHIR R4 AllergyIntolerance.category (required binding
allergy-intolerance-category): food | medication | environment | biologic."""


class AllergyReading(_Frozen):
    """The elements of a FHIR R4 AllergyIntolerance a criterion reads, each exactly as sent.

    FHIR R4 AllergyIntolerance (https://hl7.org/fhir/R4/allergyintolerance-definitions.html),
    every one a code of its required binding (the normaliser refuses any other at its path):
    ``verification`` verificationStatus (allergyintolerance-verification: unconfirmed |
    confirmed | refuted | entered-in-error; None when not sent); ``type`` (allergy |
    intolerance); ``categories`` category 0..* (food | medication | environment | biologic);
    ``criticality`` ("potential clinical harm, or seriousness, of a reaction": low | high |
    unable-to-assess; None when not sent); ``reaction_severities`` each reaction.severity
    sent, once (mild | moderate | severe); ``manifestations`` every coding of every
    reaction.manifestation.
    The fact's ``codes`` are the substance (``AllergyIntolerance.code``), its ``status`` the
    clinicalStatus (active | inactive | resolved) or, when it withdraws the record, the
    verificationStatus ``entered-in-error``.
    """

    verification: Token | None = None
    type: Token | None = None
    # each a code of a required binding, kept once: at most its 4 and 3 codes
    categories: tuple[Token, ...] = Field(default=(), max_length=4)
    criticality: Token | None = None
    reaction_severities: tuple[Token, ...] = Field(default=(), max_length=3)
    manifestations: tuple[Coding, ...] = ()

    def category_codings(self) -> tuple[Coding, ...]:
        """Each category as a coding of ``ALLERGY_CATEGORY_SYSTEM`` (what value sets read)."""
        return tuple(Coding(system=ALLERGY_CATEGORY_SYSTEM, code=c) for c in self.categories)


class Provenance(_Frozen):
    """Where a fact came from: enough to find the source record, nothing identifying the patient.

    ``resource`` is ``"<ResourceType>/<id>"`` for FHIR input and
    ``"HL7v2/<message control id>/OBX/<set id>"`` for HL7 v2 input.
    """

    source_system: str = Field(max_length=SOURCE_SYSTEM_MAX_LENGTH)
    format: Token = Field(description="'fhir-r4' or 'hl7v2'")
    resource: str = Field(max_length=RESOURCE_MAX_LENGTH)
    version: str | None = Field(default=None, max_length=VERSION_MAX_LENGTH)
    received_at: UtcDatetime | None = None


class ClinicalFact(_Frozen):
    """One observation, condition, medication use or procedure, normalised.

    ``fact_id`` is deterministic from the provenance, so a re-sent or corrected resource
    replaces the earlier version of the same fact instead of adding a second one.
    ``status`` keeps the source status (``final``, ``amended``, ``entered-in-error``,
    ``active``, ``resolved``, ``completed``, ``stopped`` ...); consumers ignore
    ``entered-in-error`` facts.
    """

    fact_id: Token
    kind: FactKind
    codes: tuple[Coding, ...]
    status: Token | None = None
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
    interpretation: str | None = Field(default=None, max_length=FLAGS_MAX_LENGTH,
                                       description="abnormal flag, e.g. H, L, N, A")
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
    allergy: AllergyReading | None = Field(
        default=None,
        description="allergies only: the FHIR R4 AllergyIntolerance elements read",
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
