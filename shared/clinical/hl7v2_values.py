"""Reading OBX fields: coded identifiers, typed values (OBX-2/-5), units, ranges and statuses."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.clinical.codes import HL7V2_SYSTEMS
from shared.clinical.facts import Coding, Quantity, ReferenceRange
from shared.clinical.fhir_values import COMPARATORS, ObservedValue, Reader, read_result_text
from shared.clinical.units import UnitError, analyte_for, to_canonical

# HL7 table 0085 (observation result status) -> FHIR ObservationStatus, so consumers read one
# vocabulary. W ("post original as wrong") and D ("delete") withdraw the result.
RESULT_STATUS = {
    "C": "corrected",
    "D": "entered-in-error",
    "F": "final",
    "I": "registered",
    "N": "cancelled",
    "O": "registered",
    "P": "preliminary",
    "R": "preliminary",
    "S": "preliminary",
    "U": "final",
    "W": "entered-in-error",
    "X": "cancelled",
}
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*(?:-|to|–)\s*({_NUMBER})\s*$", re.IGNORECASE)
_UPPER = re.compile(rf"^\s*(?:<|<=|≤)\s*({_NUMBER})\s*$")
_LOWER = re.compile(rf"^\s*(?:>|>=|≥)\s*({_NUMBER})\s*$")
_TEXT_TYPES = {"ST", "TX", "FT"}
_CODED_TYPES = {"CE", "CWE", "CNE"}


@dataclass(frozen=True)
class ObxField:
    """One OBX field, already split: repetitions of components."""

    path: str
    repetitions: tuple[tuple[str, ...], ...]

    def component(self, index: int, repetition: int = 0) -> str:
        if repetition >= len(self.repetitions):
            return ""
        components = self.repetitions[repetition]
        return components[index].strip() if index < len(components) else ""

    @property
    def empty(self) -> bool:
        return not any(any(part.strip() for part in rep) for rep in self.repetitions)


def codings(field: ObxField) -> tuple[Coding, ...]:
    """CE/CWE identifier and alternate identifier; v2 system names map to URIs where known."""
    found = []
    for first in (0, 3):
        code = field.component(first)
        if code:
            system = field.component(first + 2)
            found.append(
                Coding(
                    system=HL7V2_SYSTEMS.get(system, system),
                    code=code,
                    display=field.component(first + 1) or None,
                )
            )
    return tuple(found)


def unit_of(field: ObxField) -> str:
    return field.component(0) or field.component(1)


def read_obx_value(
    reader: Reader, value_type: str, value: ObxField, unit: ObxField, loinc: str | None
) -> ObservedValue:
    if value.empty:
        return ObservedValue()
    if value_type in _CODED_TYPES:
        coded = codings(value)
        return ObservedValue(code=coded[0] if coded else None)
    if value_type in _TEXT_TYPES:
        return read_result_text(reader, loinc, value.component(0), value.path)
    if value_type == "NM":
        if len(value.repetitions) > 1:
            reader.problem(value.path, "more than one value for a numeric (NM) result")
            return ObservedValue()
        return _numeric(reader, loinc, value.component(0), None, unit, value.path)
    if value_type == "SN":
        return _structured_numeric(reader, loinc, value, unit)
    return ObservedValue()  # RP, ED ...: pointers and attachments are not facts


def _structured_numeric(
    reader: Reader, loinc: str | None, value: ObxField, unit: ObxField
) -> ObservedValue:
    comparator, first, separator, second = (value.component(i) for i in range(4))
    if separator == ":" and _is_number(first) and float(first) == 1 and _is_number(second):
        return _numeric(
            reader, loinc, second, None, ObxField(unit.path, (("{titer}",),)), value.path
        )
    if separator or second:
        return ObservedValue()  # ranges and ratios other than titers: no single value to keep
    if comparator and comparator not in COMPARATORS and comparator != "=":
        reader.problem(value.path, f"unknown comparator {comparator!r}")
        return ObservedValue()
    bound = comparator if comparator in COMPARATORS else None
    return _numeric(reader, loinc, first, bound, unit, value.path)


def _numeric(
    reader: Reader,
    loinc: str | None,
    text: str,
    comparator: str | None,
    unit: ObxField,
    path: str,
) -> ObservedValue:
    if not _is_number(text):
        reader.problem(path, f"not a number: {text!r}")
        return ObservedValue()
    quantity = _convert(reader, loinc, float(text), unit_of(unit), unit.path)
    if quantity is not None and comparator:
        quantity = quantity.model_copy(update={"comparator": comparator})
    return ObservedValue(quantity=quantity)


def _convert(
    reader: Reader, loinc: str | None, value: float, unit: str, path: str
) -> Quantity | None:
    try:
        return to_canonical(loinc or "", value, unit)
    except UnitError as error:
        if loinc is not None and analyte_for(loinc) is not None:
            reader.problem(path, f"{error} (LOINC {loinc})")
        return None


def reference_range(
    reader: Reader, loinc: str | None, text: str, unit: ObxField, path: str
) -> ReferenceRange | None:
    """OBX-7 as ``3.5-5.0``, ``4.3 to 6.2``, ``<40`` or ``>1``; anything else is not read."""
    bounds: dict[str, float] = {}
    if match := _RANGE.match(text):
        bounds = {"low": float(match[1]), "high": float(match[2])}
    elif match := _UPPER.match(text):
        bounds = {"high": float(match[1])}
    elif match := _LOWER.match(text):
        bounds = {"low": float(match[1])}
    converted = {
        name: _convert(reader, loinc, value, unit_of(unit), path) for name, value in bounds.items()
    }
    if not converted or None in converted.values():
        return None
    return ReferenceRange(**converted)


def _is_number(text: str) -> bool:
    return re.fullmatch(_NUMBER, text.strip()) is not None
