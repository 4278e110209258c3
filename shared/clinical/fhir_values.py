"""Reading FHIR datatypes (CodeableConcept, Quantity, dateTime, Period) into canonical parts.

Problems are appended to a shared list with their path instead of raised, so one refusal
names every problem in the input. A value that is not a problem with the input but that
TrialWatch cannot read (free text, an unknown unit for an uncatalogued analyte, codings that
disagree) is returned as an unread ``ReadingNote`` instead: the fact is kept, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.clinical.codes import LOINC, SNOMED, UCUM, code_form_problem, misspelt_system
from shared.clinical.errors import Problem
from shared.clinical.facts import Coding, Quantity, ReadingNote, ReceivedValue, ReferenceRange
from shared.clinical.qualitative import Answer, coded_answer, qualitative_coding
from shared.clinical.reading import COMPARATORS, number_in_text, quoted, text_reference_ranges
from shared.clinical.times import TimeFormatError, fhir_starts_after, parse_fhir_datetime
from shared.clinical.units import (
    UnitError,
    analyte_for,
    beyond_limits,
    convert,
    negative_refusal,
    to_canonical,
    units_conflict,
)

_NUM = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
# UCUM durations per year for referenceRange.age (UCUM: a = 365.25 d, mo = a/12, wk = 7 d)
_AGE_UNITS = {"a": 1.0, "mo": 12.0, "wk": 365.25 / 7, "d": 365.25}
_VALUE_TYPES = (
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "valueRange",
    "valueRatio",
    "valueSampledData",
    "valueTime",
    "valueDateTime",
    "valuePeriod",
)

Json = dict[str, Any]


@dataclass(frozen=True)
class SentUnit:
    """Which element of a FHIR Quantity names its unit, and how (``sent_unit``).

    ``unit``: the string to read as UCUM (or through the alias table); ``key``: its element
    (``code`` or ``unit``); ``display``: the other spelling sent, checked against ``unit`` by
    meaning (a conflict is refused at ``code``); ``refusal``: why the unit cannot be read at
    all (the element is ``key``);
    ``note``: an element sent and not read (a unit code in a terminology of concept ids).
    """

    unit: str = ""
    key: str = "unit"
    display: str | None = None
    refusal: str | None = None
    note: str | None = None


def sent_unit(data: Json, default_unit: str | None = None) -> SentUnit:
    """The unit of a FHIR R4 Quantity (or SimpleQuantity), read as the element definitions say.

    FHIR R4 datatypes, Quantity: ``unit`` is "a human-readable form of the unit", ``code`` "a
    computer processable form of the unit in some unit representation system" named by
    ``system``, and invariant qty-3: "If a code for the unit is present, the system SHALL also
    be present". So:

    - ``code`` without ``system``: refused at ``code`` (which system's unit it is is unknown;
      the display is not read in its place: ``unit`` "U/L" with ``code`` "ukat/L" differ 60x);
    - ``system`` UCUM with ``code``: the code decides; ``unit`` is its display, checked by
      meaning against it (``units.display_conflict``);
    - another ``system`` with ``code``: a local unit system (HL7 v2 converters write
      "99QDI(HL7_V2)" with "K/uL"): its code is read as a spelling only when no display was
      sent; else the display is read, and the code, when it reads as a unit, is checked
      against it. SNOMED CT unit codes are concept ids (258683005 kilogram), not spellings:
      the display is read instead, with a note; with no display the unit cannot be read;
    - no ``code``: ``unit`` is read (strict UCUM, else the alias table), else ``default_unit``.
    """
    code, system, unit = data.get("code"), data.get("system"), data.get("unit")
    code = code if isinstance(code, str) and code.strip() else None
    unit = unit if isinstance(unit, str) and unit.strip() else None
    if code is not None and not system:
        return SentUnit(
            key="code",
            refusal=(
                f"unit code {code!r} has no system (FHIR R4 Quantity qty-3: if a code for the"
                " unit is present, the system SHALL also be present): which unit it names is"
                " unknown, and the display is not read in its place"
            ),
        )
    if code is not None and system == SNOMED:
        if unit is None:
            return SentUnit(
                key="code",
                refusal=(
                    f"unit code {code!r} is a SNOMED CT concept id, not a unit TrialWatch reads"
                    f" (units are read in UCUM, system {UCUM}), and no unit display was sent"
                ),
            )
        return SentUnit(
            unit=unit,
            note=f"unit code {code!r} ({SNOMED}) not read; the unit is read from its display",
        )
    if code is not None and (system == UCUM or unit is None):
        return SentUnit(unit=code, key="code", display=unit)
    if code is not None:
        return SentUnit(unit=unit or "", key="unit", display=code)
    return SentUnit(unit=unit or default_unit or "")


def _conflict_reason(data: Json) -> str:
    return (
        f"unit code {data.get('code')!r} and unit {data.get('unit')!r} name different units"
        " (FHIR R4 Quantity: unit is the human-readable form of the coded unit): which one the"
        " value is in is unknown"
    )


@dataclass
class Reader:
    """Collects problems while reading one input."""

    problems: list[Problem] = field(default_factory=list)
    # the sender (intake's client): whose local codes the site code crosswalk maps
    source_system: str | None = None

    def problem(self, path: str, reason: str) -> None:
        self.problems.append(Problem(path=path, reason=reason))

    def codings(
        self, concept: Any, path: str, notes: list[ReadingNote] | None = None
    ) -> tuple[Coding, ...]:
        """Every coding with both ``system`` and ``code`` (FHIR R4 Coding: a code means nothing
        without its system). Each coding left out is named in ``notes`` when it is given."""
        if not isinstance(concept, dict):
            return ()
        found = []
        sent = concept.get("coding") or ()
        systems = {coding.get("system") for coding in sent if isinstance(coding, dict)}
        for index, coding in enumerate(sent):
            uri = misspelt_system(coding["system"]) if coding.get("system") else None
            if uri is not None and coding.get("code"):
                # FHIR R4 terminologies-systems: "the URI SHALL be used"; read as another
                # system, a newer result would be unseen and an older one decide in its place
                reason = (
                    f"code system {coding['system']!r} is not a FHIR system URI: send"
                    f" {uri!r} (FHIR R4 terminologies-systems: the URI SHALL be used in"
                    " Coding.system; a version goes in Coding.version)"
                )
                if uri in systems:
                    if notes is not None:
                        notes.append(ReadingNote(path=f"{path}.coding[{index}].system",
                                                 reason=f"{reason}; not read, the coding in"
                                                 f" {uri} is"))
                else:
                    self.problem(f"{path}.coding[{index}].system", reason)
            elif coding.get("system") and coding.get("code") and (
                    form := code_form_problem(str(coding["system"]), str(coding["code"]))):
                # refused, not dropped: another coding of the concept may not be in the value
                # set the criterion reads, so a code that matches nothing must not pass silently
                self.problem(f"{path}.coding[{index}].code", form)
            elif coding.get("system") and coding.get("code"):
                if notes is not None and ":" not in str(coding["system"]):
                    # FHIR R4 Coding.system is a uri and SHOULD be an absolute reference to a
                    # terminology system: a bare name ('ICD10', 'LOINC2') names none TrialWatch
                    # can identify (known names are refused above, naming their URI)
                    notes.append(ReadingNote(
                        path=f"{path}.coding[{index}].system",
                        reason=f"code system {coding['system']!r} is not an absolute URI (FHIR"
                        " R4 Coding.system: a uri identifying the terminology): not identified,"
                        " the code is not read as any standard code and no criterion reads it"))
                found.append(
                    Coding(
                        system=coding["system"], code=coding["code"], display=coding.get("display")
                    )
                )
            elif notes is not None:
                missing = "system" if coding.get("code") else "code"
                notes.append(
                    ReadingNote(
                        path=f"{path}.coding[{index}]",
                        reason=f"coding without a {missing}: not read",
                    )
                )
        return tuple(found)

    def time(self, value: Any, path: str) -> datetime | None:
        if value is None:
            return None
        try:
            return parse_fhir_datetime(str(value))
        except TimeFormatError as error:
            self.problem(path, str(error))
            return None

    def period(
        self, resource: Json, prefix: str, path: str
    ) -> tuple[datetime | None, datetime | None]:
        """``<prefix>DateTime`` / ``<prefix>Instant`` / ``<prefix>Period`` as (start, end)."""
        for suffix in ("DateTime", "Instant"):
            if f"{prefix}{suffix}" in resource:
                key = f"{prefix}{suffix}"
                return self.time(resource[key], f"{path}.{key}"), None
        period = resource.get(f"{prefix}Period")
        if isinstance(period, dict):
            key = f"{path}.{prefix}Period"
            start = self.time(period.get("start"), f"{key}.start")
            end = self.time(period.get("end"), f"{key}.end")
            if start is not None and end is not None and fhir_starts_after(
                str(period["start"]), str(period["end"])
            ):
                # FHIR R4 Period (datatypes.html#Period) per-1: "If present, start SHALL have
                # a lower value than end": which of the two times is wrong is unknown
                self.problem(key, f"start {period['start']!r} is after end {period['end']!r}"
                             " (FHIR R4 Period per-1: if present, start SHALL have a lower"
                             " value than end)")
                return None, None
            return start, end
        return None, None

    def quantity(
        self,
        loinc: str | None,
        data: Json,
        path: str,
        default_unit: str | None = None,
        *,
        derived: bool = False,
        unread: list[ReadingNote] | None = None,
        notes: list[ReadingNote] | None = None,
    ) -> Quantity | None:
        """A FHIR Quantity in canonical units; a wrong unit for a known analyte is a problem.

        ``derived``: the quantity was read from text or a ratio at ``path`` (no unit element).
        ``unread``: where to say why a value of an analyte outside the catalogue was not kept
        (its unit does not read as UCUM); without it, that value is left out.
        ``notes``: where to say that the unit was read through the alias table (units.py).
        """
        value = data.get("value")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            # FHIR R4 JSON representation: a decimal is a JSON number, never a string ("8")
            self.problem(f"{path}.value", "a FHIR decimal must be a JSON number, not a string")
            return None
        negative = negative_refusal(loinc or "", float(value))
        if negative is not None:
            self.problem(f"{path}.value", f"{negative} (LOINC {loinc})")
            return None
        sent = sent_unit(data, default_unit)
        if sent.refusal is not None:
            self.problem(f"{path}.{sent.key}", sent.refusal)
            return None
        unit = sent.unit
        where = path if derived else f"{path}.{sent.key}"
        try:
            # a code in system UCUM is read as UCUM says, never through the alias table
            # (units.convert: "K/uL" in UCUM is kelvin per microlitre)
            declared = sent.key == "code" and data.get("system") == UCUM
            converted = convert(loinc or "", float(value), unit, declared_ucum=declared)
            if sent.display is not None and units_conflict(loinc or "", unit, sent.display):
                where = f"{path}.code"
                raise UnitError(_conflict_reason(data))
        except UnitError as error:
            if loinc is not None and analyte_for(loinc) is not None:
                self.problem(where, f"{error} (LOINC {loinc})")
            elif unread is not None:
                # an analyte TrialWatch does not catalogue, in a unit that is not UCUM: the
                # result is kept as unread, nothing is invented
                unread.append(ReadingNote(path=where, reason=f"{error}: value not read"))
            return None
        canonical = converted.quantity
        impossible = beyond_limits(loinc or "", canonical) if unread is not None else None
        if impossible is not None and unread is not None:
            # a result value (not a reference range) no laboratory could have measured: a unit
            # or value typed wrong; kept unread at the value, never read as sent
            # (analytes.yaml limits, each with its source)
            unread.append(ReadingNote(path=path if derived else f"{path}.value",
                                      reason=impossible))
            return None
        if converted.alias is not None and notes is not None:
            notes.append(converted.alias.note(where))
        if sent.note is not None and notes is not None:
            notes.append(ReadingNote(path=f"{path}.code", reason=sent.note))
        comparator = data.get("comparator")
        if comparator is None:
            return canonical
        if comparator not in COMPARATORS:
            # a value whose relation to the number is unknown must not be read as the number
            self.problem(f"{path}.comparator", "not one of <, <=, >=, >")
            return None
        return canonical.model_copy(update={"comparator": comparator})

    def reference_range(
        self, loinc: str | None, ranges: Any, path: str, unit: str | None
    ) -> ReferenceRange | None:
        """The first ``referenceRange`` entry (what readers of one range see)."""
        alternatives = self.reference_ranges(loinc, ranges, path, unit)
        return alternatives[0] if alternatives else None

    def reference_ranges(
        self, loinc: str | None, ranges: Any, path: str, unit: str | None
    ) -> tuple[ReferenceRange, ...]:
        """Every ``Observation.referenceRange`` entry, in order (FHIR R4: repeated entries are
        alternatives, "for different populations", told apart by ``appliesTo`` and ``age``).

        ``low``/``high`` are Quantities (SimpleQuantity); an entry with only ``text`` is read by
        the reader HL7 v2 OBX-7 shares (``reading.text_reference_ranges``: "7-35", "7 to 35",
        "<40", ">1", optionally followed by the unit, "Female: 7-35 U/L", "M: 10-50 F: 7-35",
        one entry per sex then); a text that cannot be read is kept as a range sent but not
        read at ``referenceRange[i].text``. An entry with neither bounds nor text is left out.
        ``age`` is a Range of UCUM durations (``a``, ``mo``, ``wk``, ``d``), kept in years;
        another unit is a problem at ``referenceRange[i].age``.
        """
        if not isinstance(ranges, list):
            return ()
        found = []
        for index, entry in enumerate(ranges):
            if not isinstance(entry, dict):
                continue
            where = f"{path}[{index}]"
            bounds = {
                bound: self.quantity(loinc, entry[bound], f"{where}.{bound}", unit)
                for bound in ("low", "high")
                if isinstance(entry.get(bound), dict)
            }
            text = entry.get("text") if isinstance(entry.get("text"), str) else None
            if not any(bounds.values()) and text is None:
                continue
            applies_to = tuple(
                coding
                for i, concept in enumerate(entry.get("appliesTo") or ())
                for coding in self.codings(concept, f"{where}.appliesTo[{i}]")
            )
            types = self.codings(entry.get("type"), f"{where}.type")
            age_range = entry.get("age")
            age: Json = age_range if isinstance(age_range, dict) else {}
            common = {
                "type": types[0] if types else None,
                "age_low_years": self._age_years(age.get("low"), f"{where}.age.low"),
                "age_high_years": self._age_years(age.get("high"), f"{where}.age.high"),
                "text": text,
            }
            if any(bounds.values()):
                found.append(ReferenceRange(
                    low=bounds.get("low"), high=bounds.get("high"), applies_to=applies_to,
                    **common,
                ))
                continue
            # text only: read as OBX-7 is, by the one reader both formats share
            for read in text_reference_ranges(loinc, text or "", unit, f"{where}.text"):
                if read.applies_to and applies_to:
                    # sex labels in the text and appliesTo beside it: whose range is ambiguous
                    read = ReferenceRange(unread=ReadingNote(
                        path=f"{where}.text",
                        reason="reference range text labelled by sex beside appliesTo: whose"
                        " range it is is ambiguous",
                    ))
                found.append(read.model_copy(update={
                    **common, "applies_to": read.applies_to or applies_to,
                }))
        return tuple(found)

    def _age_years(self, data: Any, path: str) -> float | None:
        if not isinstance(data, dict) or not isinstance(data.get("value"), int | float):
            return None
        sent = sent_unit(data)
        if sent.refusal is not None:
            self.problem(f"{path}.{sent.key}", sent.refusal)
            return None
        code = sent.unit
        per_year = _AGE_UNITS.get(code)
        other = _AGE_UNITS.get(sent.display or "")
        if per_year is not None and other is not None and other != per_year:
            self.problem(f"{path}.code", _conflict_reason(data))
            return None
        if per_year is None:
            self.problem(f"{path}.code", f"age unit {code!r} is not one of the UCUM a, mo, wk, d")
            return None
        return float(data["value"]) / per_year

    def interpretation(self, concepts: Any) -> str | None:
        """The flag of ``Observation.interpretation`` (``interpretation_of`` without notes)."""
        return interpretation_of(concepts, "interpretation")[0]


# FHIR R4 Observation.interpretation binds to ObservationInterpretation (v3), whose codes are
# HL7 v2 table 0078's (N, H, L, A, POS, NEG ...); the v2-0078 system and the STU3 URIs of both
# name the same codes. A code in another system (a lab's own "NEG") is not known to mean that.
INTERPRETATION_SYSTEMS = frozenset({
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
    "http://terminology.hl7.org/CodeSystem/v2-0078",
    "http://hl7.org/fhir/v3/ObservationInterpretation",
    "http://hl7.org/fhir/v2/0078",
})


def interpretation_of(concepts: Any, path: str) -> tuple[str | None, ReadingNote | None]:
    """(flag, why not read) of ``Observation.interpretation`` (FHIR R4: 0..* CodeableConcept,
    "a categorical assessment" of the value; binding ObservationInterpretation).

    Only codings in the ObservationInterpretation / table 0078 systems are read; every coding
    of one concept means the same (FHIR R4 CodeableConcept), so flags that differ are not read.
    Sent and not readable (no coding in a known system, or differing flags): ``(None, note)``,
    so a result whose only content is its flag is kept unread rather than judged by it.
    """
    if not isinstance(concepts, list) or not concepts:
        return None, None
    flags: list[str] = []
    for concept in concepts:
        for coding in (concept.get("coding") or ()) if isinstance(concept, dict) else ():
            if coding.get("system") in INTERPRETATION_SYSTEMS and coding.get("code"):
                flags.append(str(coding["code"]))
    known = list(dict.fromkeys(flags))
    if len(known) == 1:
        return known[0], None
    if known:
        reason = (
            f"its {len(known)} codings in ObservationInterpretation are different flags:"
            " not read"
        )
    else:
        reason = (
            "no coding in the ObservationInterpretation (v3) or table 0078 (v2) system: a"
            " flag in another system is not known to mean the same, not read"
        )
    return None, ReadingNote(path=path, reason=reason)


def loinc_of(codes: tuple[Coding, ...]) -> str | None:
    """The LOINC code that decides units: the first one in the analyte catalogue, else the first.

    Every coding of a CodeableConcept stands for the same concept (FHIR R4 datatypes,
    CodeableConcept.coding), so a catalogued LOINC coding anywhere in the list is used.
    """
    loincs = [coding.code for coding in codes if coding.system == LOINC]
    return next((code for code in loincs if analyte_for(code) is not None), None) or next(
        iter(loincs), None
    )


_SAME_CONCEPT_FHIR = "FHIR R4 CodeableConcept: every coding stands for the same concept"


def analytes_disagree(
    codes: tuple[Coding, ...], same_concept: str = _SAME_CONCEPT_FHIR
) -> str | None:
    """Why the LOINC codings of one code name different catalogued analytes, else None.

    FHIR R4 CodeableConcept.coding: every coding stands for the same concept. LOINC codes of
    two entries of ``analytes.yaml`` (777-3 a platelet count, 718-7 hemoglobin), or of two
    ``measures`` of one entry (777-3 platelets, 751-8 neutrophils), cannot both be the result:
    which one it is is unknown (``loinc_of`` would pick the first). Codes of one measure
    (777-3 and 26515-7) read as it. ``same_concept`` names the rule of the format read (HL7 v2
    CWE identifier and alternate identifier, ``hl7v2``).
    """
    named: dict[str, list[str]] = {}
    for coding in codes:
        analyte = analyte_for(coding.code) if coding.system == LOINC else None
        measure = analyte.measure(coding.code) if analyte is not None else None
        if measure is not None and coding.code not in named.setdefault(measure, []):
            named[measure].append(coding.code)
    if len(named) < 2:
        return None
    listed = "; ".join(f"LOINC {', '.join(loincs)} ({name})" for name, loincs in named.items())
    return (
        f"codings name different analytes: {listed} ({same_concept}): which result this is"
        " is unknown"
    )


@dataclass(frozen=True)
class ObservedValue:
    """One ``value[x]`` read: at most one of quantity, code, boolean; or why it was not read.

    ``unread`` is set when the element exists but could not be read (the fact is kept and
    every criterion reading it is unknown); ``notes`` name what was read with a warning;
    ``received`` is the value and unit exactly as sent.
    """

    quantity: Quantity | None = None
    code: Coding | None = None
    boolean: bool | None = None
    unread: ReadingNote | None = None
    notes: tuple[ReadingNote, ...] = ()
    received: ReceivedValue | None = None


def read_value(reader: Reader, loinc: str | None, element: Json, path: str) -> ObservedValue:
    """``value[x]`` of an Observation or component (FHIR R4 Observation.value[x]).

    Read: Quantity (with its comparator), CodeableConcept (any known coding, or its text),
    string (a result word, a number or titer with an optional bound), boolean, integer,
    Range (as a bound), Ratio 1:N (a titer). Kept as unread: every other form, and any of
    these that cannot be read. No ``value[x]`` at all: an empty value.
    """
    if isinstance(element.get("valueQuantity"), dict):
        return _value_quantity(reader, loinc, element["valueQuantity"], f"{path}.valueQuantity")
    if "valueCodeableConcept" in element:
        return read_concept(
            reader, loinc, element["valueCodeableConcept"], f"{path}.valueCodeableConcept"
        )
    if "valueBoolean" in element:
        flag = json_boolean(reader, element["valueBoolean"], f"{path}.valueBoolean")
        if flag is None:
            return ObservedValue()
        return ObservedValue(boolean=flag, received=ReceivedValue(value=str(flag).lower()))
    if "valueInteger" in element:
        return _value_integer(reader, loinc, element["valueInteger"], f"{path}.valueInteger")
    if isinstance(element.get("valueRatio"), dict):
        return _titer_ratio(reader, loinc, element["valueRatio"], f"{path}.valueRatio")
    if isinstance(element.get("valueString"), str):
        return read_result_text(reader, loinc, element["valueString"], f"{path}.valueString")
    if isinstance(element.get("valueRange"), dict):
        return _value_range(reader, loinc, element["valueRange"], f"{path}.valueRange")
    for key in _VALUE_TYPES:
        if key in element:
            return _unread(f"{path}.{key}", f"{key} is not a result form TrialWatch reads")
    return ObservedValue()


def _value_integer(reader: Reader, loinc: str | None, value: Any, path: str) -> ObservedValue:
    """FHIR R4 Observation.value[x] ``integer``: a whole number with no unit.

    A JSON whole number is required (FHIR R4 JSON: integer is a JSON number without a fraction);
    anything else is refused at ``path``. The number is read in UCUM unity ``1`` (a score, an
    index, a titer's reciprocal) where the analyte accepts a plain number. A catalogued analyte
    measured in a unit (a count per volume, a mass concentration, a percentage) cannot take one
    from an integer: the result is kept unread at ``path``, never given a unit by guess (as a
    ``valueQuantity`` without a unit is not read as one; that one is refused, an integer is a
    valid form the standard allows).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        reader.problem(path, "a FHIR integer must be a JSON whole number (FHIR R4 integer)")
        return ObservedValue()
    received = ReceivedValue(value=str(value))
    analyte = analyte_for(loinc) if loinc is not None else None
    if analyte is not None:
        try:
            convert(loinc or "", float(value), "1")
        except UnitError:
            reason = (
                f"an integer (FHIR R4 Observation.value[x] valueInteger) has no unit, and a"
                f" {analyte.words} is read in {analyte.canonical} (analytes.yaml): the value is"
                " not read"
            )
            return _unread(path, reason, received)
    data = {"value": value, "unit": "1"}
    return _with_received(_quantity_value(reader, loinc, data, path, derived=True), received)


def _unread(path: str, reason: str, received: ReceivedValue | None = None) -> ObservedValue:
    return ObservedValue(unread=ReadingNote(path=path, reason=reason), received=received)


def _with_received(value: ObservedValue, received: ReceivedValue) -> ObservedValue:
    return ObservedValue(
        quantity=value.quantity,
        code=value.code,
        boolean=value.boolean,
        unread=value.unread,
        notes=value.notes,
        received=received,
    )


def _sent_number(value: Any) -> str:
    """A JSON number as the sender wrote it (a ``Decimal`` keeps its precision, FHIR R4 decimal)."""
    return str(value)


def _quantity_value(
    reader: Reader, loinc: str | None, data: Json, path: str, *, derived: bool = False
) -> ObservedValue:
    unread: list[ReadingNote] = []
    notes: list[ReadingNote] = []
    quantity = reader.quantity(loinc, data, path, derived=derived, unread=unread, notes=notes)
    return ObservedValue(
        quantity=quantity, unread=unread[0] if unread else None, notes=tuple(notes)
    )


def _value_quantity(reader: Reader, loinc: str | None, data: Json, path: str) -> ObservedValue:
    """FHIR R4 Quantity: value, comparator, unit/code (UCUM when system is UCUM)."""
    comparator = data.get("comparator") if isinstance(data.get("comparator"), str) else ""
    unit = sent_unit(data).unit or data.get("code") or data.get("unit")
    received = ReceivedValue(
        value=f"{comparator}{_sent_number(data['value'])}"
        if data.get("value") is not None
        else None,
        unit=str(unit) if unit else None,
    )
    if data.get("value") is None:
        return _unread(f"{path}.value", "valueQuantity has no value", received)
    return _with_received(_quantity_value(reader, loinc, data, path), received)


def read_concept(reader: Reader, loinc: str | None, concept: Any, path: str) -> ObservedValue:
    """A coded result (FHIR R4 CodeableConcept): every coding stands for the same concept.

    Any coding TrialWatch knows decides (``qualitative.coded_answer``); codings that read as
    different results make the value unread. With no known coding, the first coding is kept as
    sent (a code some criterion may read) and a note says so. A concept sent as ``text`` alone
    is read as a ``valueString`` would be, else it is unread.
    """
    notes: list[ReadingNote] = []
    codes = reader.codings(concept, path, notes)
    readings: dict[object, tuple[Coding, Answer]] = {}
    for coding in codes:
        answer = coded_answer(coding)
        if answer is not None:
            key = (answer.coding.system, answer.coding.code) if answer.coding else answer.score
            readings.setdefault(key, (coding, answer))
    if len(readings) > 1:
        sent = ", ".join(f"{c.system}|{c.code}" for c, _ in readings.values())
        return _unread(path, f"its codings mean different results ({sent})")
    if readings:
        coding, answer = next(iter(readings.values()))
        received = ReceivedValue(value=f"{coding.system}|{coding.code}")
        if answer.coding is not None:
            return ObservedValue(code=answer.coding, notes=tuple(notes), received=received)
        data = {"value": answer.score, "unit": "1"}
        value = _quantity_value(reader, loinc, data, path, derived=True)
        return ObservedValue(
            quantity=value.quantity, unread=value.unread, notes=tuple(notes), received=received
        )
    if codes:
        first = codes[0]
        notes.append(
            ReadingNote(
                path=path,
                reason=(
                    f"no coding is a result code TrialWatch knows; kept as sent"
                    f" ({first.system}|{first.code})"
                ),
            )
        )
        return ObservedValue(
            code=first,
            notes=tuple(notes),
            received=ReceivedValue(value=f"{first.system}|{first.code}"),
        )
    text = concept.get("text") if isinstance(concept, dict) else None
    if isinstance(text, str) and text.strip():
        read = read_result_text(reader, loinc, text, f"{path}.text")
        return ObservedValue(
            quantity=read.quantity,
            code=read.code,
            unread=read.unread,
            notes=(*notes, *read.notes),
            received=read.received,
        )
    return ObservedValue(
        unread=ReadingNote(path=path, reason="no coding with system and code, and no text"),
        notes=tuple(notes),
    )


def _titer_ratio(reader: Reader, loinc: str | None, ratio: Json, path: str) -> ObservedValue:
    """A Ratio 1:N is a titer N (a bound on the denominator bounds the titer); else unread."""
    numerator = ratio.get("numerator") or {}
    denominator = ratio.get("denominator") or {}
    sent = f"{numerator.get('value')}:{denominator.get('comparator', '')}{denominator.get('value')}"
    received = ReceivedValue(value=sent)
    if (
        numerator.get("value") != 1
        or numerator.get("comparator")
        or denominator.get("value") is None
    ):
        return _unread(path, f"ratio {sent} is not a titer 1:N", received)
    data = {"value": float(denominator["value"]), "unit": "{titer}"}
    if denominator.get("comparator") is not None:
        data["comparator"] = denominator["comparator"]
    return _with_received(_quantity_value(reader, loinc, data, path, derived=True), received)


def _value_range(reader: Reader, loinc: str | None, sent: Json, path: str) -> ObservedValue:
    """A Range (FHIR R4 Range: low and high, each inclusive): the value lies in [low, high].

    Both bounds: ``>= low`` with ``upper = high`` (``Quantity.upper``). Only ``low``:
    ``>= low``; only ``high``: ``<= high``. Neither: unread.
    """
    low, high = sent.get("low"), sent.get("high")
    low = low if isinstance(low, dict) and low.get("value") is not None else None
    high = high if isinstance(high, dict) and high.get("value") is not None else None
    either = low or high or {}
    received = ReceivedValue(
        value=f"{(low or {}).get('value', '')}-{(high or {}).get('value', '')}",
        unit=sent_unit(either).unit or either.get("code") or either.get("unit"),
    )
    if low is None and high is None:
        return _unread(path, "a range without a low or high value", received)
    read = {}
    for name, bound, comparator in (("low", low, ">="), ("high", high, "<=")):
        if bound is not None:
            value = _quantity_value(
                reader, loinc, {**bound, "comparator": comparator}, f"{path}.{name}"
            )
            if value.quantity is None:
                return _with_received(value, received)
            read[name] = value.quantity
    if "low" in read and "high" in read:
        if read["high"].value < read["low"].value:
            return _unread(path, "a range whose high is below its low", received)
        quantity = read["low"].model_copy(update={"upper": read["high"].value})
    else:
        quantity = read.get("low") or read["high"]
    return ObservedValue(quantity=quantity, received=received)


def _value_words(text: str) -> str:
    """``value '<<10'`` for a short text without letters, else a length (free text is not
    copied: it may name people)."""
    shown = quoted(text)
    return f"value {shown}" if shown.startswith(("'", '"')) else shown


def read_result_text(
    reader: Reader, loinc: str | None, text: str, path: str, unit: str | None = None
) -> ObservedValue:
    """A result sent as text (FHIR R4 valueString, CodeableConcept.text, HL7 v2 ST/TX).

    A listed result word becomes its SNOMED coding; a number, with an optional bound
    (``<10``, ``<=5``, ``>1:320``) becomes a Quantity with that comparator, in ``unit`` when
    the sender gave one beside the text (HL7 v2 OBX-6), else as ``_unitless`` says; a titer
    ``1:80`` becomes 80 ``{titer}``. Anything else is unread (never copied when it may be a
    note).
    """
    coding = qualitative_coding(text)
    if coding is not None:
        return ObservedValue(code=coding, received=ReceivedValue(value=text.strip()))
    number_text = number_in_text(text)
    if number_text is not None and number_text.problem is not None:
        reader.problem(path, f"a number sent as text: {number_text.problem}")
        return _unread(path, number_text.problem)
    if number_text is None:
        if _value_words(text).startswith("value "):
            return _unread(path, f"{_value_words(text)} is not a number")
        return _unread(path, f"{_value_words(text)} is not a result TrialWatch reads")
    received = ReceivedValue(value=text.strip())
    comparator, number = number_text.comparator, number_text.value
    if number_text.titer:
        data: Json = {"value": number, "unit": "{titer}"}
        if comparator:
            data["comparator"] = comparator
        return _with_received(_quantity_value(reader, loinc, data, path, derived=True), received)
    if unit:
        data = {"value": number, "unit": unit, **({"comparator": comparator} if comparator else {})}
        received = ReceivedValue(value=text.strip(), unit=unit)
        return _with_received(_quantity_value(reader, loinc, data, path, derived=True), received)
    return _with_received(_unitless(reader, loinc, number, comparator, text, path), received)


def _unitless(
    reader: Reader, loinc: str | None, number: float, comparator: str | None, text: str, path: str
) -> ObservedValue:
    """A number sent without a unit: read only when no unit could change what it means.

    An analyte whose catalogue entry allows no unit takes its canonical unit. A bound is read
    in the accepted unit that makes it loosest (``<10`` platelets holds as < 10 10*9/L
    whichever accepted unit the lab meant, since 10*9/L is the largest), so it is true in
    every case and a note says so. A plain number is read only when every accepted unit gives
    the same value; otherwise, and for an analyte outside the catalogue, it is unread.
    """
    analyte = analyte_for(loinc) if loinc else None
    if analyte is None:
        return _unread(path, f"{_value_words(text)} has no unit and the analyte is not catalogued")
    if analyte.unit_may_be_missing:
        data: Json = {"value": number, "unit": ""}
        if comparator:
            data["comparator"] = comparator
        return _quantity_value(reader, loinc, data, path, derived=True)
    readings = []
    for unit in analyte.units:
        try:
            readings.append(to_canonical(loinc or "", number, unit))
        except UnitError:
            continue
    if not readings:
        return _unread(path, f"{_value_words(text)} has no unit")
    values = [reading.value for reading in readings]
    if comparator in ("<", "<="):
        value = max(values)
    elif comparator in (">", ">="):
        value = min(values)
    elif all(abs(v - values[0]) <= 1e-9 * max(1.0, abs(values[0])) for v in values):
        value = values[0]
    else:
        return _unread(path, f"{_value_words(text)} has no unit, and its accepted units differ")
    value = float(f"{value:.12g}")  # the unit factors are exact powers of ten; drop float noise
    quantity = Quantity(value=value, unit=analyte.canonical, comparator=comparator)
    note = ReadingNote(
        path=path,
        reason=(
            f"no unit sent: read as {comparator or ''}{value:g} {analyte.canonical}, which holds"
            f" in every unit accepted for {analyte.name}"
        ),
    )
    return ObservedValue(quantity=quantity, notes=(note,))


def json_boolean(reader: Reader, sent: object, path: str) -> bool | None:
    """A FHIR R4 boolean as sent: only the JSON literals true and false (FHIR R4 JSON
    representation, primitive types). Anything else ("false", "no", 0; the model validator
    takes them in lax mode, and ``bool("false")`` is True) is refused at ``path``: None."""
    if isinstance(sent, bool):
        return sent
    reader.problem(path, f"a FHIR boolean must be JSON true or false, not a {json_type(sent)}")
    return None


def json_type(value: object) -> str:
    """The JSON type name of a parsed value, for refusals (never the value: it may be PHI)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "number"
