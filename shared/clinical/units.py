"""Values into canonical units, per analyte, from the shipped catalogue (``analytes.yaml``).

Conversions are linear (``canonical = scale * value + offset``; the offset is only non-zero for
temperatures), computed once per (LOINC, unit string) with pint and cached, so the hot path
never parses a unit twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pint
import yaml

from shared.clinical.facts import Quantity
from shared.clinical.ucum import UnitSyntaxError, parse_unit, registry


class UnitError(ValueError):
    """A unit that is unreadable, or that cannot be right for the analyte."""


@dataclass(frozen=True, slots=True)
class Analyte:
    name: str
    loinc: tuple[str, ...]
    canonical: str
    units: tuple[str, ...]
    aliases: tuple[tuple[str, str], ...]
    molar_mass_g_per_mol: float | None
    unit_may_be_missing: bool
    source: str


@dataclass(frozen=True, slots=True)
class Conversion:
    scale: float
    offset: float = 0.0

    def apply(self, value: float) -> float:
        return self.scale * value + self.offset

    def close_to(self, other: Conversion) -> bool:
        return math.isclose(self.scale, other.scale, rel_tol=1e-9) and math.isclose(
            self.offset, other.offset, rel_tol=1e-9, abs_tol=1e-12
        )


@cache
def catalogue() -> dict[str, Analyte]:
    """Analytes by LOINC code."""
    text = resources.files("shared.clinical").joinpath("analytes.yaml").read_text("utf-8")
    by_loinc: dict[str, Analyte] = {}
    for name, entry in yaml.safe_load(text)["analytes"].items():
        analyte = Analyte(
            name=name,
            loinc=tuple(entry["loinc"]),
            canonical=entry["canonical"],
            units=tuple(entry["units"]),
            aliases=tuple(entry.get("aliases", {}).items()),
            molar_mass_g_per_mol=entry.get("molar_mass_g_per_mol"),
            unit_may_be_missing=bool(entry.get("unit_may_be_missing", False)),
            source=" ".join(str(entry["source"]).split()),
        )
        for code in analyte.loinc:
            by_loinc[code] = analyte
    return by_loinc


def analyte_for(loinc: str) -> Analyte | None:
    return catalogue().get(loinc)


def to_canonical(loinc: str, value: float, unit: str) -> Quantity:
    """``value unit`` in the analyte's canonical unit.

    A catalogued analyte accepts only its listed units (any spelling that reads as the same
    UCUM unit). An analyte not in the catalogue keeps its value and unit as given, provided
    the unit reads as UCUM. Raises ``UnitError`` otherwise.
    """
    analyte = analyte_for(loinc)
    if analyte is None:
        _check_readable(unit.strip())
        return Quantity(value=value, unit=unit.strip())
    conversion = _conversion(analyte, unit.strip())
    return Quantity(value=conversion.apply(value), unit=analyte.canonical)


def from_canonical(loinc: str, value: float, unit: str) -> float:
    """The inverse of ``to_canonical`` (used for round-trip checks and display)."""
    analyte = analyte_for(loinc)
    if analyte is None:
        raise UnitError(f"LOINC {loinc} is not in the analyte catalogue")
    conversion = _conversion(analyte, unit.strip())
    return (value - conversion.offset) / conversion.scale


@cache
def _check_readable(unit: str) -> None:
    try:
        parse_unit(unit)
    except UnitSyntaxError as error:
        raise UnitError(str(error)) from error


def _conversion(analyte: Analyte, unit: str) -> Conversion:
    result = _cached_conversion(analyte, unit)
    if isinstance(result, str):
        raise UnitError(result)
    return result


@cache
def _cached_conversion(analyte: Analyte, unit: str) -> Conversion | str:
    if not unit and analyte.unit_may_be_missing:
        unit = analyte.canonical
    if not unit:
        return f"no unit given for {analyte.name} (canonical {analyte.canonical})"
    unit = dict(analyte.aliases).get(unit, unit)
    try:
        conversion = _linear(analyte, unit)
    except (UnitSyntaxError, pint.errors.PintError, ArithmeticError) as error:
        return f"unit {unit!r} is not a unit of {analyte.name} ({error})"
    if not any(conversion.close_to(_linear(analyte, listed)) for listed in analyte.units):
        return (
            f"unit {unit!r} is implausible for {analyte.name}"
            f" (accepted: {', '.join(analyte.units)}); refused, not converted"
        )
    return conversion


@cache
def _linear(analyte: Analyte, unit: str) -> Conversion:
    source = parse_unit(unit)
    target = parse_unit(analyte.canonical)

    def convert(value: float) -> float:
        quantity = registry().Quantity(value * source.magnitude, source.units)
        for adjusted in _molar_variants(analyte, quantity):
            try:
                return float(adjusted.to(target.units).magnitude) / float(target.magnitude)
            except pint.errors.DimensionalityError:
                continue
        raise pint.errors.DimensionalityError(source.units, target.units)

    at_zero = convert(0.0)
    return Conversion(scale=convert(1.0) - at_zero, offset=at_zero)


def _molar_variants(analyte: Analyte, quantity: pint.Quantity) -> list[pint.Quantity]:
    if analyte.molar_mass_g_per_mol is None:
        return [quantity]
    molar_mass = registry().Quantity(analyte.molar_mass_g_per_mol, "g/mol")
    return [quantity, quantity * molar_mass, quantity / molar_mass]
