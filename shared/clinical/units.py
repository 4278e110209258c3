"""Values into canonical units, per analyte, from the shipped catalogue (``analytes.yaml``).

A unit is read as strict UCUM first (``shared.clinical.ucum``). Only when that reading is not a
unit the analyte accepts is the alias table (``unit_aliases.yaml``, plus a site's own file) looked
up, under the dimensions of the analyte's catalogued units; a unit read through an alias says
so (``Converted.alias``), and the caller records a ``ReadingNote``. Nothing outside the table is
guessed.

Conversions are linear (``canonical = scale * value + offset``; the offset is only non-zero for
temperatures), computed once per (analyte, unit string) with pint and cached (bounded), so the
hot path never parses a unit twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import pint
import yaml

from shared.clinical.facts import Quantity, ReadingNote
from shared.clinical.ucum import MAX_UNIT_LENGTH, UnitSyntaxError, parse_unit, registry

# Dimension names of the alias table, each given by one UCUM unit of that dimension.
DIMENSIONS: dict[str, str] = {
    "number_concentration": "/L",
    "mass_concentration": "g/L",
    "substance_concentration": "mol/L",
    "catalytic_concentration": "U/L",
    "arbitrary_concentration": "[IU]/L",
    "mass": "g",
    "length": "m",
    "temperature": "Cel",
    "ratio": "1",
    "mass_rate": "g/d",
    "mass_per_substance": "g/mol",
}

AliasTable = Mapping[str, Mapping[str, str]]

# The dimensions above, and pint's base dimensions, in plain words for refusal reasons
_DIMENSION_WORDS = {
    "number_concentration": "number per volume",
    "mass_concentration": "mass per volume",
    "substance_concentration": "amount of substance per volume",
    "catalytic_concentration": "enzyme activity per volume",
    "arbitrary_concentration": "international units per volume",
    "mass": "mass",
    "length": "length",
    "temperature": "temperature",
    "ratio": "a plain number",
    "mass_rate": "mass per time",
    "mass_per_substance": "mass per amount of substance",
}
_BASE_WORDS = {
    "[mass]": "mass",
    "[time]": "time",
    "[substance]": "amount of substance",
    "[temperature]": "temperature",
    "[current]": "electric current",
    "[luminosity]": "luminous intensity",
    "[international_unit]": "international units",
    "[high_power_field]": "high-power field",
    "[low_power_field]": "low-power field",
}
_LENGTH_WORDS = {1: "length", 2: "area", 3: "volume"}


class UnitError(ValueError):
    """A unit that is unreadable, or that cannot be right for the analyte."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The values a measured result of an analyte can take, in its canonical unit, and the
    source of each limit (``analytes.yaml`` ``limits``: an analyser's reportable range from its
    manufacturer, or a published extreme). A converted value beyond them cannot have been
    measured: a unit typed wrong (a value in umol/L sent as mg/dL, grams as kilograms) or a
    value typed wrong. ``low``/``high`` None: no limit on that side (the sign is checked
    apart, ``negative_refusal``)."""

    low: float | None
    high: float | None
    source: str


@dataclass(frozen=True, slots=True)
class Analyte:
    """One entry of ``analytes.yaml``: LOINC codes, canonical UCUM unit, accepted units, molar
    mass for mass/substance conversion, and the source of those numbers."""

    name: str
    loinc: tuple[str, ...]
    canonical: str
    units: tuple[str, ...]
    molar_mass_g_per_mol: float | None
    unit_may_be_missing: bool
    source: str
    measures: tuple[tuple[str, tuple[str, ...]], ...] = ()
    limits: Limits | None = None
    measure_limits: tuple[tuple[str, Limits], ...] = ()

    def limits_for(self, loinc: str) -> Limits | None:
        """The limits of what ``loinc`` measures: its measure's (``measures``), else the
        entry's."""
        measure = self.measure(loinc)
        for name, limits in self.measure_limits:
            if name == measure:
                return limits
        return self.limits

    def measure(self, loinc: str) -> str:
        """The quantity ``loinc`` measures: its ``measures`` group, else the entry's name (an
        entry without ``measures`` measures one quantity). Two codes of one measure name the
        same result (777-3 and 26515-7 platelets); of two measures, different results."""
        for name, codes in self.measures:
            if loinc in codes:
                return name
        return self.name

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The alias-table dimensions of the catalogued units, in catalogue order."""
        return _dimensions_of(self.units)

    @property
    def words(self) -> str:
        """The analyte's name for people (``blood cell count``, not ``blood_cell_count``)."""
        return self.name.replace("_", " ")

    @property
    def expected(self) -> str:
        """What its units measure, in plain words with an example each: ``mass per volume such
        as g/L, or amount of substance per volume such as mmol/L``."""
        examples: dict[str, str] = {}
        for unit in self.units:
            examples.setdefault(dimension_words(unit), unit)
        return ", or ".join(f"{words} such as {unit}" for words, unit in examples.items())


@dataclass(frozen=True, slots=True)
class UnitAlias:
    """A non-UCUM spelling read as ``ucum`` through the alias table, under ``dimension``."""

    received: str
    ucum: str
    dimension: str
    site: bool = False

    def note(self, path: str) -> ReadingNote:
        """The ``ReadingNote`` a fact read through this alias carries."""
        table = "the site's unit alias table" if self.site else "the unit alias table"
        return ReadingNote(
            path=path,
            reason=(
                f"unit {self.received!r} is not UCUM; read as {self.ucum!r} through {table}"
                f" ({self.dimension})"
            ),
        )


@dataclass(frozen=True, slots=True)
class Conversion:
    """A linear unit conversion: canonical = scale x value + offset (offset only for
    temperatures)."""

    scale: float
    offset: float = 0.0

    def apply(self, value: float) -> float:
        return self.scale * value + self.offset

    def close_to(self, other: Conversion) -> bool:
        return math.isclose(self.scale, other.scale, rel_tol=1e-9) and math.isclose(
            self.offset, other.offset, rel_tol=1e-9, abs_tol=1e-12
        )


@dataclass(frozen=True, slots=True)
class Converted:
    """A value in the analyte's canonical unit, and the alias used to read its unit, if any."""

    quantity: Quantity
    alias: UnitAlias | None = None


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
            molar_mass_g_per_mol=entry.get("molar_mass_g_per_mol"),
            unit_may_be_missing=bool(entry.get("unit_may_be_missing", False)),
            source=" ".join(str(entry["source"]).split()),
            measures=_measures(name, entry),
            limits=_limits(name, entry.get("limits")),
            measure_limits=_measure_limits(name, entry),
        )
        for code in analyte.loinc:
            by_loinc[code] = analyte
    return by_loinc


def _measures(name: str, entry: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """An entry's ``measures``, each of its LOINC codes in exactly one (``ValueError`` naming
    the entry otherwise: a wrong catalogue must stop the service at start-up)."""
    groups = entry.get("measures") or {}
    found = tuple((str(measure), tuple(map(str, codes))) for measure, codes in groups.items())
    listed = [code for _, codes in found for code in codes]
    if found and sorted(listed) != sorted(map(str, entry["loinc"])):
        raise ValueError(f"analytes.yaml {name}: measures must list each of its loinc codes once")
    return found


def _measure_limits(name: str, entry: dict[str, Any]) -> tuple[tuple[str, Limits], ...]:
    """The ``limits`` of an entry with ``measures``, one per measure (``{platelets: {max,
    source}}``); a measure without limits is not checked."""
    groups = entry.get("measures") or {}
    sent = entry.get("limits") or {}
    if not groups or not sent:
        return ()
    unknown = set(sent) - set(groups)
    if unknown:
        raise ValueError(f"analytes.yaml {name}: limits of unknown measures {sorted(unknown)}")
    found = tuple((str(measure), _limits(f"{name}.{measure}", limits))
                  for measure, limits in sent.items())
    return tuple((measure, limits) for measure, limits in found if limits is not None)


def _limits(name: str, sent: dict[str, Any] | None) -> Limits | None:
    """``limits`` (``min``/``max`` in the canonical unit, ``source`` required: ``ValueError``
    naming the entry otherwise, so a limit without its source never ships)."""
    if sent is None or not ({"min", "max", "source"} & set(sent)):
        return None
    low, high, source = sent.get("min"), sent.get("max"), sent.get("source")
    if (low is None and high is None) or not source:
        raise ValueError(f"analytes.yaml {name}: limits need min or max, and their source")
    if low is not None and high is not None and float(low) >= float(high):
        raise ValueError(f"analytes.yaml {name}: limits min must be below max")
    return Limits(
        low=None if low is None else float(low),
        high=None if high is None else float(high),
        source=" ".join(str(source).split()),
    )


def beyond_limits(loinc: str, quantity: Quantity) -> str | None:
    """Why a converted value of a catalogued analyte cannot have been measured, or None.

    ``quantity`` is in the analyte's canonical unit (``convert``); its value, and its ``upper``
    (a range's high), are compared with the analyte's ``limits`` (``analytes.yaml``, each with
    its source). A bound (``>1000``) beyond a limit is no more possible than the number. The
    reason names the limit and its source and says the value was not read; it never repeats
    the value (it may be a typing error of anything)."""
    analyte = analyte_for(loinc)
    limits = analyte.limits_for(loinc) if analyte is not None else None
    if analyte is None or limits is None:
        return None
    values = (quantity.value, *(() if quantity.upper is None else (quantity.upper,)))
    unit = analyte.canonical
    for value in values:
        if limits.high is not None and value > limits.high:
            side = f"above {limits.high:g} {unit}, the most"
        elif limits.low is not None and value < limits.low:
            side = f"below {limits.low:g} {unit}, the least"
        else:
            continue
        return (
            f"value {side} a measured {_measure_words(analyte, loinc)} result can be"
            f" ({limits.source}): it cannot"
            " have been measured (a unit or value typed wrong), so the value was not read"
        )
    return None


def _measure_words(analyte: Analyte, loinc: str) -> str:
    return analyte.measure(loinc).replace("_", " ") if analyte.measures else analyte.words


def analyte_for(loinc: str) -> Analyte | None:
    """The catalogued analyte of a LOINC code, else None (the value is then not converted)."""
    return catalogue().get(loinc)


@cache
def shipped_aliases() -> dict[str, dict[str, str]]:
    """The alias table shipped with TrialWatch (``unit_aliases.yaml``), validated."""
    text = resources.files("shared.clinical").joinpath("unit_aliases.yaml").read_text("utf-8")
    return parse_alias_table(text, "unit_aliases.yaml")


_site: dict[str, dict[str, str]] = {}


def parse_alias_table(text: str, name: str) -> dict[str, dict[str, str]]:
    """``{dimension: {spelling: UCUM unit}}`` from alias-table YAML (``aliases:`` at the top).

    Raises ``ValueError`` naming the entry when a dimension is unknown, a target is not UCUM,
    or a target is not of its dimension: a wrong table must stop the service at start-up, not
    misread results later.
    """
    document: Any = yaml.safe_load(text) or {}
    table = document.get("aliases") if isinstance(document, dict) else None
    if not isinstance(table, dict):
        raise ValueError(f"{name}: expected a mapping 'aliases: {{dimension: {{spelling: unit}}}}'")
    parsed: dict[str, dict[str, str]] = {}
    for dimension, entries in table.items():
        if dimension not in DIMENSIONS:
            raise ValueError(
                f"{name}: unknown dimension {dimension!r} (one of {', '.join(DIMENSIONS)})"
            )
        if not isinstance(entries, dict):
            raise ValueError(f"{name}: aliases.{dimension} must map spellings to UCUM units")
        for spelling, target in entries.items():
            where = f"{name}: aliases.{dimension}.{spelling}"
            try:
                found = dimension_of(str(target))
            except UnitSyntaxError as error:
                raise ValueError(f"{where}: {error}") from None
            if found != dimension:
                raise ValueError(f"{where}: {target!r} is not a {dimension} unit")
            arbitrary = _arbitrary_reading(str(spelling).strip())
            if arbitrary is not None and arbitrary != parse_unit(str(target)).dimensionality:
                # UCUM 2.2 4.4: an arbitrary unit ([IU], [arb'U] ...) is "not commensurable
                # with any other unit": "[IU]/L" is never the enzyme unit U/L
                raise ValueError(
                    f"{where}: {spelling!r} is a UCUM arbitrary unit ({dimension_words(spelling)})"
                    f" and cannot be read as {target!r} (UCUM 2.2 4.4)"
                )
        parsed[str(dimension)] = {str(k).strip(): str(v) for k, v in entries.items()}
    return parsed


# pint's base dimensions: a UCUM unit with any other dimension counts an arbitrary unit or a
# field (``shared.clinical.ucum``: [IU], [arb'U], [HPF] ... each have their own)
_PHYSICAL = frozenset({"[length]", "[mass]", "[time]", "[substance]", "[temperature]",
                       "[current]", "[luminosity]"})


def _arbitrary_reading(unit: str) -> Any:
    """The dimensionality of ``unit`` read as strict UCUM when it counts an arbitrary unit or a
    field (``[IU]/L``, ``m[IU]/mL``), else None (not UCUM, or only physical dimensions)."""
    try:
        dimensionality = parse_unit(unit).dimensionality
    except (UnitSyntaxError, pint.errors.PintError):
        return None
    return dimensionality if set(dimensionality) - _PHYSICAL else None


def use_site_aliases(table: AliasTable) -> None:
    """Add a site's alias table (as ``parse_alias_table`` returns it) to the shipped one.

    Called once by a composition root at start-up (``CLINICAL_UNIT_ALIASES_FILE``). A site entry
    may add spellings; it may not give a shipped spelling another meaning (``ValueError``).
    An empty table removes the site's entries.
    """
    shipped = shipped_aliases()
    for dimension, entries in table.items():
        for spelling, target in entries.items():
            known = shipped.get(dimension, {}).get(spelling)
            if known is not None and known != target:
                raise ValueError(
                    f"site unit alias {dimension}.{spelling} -> {target!r} contradicts the"
                    f" shipped alias -> {known!r}"
                )
    _site.clear()
    _site.update({dimension: dict(entries) for dimension, entries in table.items()})
    _cached_conversion.cache_clear()


def aliases_for(analyte: Analyte) -> dict[str, UnitAlias]:
    """Every alias that may apply to ``analyte``: spelling -> alias, first dimension first."""
    found: dict[str, UnitAlias] = {}
    for dimension in analyte.dimensions:
        for table, site in ((shipped_aliases(), False), (_site, True)):
            for spelling, target in table.get(dimension, {}).items():
                found.setdefault(spelling, UnitAlias(spelling, target, dimension, site))
    return found


def dimension_of(unit: str) -> str:
    """The alias-table dimension name of a UCUM unit (pint's dimensionality when unnamed)."""
    dimensionality = parse_unit(unit).dimensionality
    for name, reference in DIMENSIONS.items():
        if parse_unit(reference).dimensionality == dimensionality:
            return name
    return str(dimensionality)


@lru_cache(maxsize=1024)
def dimension_words(unit: str) -> str:
    """What a UCUM unit measures, in plain words: ``g/L`` "mass per volume", ``g/l-1`` "mass x
    volume" (UCUM: ``l-1`` is a litre to the power -1, divided into nothing: gram times litre),
    ``10*9/L`` "number per volume", ``/[HPF]`` "number per high-power field". Raises
    ``UnitSyntaxError`` for a unit that is not UCUM."""
    name = dimension_of(unit)
    if name in _DIMENSION_WORDS:
        return _DIMENSION_WORDS[name]
    powers = dict(parse_unit(unit).dimensionality)
    above: list[str] = []
    below: list[str] = []
    for base, power in powers.items():
        exponent = float(str(power))  # pint keeps exponents as numbers (int or Fraction)
        side = above if exponent > 0 else below
        size = abs(exponent)
        if base == "[length]" and size in _LENGTH_WORDS:
            side.append(_LENGTH_WORDS[int(size)])
            continue
        word = _BASE_WORDS.get(base, base.strip("[]").replace("_", " "))
        side.append(word if size == 1 else f"{word}^{size:g}")
    text = " x ".join(above) or ("a plain number" if not below else "number")
    return " per ".join([text, *below])


@cache
def _dimensions_of(units: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(dimension_of(unit) for unit in units))


def convert(loinc: str, value: float, unit: str, *, declared_ucum: bool = False) -> Converted:
    """``value unit`` in the analyte's canonical unit, with the alias used, if any.

    ``declared_ucum``: the sender named UCUM as the unit's system (FHIR R4 Quantity.system
    http://unitsofmeasure.org with ``code``; HL7 v2.5.1 OBX-6 CE-3 "UCUM", table 0396). A
    declared unit that parses as UCUM means what UCUM says and is never read through the alias
    table: ``K/uL`` declared UCUM is kelvin per microlitre (UCUM 2.2 table 15: K is the
    kelvin), refused for a count, while the same string as a lab's own spelling (no system, or
    a local one) is the US "thousand per microlitre" alias.

    A catalogued analyte accepts only its listed units (any spelling that reads as the same
    UCUM unit), or an alias-table spelling under one of their dimensions naming one of them.
    An analyte not in the catalogue keeps its value and unit as given when the unit reads as
    strict UCUM, else as the UCUM unit of an alias that means the same in every dimension that
    lists it (``giga.l-1``; never ``IU/L``, which is U/L for enzymes but [IU]/L for hormones).
    Raises ``UnitError`` otherwise.
    """
    unit = unit.strip()
    analyte = analyte_for(loinc)
    if analyte is None:
        return _uncatalogued(value, unit)
    conversion, alias = _conversion(analyte, unit, declared_ucum=declared_ucum)
    return Converted(Quantity(value=conversion.apply(value), unit=analyte.canonical), alias)


def negative_refusal(loinc: str, value: float) -> str | None:
    """Why a negative ``value`` of a catalogued analyte cannot be read, or None.

    Every catalogued analyte but body temperature is a count, mass, length, catalytic activity,
    arbitrary amount, or a ratio of them: a quantity on a ratio scale, which has an absolute
    zero and cannot be negative. Celsius and Fahrenheit are interval scales (UCUM: Cel and
    [degF] are special units with an offset), so a temperature is not checked here. A negative
    count is a sender's error, never a result: refused rather than compared with a limit.
    """
    analyte = analyte_for(loinc)
    if analyte is None or value >= 0 or dimension_of(analyte.canonical) == "temperature":
        return None
    return (f"value {value:g} is negative: a {analyte.words} cannot be below zero;"
            " refused, not read")


def _uncatalogued(value: float, unit: str) -> Converted:
    try:
        parse_unit(unit)
    except UnitSyntaxError as error:
        alias = unambiguous_alias(unit)
        if alias is None:
            raise UnitError(
                f"{error}; not in the unit alias table under a single meaning"
            ) from None
        return Converted(Quantity(value=value, unit=alias.ucum), alias)
    return Converted(Quantity(value=value, unit=unit))


def unambiguous_alias(unit: str) -> UnitAlias | None:
    """The alias for ``unit`` when every dimension that lists it gives the same UCUM unit."""
    found = [
        UnitAlias(unit, entries[unit], dimension, site)
        for table, site in ((shipped_aliases(), False), (_site, True))
        for dimension, entries in table.items()
        if unit in entries
    ]
    if not found or len({alias.ucum for alias in found}) != 1:
        return None
    return found[0]


def units_conflict(loinc: str, code: str, display: str) -> bool:
    """Whether ``display`` (FHIR R4 ``Quantity.unit``) names another unit than ``code``.

    FHIR R4 Quantity: ``code`` is the computable form of the unit and ``unit`` its
    human-readable form, so they must mean the same. The display is compared by meaning, for
    the analyte (``x10^9/L`` = ``10*9/L``; ``IU/L`` = ``U/L`` for an enzyme, through the alias
    table; ``K/uL``, kelvin per microlitre in strict UCUM, through its alias). A display that
    does not read as a unit of the analyte at all (free text, "x10(9)/L") says nothing about
    the code: False. A display that reads as another amount (``U/L`` beside ``ukat/L``, 60
    times apart; ``g/mL`` beside ``g/L``) is a conflict: which unit the value is in is unknown.
    """
    code, display = code.strip(), display.strip()
    if not display or display == code or len(display) > MAX_UNIT_LENGTH:
        return False
    analyte = analyte_for(loinc)
    coded = _meanings(analyte, code)
    if not coded:
        return False
    dimension, scale = coded[0]
    same_kind = [other for kind, other in _meanings(analyte, display) if kind == dimension]
    if not same_kind:
        # a display that is UCUM for another kind of unit names that unit (``[IU]/L``, UCUM's
        # arbitrary international unit, beside the enzyme unit ``U/L``; ``U/L`` beside hCG's
        # ``[IU]/L``): the two contradict each other. Free text, or a lab spelling with no
        # UCUM meaning, says nothing about the code.
        return analyte is not None and _other_ucum_unit(analyte, display)
    return not any(other.close_to(scale) for other in same_kind)


def _other_ucum_unit(analyte: Analyte, display: str) -> bool:
    """Whether ``display`` is strict UCUM for a unit the analyte does not take and names no
    alias of the analyte (``K/uL``, kelvin per microlitre in UCUM, is the count alias)."""
    if display in aliases_for(analyte):
        return False
    try:
        parse_unit(display)
    except (UnitSyntaxError, pint.errors.PintError):
        return False
    return True


def _meanings(analyte: Analyte | None, unit: str) -> list[tuple[str, Conversion]]:
    """(kind, linear map to a reference unit of that kind) of ``unit`` read strictly and
    through the alias table; a reading of another kind of quantity (``K/uL`` as kelvin per
    microlitre) is left out for an analyte. No plausibility check: a conflict must show."""
    alias = aliases_for(analyte).get(unit) if analyte is not None else unambiguous_alias(unit)
    found = []
    for spelling in (unit, *((alias.ucum,) if alias is not None else ())):
        try:
            if analyte is not None:
                found.append((analyte.canonical, _linear(analyte, spelling)))
                continue
            base = parse_unit(spelling).to_base_units()
            found.append((str(base.dimensionality), Conversion(scale=float(base.magnitude))))
        except (UnitSyntaxError, pint.errors.PintError, ArithmeticError):
            continue
    return found


def to_canonical(loinc: str, value: float, unit: str) -> Quantity:
    """``convert(...).quantity``: the value in canonical units; raises ``UnitError``."""
    return convert(loinc, value, unit).quantity


def from_canonical(loinc: str, value: float, unit: str) -> float:
    """The inverse of ``to_canonical`` (used for round-trip checks and display)."""
    analyte = analyte_for(loinc)
    if analyte is None:
        raise UnitError(f"LOINC {loinc} is not in the analyte catalogue")
    conversion, _ = _conversion(analyte, unit.strip())
    return (value - conversion.offset) / conversion.scale


def _conversion(
    analyte: Analyte, unit: str, *, declared_ucum: bool = False
) -> tuple[Conversion, UnitAlias | None]:
    if len(unit) > MAX_UNIT_LENGTH:  # before the cache: long strings are never kept
        raise UnitError(f"unit longer than {MAX_UNIT_LENGTH} characters: not read")
    result = _cached_conversion(analyte, unit, declared_ucum)
    if isinstance(result, str):
        raise UnitError(result)
    return result


@lru_cache(maxsize=8192)
def _cached_conversion(
    analyte: Analyte, unit: str, declared_ucum: bool = False
) -> tuple[Conversion, UnitAlias | None] | str:
    if not unit and analyte.unit_may_be_missing:
        unit = analyte.canonical
    if not unit:
        return f"no unit given for {analyte.words} (canonical {analyte.canonical})"
    strict = _acceptable(analyte, unit, repr(unit))
    if isinstance(strict, Conversion):
        return strict, None
    alias = aliases_for(analyte).get(unit)
    if alias is None:
        return strict
    if declared_ucum and _parses(unit):
        # the sender said UCUM, and UCUM gives the string a meaning: that meaning stands
        return (
            f"{strict} (sent as UCUM, so not read through the unit alias table, where the"
            f" lab spelling {unit!r} means {alias.ucum!r})"
        )
    through = _acceptable(
        analyte, alias.ucum, f"{unit!r} (read as {alias.ucum!r} through the unit alias table)"
    )
    if isinstance(through, Conversion):
        return through, alias
    return through


def _parses(unit: str) -> bool:
    try:
        parse_unit(unit)
    except (UnitSyntaxError, pint.errors.PintError):
        return False
    return True


def _acceptable(analyte: Analyte, unit: str, shown: str) -> Conversion | str:
    """The conversion of ``unit`` for the analyte, or why not: the unit as received (quoted
    verbatim) and what it and the analyte measure, in plain words."""
    try:
        conversion = _linear(analyte, unit)
    except UnitSyntaxError as error:
        return (
            f"{error}, nor a spelling in the unit alias table; {analyte.words} is expected in"
            f" {analyte.expected}"
        )
    except pint.errors.DimensionalityError:
        return (
            f"unit {shown} is not a unit of {analyte.words}: {unit!r} is"
            f" {dimension_words(unit)}, expected {analyte.expected}; refused, not converted"
        )
    except (pint.errors.PintError, ArithmeticError) as error:
        return f"unit {shown} is not a unit of {analyte.words} ({type(error).__name__})"
    if not any(conversion.close_to(_linear(analyte, listed)) for listed in analyte.units):
        return (
            f"unit {shown} is implausible for {analyte.words}: it is {dimension_words(unit)}"
            f" but of another size than every accepted unit ({', '.join(analyte.units)});"
            " refused, not converted"
        )
    return conversion


@lru_cache(maxsize=8192)
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

    # pint multiplies the UCUM prefixes and powers of ten in binary floating point, so 1/nL
    # came out as 0.9999999999999998 x 10*9/L and a platelet count of exactly 20 /nL as
    # 19.999999999999996, failing ">= 20". A factor within 1e-12 of a decimal of at most 9
    # significant digits (powers of ten, molar masses given to 6 digits) is that decimal;
    # others (5/9 for degrees Fahrenheit) are kept as computed.
    at_zero = convert(0.0)
    return Conversion(scale=_decimal(convert(1.0) - at_zero), offset=_decimal(at_zero))


def _decimal(number: float) -> float:
    short = float(f"{number:.9g}")
    return short if math.isclose(short, number, rel_tol=1e-12, abs_tol=1e-300) else number


def _molar_variants(analyte: Analyte, quantity: pint.Quantity) -> list[pint.Quantity]:
    if analyte.molar_mass_g_per_mol is None:
        return [quantity]
    molar_mass = registry().Quantity(analyte.molar_mass_g_per_mol, "g/mol")
    return [quantity, quantity * molar_mass, quantity / molar_mass]


def units_markdown() -> list[str]:
    """The Markdown section listing the analyte catalogue and the alias table (lines)."""
    lines = [
        "## How units are read",
        "",
        "Units are read as strict UCUM (UCUM 2.2, case-sensitive; parsed by ucumvert, converted",
        "with pint). A catalogued analyte accepts a unit only when it means the same as one of",
        "its listed units; anything else (g/mL hemoglobin, `g/l-1`, which is g·L) is refused at",
        f"the unit's path. Units longer than {MAX_UNIT_LENGTH} characters are not parsed.",
        "",
        "A converted value beyond the analyte's possible measured values (below, each limit with",
        "its source) cannot have been measured: a unit typed wrong by a factor (umol/L sent as",
        "mg/dL, g as kg, mm as cm, degrees F as Cel) or a value typed wrong. It is kept unread at",
        "the value's path (FHIR `valueQuantity.value`, HL7 v2 `OBX[n].5`), a bound (`>1000`)",
        "too, the reason naming the limit and its source; every criterion reading it is unknown.",
        "An analyte without a limit has no published limit TrialWatch cites yet: not checked.",
        "",
        "| Analyte | LOINC | Canonical | Accepted UCUM units | Possible measured values |"
        " Source |",
        "|---|---|---|---|---|---|",
    ]
    seen: set[str] = set()
    for analyte in catalogue().values():
        if analyte.name in seen:
            continue
        seen.add(analyte.name)
        lines.append(
            f"| {analyte.name} | {', '.join(f'`{c}`' for c in analyte.loinc)}"
            f" | `{analyte.canonical}` | {', '.join(f'`{u}`' for u in analyte.units)}"
            f" | {_cell(_limits_words(analyte))} | {_cell(analyte.source)} |"
        )
    lines += [
        "",
        "### Unit alias table",
        "",
        "Spellings real feeds send that are not UCUM, read only for an analyte whose units have",
        "the dimension, and only as the UCUM unit given here (which must then be accepted for",
        "the analyte). The fact carries a note naming the alias. A site adds spellings with",
        "`CLINICAL_UNIT_ALIASES_FILE` (a YAML file of the same shape as",
        "`shared/clinical/unit_aliases.yaml`); nothing outside the table is guessed.",
        "",
        "| Dimension | Sent | Read as (UCUM) |",
        "|---|---|---|",
    ]
    for dimension, entries in shipped_aliases().items():
        lines += [f"| {dimension} | `{sent}` | `{ucum}` |" for sent, ucum in entries.items()]
    lines.append("")
    return lines


def _limits_words(analyte: Analyte) -> str:
    if analyte.measures:
        named = dict(analyte.measure_limits)
        return "; ".join(
            f"{measure.replace('_', ' ')}: {_bounds_words(named.get(measure), analyte.canonical)}"
            for measure, _ in analyte.measures
        )
    return _bounds_words(analyte.limits, analyte.canonical)


def _bounds_words(limits: Limits | None, unit: str) -> str:
    if limits is None:
        return "no published limit cited yet: not checked"
    sides = [f"at least {limits.low:g} {unit}"] if limits.low is not None else []
    sides += [f"at most {limits.high:g} {unit}"] if limits.high is not None else []
    return f"{' and '.join(sides)}: {limits.source}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
