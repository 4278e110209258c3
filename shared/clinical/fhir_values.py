"""Reading FHIR datatypes (CodeableConcept, Quantity, dateTime, Period) into canonical parts.

Problems are appended to a shared list with their path instead of raised, so one refusal
names every problem in the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.clinical.codes import LOINC, UCUM
from shared.clinical.errors import Problem
from shared.clinical.facts import Coding, Quantity, ReferenceRange
from shared.clinical.qualitative import qualitative_coding
from shared.clinical.reading import COMPARATORS
from shared.clinical.times import TimeFormatError, parse_fhir_datetime
from shared.clinical.units import UnitError, analyte_for, to_canonical

_TITER = re.compile(r"^\s*1\s*:\s*(\d+(?:\.\d+)?)\s*$")
_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
# referenceRange.text as labs write it, like HL7 v2 OBX-7: "7-35 U/L", "4.3 to 6.2", "<40", ">1"
_TEXT_RANGE = re.compile(
    rf"^\s*(?:(?P<low>{_NUM})\s*(?:-|to|–)\s*(?P<high>{_NUM})"
    rf"|(?:<|<=|≤)\s*(?P<upper>{_NUM})|(?:>|>=|≥)\s*(?P<lower>{_NUM}))"
    r"\s*(?P<unit>\S+)?\s*$",
    re.IGNORECASE,
)
# UCUM durations per year for referenceRange.age (UCUM: a = 365.25 d, mo = a/12, wk = 7 d)
_AGE_UNITS = {"a": 1.0, "mo": 12.0, "wk": 365.25 / 7, "d": 365.25}

Json = dict[str, Any]


@dataclass
class Reader:
    """Collects problems while reading one input."""

    problems: list[Problem] = field(default_factory=list)

    def problem(self, path: str, reason: str) -> None:
        self.problems.append(Problem(path=path, reason=reason))

    def codings(self, concept: Any, path: str) -> tuple[Coding, ...]:
        if not isinstance(concept, dict):
            return ()
        found = []
        for coding in concept.get("coding") or ():
            if coding.get("system") and coding.get("code"):
                found.append(
                    Coding(
                        system=coding["system"], code=coding["code"], display=coding.get("display")
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
            return self.time(period.get("start"), f"{key}.start"), self.time(
                period.get("end"), f"{key}.end"
            )
        return None, None

    def quantity(
        self,
        loinc: str | None,
        data: Json,
        path: str,
        default_unit: str | None = None,
        *,
        derived: bool = False,
    ) -> Quantity | None:
        """A FHIR Quantity in canonical units; a wrong unit for a known analyte is a problem.

        ``derived``: the quantity was read from text or a ratio at ``path`` (no unit element).
        """
        value = data.get("value")
        if value is None:
            return None
        unit_key = "code" if data.get("system") == UCUM and data.get("code") else "unit"
        unit = data.get(unit_key) or data.get("code") or default_unit or ""
        try:
            canonical = to_canonical(loinc or "", float(value), unit)
        except UnitError as error:
            if loinc is not None and analyte_for(loinc) is not None:
                where = path if derived else f"{path}.{unit_key}"
                self.problem(where, f"{error} (LOINC {loinc})")
            return None  # an unknown analyte with an unreadable unit: keep nothing, invent nothing
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

        ``low``/``high`` are Quantities (SimpleQuantity); an entry with only ``text`` is read as
        HL7 v2 OBX-7 is ("7-35", "7 to 35", "<40", ">1", optionally followed by the unit). An
        entry with neither readable bounds nor readable text is left out. ``age`` is a Range
        of UCUM durations (``a``, ``mo``, ``wk``, ``d``), kept in years; another unit is a
        problem at ``referenceRange[i].age``.
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
            if not any(bounds.values()) and text is not None:
                bounds = self._text_range(loinc, text, f"{where}.text", unit)
            if not any(bounds.values()):
                continue
            applies_to = tuple(
                coding
                for i, concept in enumerate(entry.get("appliesTo") or ())
                for coding in self.codings(concept, f"{where}.appliesTo[{i}]")
            )
            age_range = entry.get("age")
            age: Json = age_range if isinstance(age_range, dict) else {}
            found.append(
                ReferenceRange(
                    low=bounds.get("low"),
                    high=bounds.get("high"),
                    applies_to=applies_to,
                    age_low_years=self._age_years(age.get("low"), f"{where}.age.low"),
                    age_high_years=self._age_years(age.get("high"), f"{where}.age.high"),
                    text=text,
                )
            )
        return tuple(found)

    def _text_range(
        self, loinc: str | None, text: str, path: str, unit: str | None
    ) -> dict[str, Quantity | None]:
        """``referenceRange.text`` read as OBX-7 (HL7 v2.5.1 7.4.2.7) is, in canonical units."""
        match = _TEXT_RANGE.match(text)
        if match is None:
            return {}
        low, high, upper, lower, written = match.group("low", "high", "upper", "lower", "unit")
        values = {"low": low, "high": high} if low is not None else {}
        if upper is not None:
            values = {"high": upper}
        elif lower is not None:
            values = {"low": lower}
        range_unit = written.strip() if written else unit
        if range_unit is None:
            return {}
        try:
            return {
                name: to_canonical(loinc or "", float(value), range_unit)
                for name, value in values.items()
            }
        except UnitError:
            return {}  # free text in a unit that does not read: the range is not used

    def _age_years(self, data: Any, path: str) -> float | None:
        if not isinstance(data, dict) or not isinstance(data.get("value"), int | float):
            return None
        code = data.get("code") or data.get("unit")
        per_year = _AGE_UNITS.get(str(code))
        if per_year is None:
            self.problem(f"{path}.code", f"age unit {code!r} is not one of the UCUM a, mo, wk, d")
            return None
        return float(data["value"]) / per_year

    def interpretation(self, concepts: Any) -> str | None:
        for concept in concepts or ():
            for coding in concept.get("coding") or ():
                if coding.get("code"):
                    return str(coding["code"])
        return None


def loinc_of(codes: tuple[Coding, ...]) -> str | None:
    return next((coding.code for coding in codes if coding.system == LOINC), None)


@dataclass(frozen=True)
class ObservedValue:
    quantity: Quantity | None = None
    code: Coding | None = None
    boolean: bool | None = None


def read_value(reader: Reader, loinc: str | None, element: Json, path: str) -> ObservedValue:
    """``value[x]`` of an Observation or component; free text other than results is dropped."""
    if isinstance(element.get("valueQuantity"), dict):
        return ObservedValue(
            quantity=reader.quantity(loinc, element["valueQuantity"], f"{path}.valueQuantity")
        )
    if "valueCodeableConcept" in element:
        codes = reader.codings(element["valueCodeableConcept"], f"{path}.valueCodeableConcept")
        return ObservedValue(code=codes[0] if codes else None)
    if "valueBoolean" in element:
        return ObservedValue(boolean=bool(element["valueBoolean"]))
    if "valueInteger" in element:
        data = {"value": element["valueInteger"], "unit": "1"}
        return ObservedValue(
            quantity=reader.quantity(loinc, data, f"{path}.valueInteger", derived=True)
        )
    if isinstance(element.get("valueRatio"), dict):
        return _titer_ratio(reader, loinc, element["valueRatio"], f"{path}.valueRatio")
    if isinstance(element.get("valueString"), str):
        return read_result_text(reader, loinc, element["valueString"], f"{path}.valueString")
    return ObservedValue()


def _titer_ratio(reader: Reader, loinc: str | None, ratio: Json, path: str) -> ObservedValue:
    """A Ratio 1:N is a titer; other ratios have no single value to keep."""
    numerator = (ratio.get("numerator") or {}).get("value")
    denominator = (ratio.get("denominator") or {}).get("value")
    if numerator != 1 or denominator is None:
        return ObservedValue()
    data = {"value": float(denominator), "unit": "{titer}"}
    return ObservedValue(quantity=reader.quantity(loinc, data, path, derived=True))


def read_result_text(reader: Reader, loinc: str | None, text: str, path: str) -> ObservedValue:
    """A qualitative word as SNOMED, a titer ``1:160`` as 160 {titer}; anything else: nothing."""
    coding = qualitative_coding(text)
    if coding is not None:
        return ObservedValue(code=coding)
    titer = _TITER.match(text)
    if titer is not None:
        data = {"value": float(titer[1]), "unit": "{titer}"}
        return ObservedValue(quantity=reader.quantity(loinc, data, path, derived=True))
    return ObservedValue()
