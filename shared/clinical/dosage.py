"""A medication's daily dose, read from structured dosage, or kept unread with the reason.

FHIR R4 Dosage (MedicationRequest.dosageInstruction, MedicationStatement.dosage; datatype
"Dosage", https://hl7.org/fhir/R4/dosage.html):

- ``doseAndRate[0].doseQuantity`` (SimpleQuantity: no comparator) in UCUM: a mass (``mg``,
  ``g``, ``ug``) or a mass per body mass (``mg/kg``); ``doseRange`` (a dose range) and a rate
  (``rateRatio``/``rateRange``/``rateQuantity``) are not one dose;
- ``timing.repeat`` (Timing, https://hl7.org/fhir/R4/datatypes.html#Timing): ``frequency``
  times per ``period`` ``periodUnit`` (UnitsOfTime ``s``, ``min``, ``h``, ``d``); the daily dose
  is dose x frequency x (1 d / period). ``frequencyMax``/``periodMax`` (a range of
  frequencies), ``dayOfWeek`` (not every day), periods in ``wk``/``mo``/``a`` (a daily average
  is not a daily dose) and a ``timing.code`` alone (an abbreviation such as BID without
  ``repeat``) are not read;
- ``asNeeded[x]`` true or coded: "as needed" (PRN): there is no regular daily dose;
- ``text`` alone (a free-text sig, "take 2 tabs BID") is never parsed;
- several Dosage entries (a taper, split or sequential regimen): not read.

What is read becomes ``DailyDose.quantity`` in ``mg/d`` or ``mg/kg/d`` (UCUM); anything else
becomes ``DailyDose.unread`` with its path and reason, so a dose criterion reading it is
``unknown``, never guessed. No ``dosage`` at all gives ``None`` (nothing was said about the
dose). The medication use itself is read whatever its dose (its washout does not depend on it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shared.clinical.codes import UCUM
from shared.clinical.facts import DailyDose, Quantity, ReadingNote
from shared.clinical.ucum import UnitSyntaxError, parse_unit, registry

# FHIR R4 UnitsOfTime (http://hl7.org/fhir/ValueSet/units-of-time) of a fixed length, in days
_PERIOD_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0}
PER_DAY = "mg/d"
PER_KG_PER_DAY = "mg/kg/d"


def read_dosage(dosages: Any, path: str) -> DailyDose | None:
    """The daily dose of FHIR R4 ``Dosage`` entries at ``path`` (``...dosageInstruction``).

    Returns None when no Dosage was sent, else a ``DailyDose`` that is read (``quantity``) or
    unread (``unread``: path and reason); ``received`` is what was sent, in short.
    """
    if not isinstance(dosages, list) or not dosages:
        return None
    if len(dosages) > 1:
        return _unread(
            path,
            f"{len(dosages)} dosage instructions (a taper, split or sequential regimen):"
            " the daily dose is not read",
        )
    dosage = dosages[0]
    where = f"{path}[0]"
    if not isinstance(dosage, dict):
        return _unread(where, "not a Dosage")
    if dosage.get("asNeededBoolean") is True or "asNeededCodeableConcept" in dosage:
        key = "asNeededBoolean" if "asNeededBoolean" in dosage else "asNeededCodeableConcept"
        return _unread(f"{where}.{key}", "taken as needed (PRN): there is no regular daily dose")
    dose_and_rate = dosage.get("doseAndRate")
    if not isinstance(dose_and_rate, list) or not dose_and_rate:
        if isinstance(dosage.get("text"), str) and dosage["text"].strip():
            return _unread(
                f"{where}.text", "dose given as free text (sig) only: free text is not parsed"
            )
        return _unread(f"{where}.doseAndRate", "no dose")
    if len(dose_and_rate) > 1:
        return _unread(f"{where}.doseAndRate", "several doses or rates: not one dose")
    entry = dose_and_rate[0] if isinstance(dose_and_rate[0], dict) else {}
    entry_path = f"{where}.doseAndRate[0]"
    for rate in ("rateRatio", "rateRange", "rateQuantity"):
        if rate in entry:
            return _unread(f"{entry_path}.{rate}", "a rate, not a dose per administration")
    if "doseRange" in entry:
        return _unread(f"{entry_path}.doseRange", "a dose range: which dose was taken is unknown")
    dose = _dose(entry.get("doseQuantity"), f"{entry_path}.doseQuantity")
    if isinstance(dose, DailyDose):
        return dose
    per_day = _per_day(dosage.get("timing"), f"{where}.timing")
    if isinstance(per_day, DailyDose):
        return per_day
    value, unit, sent = dose
    frequency, period, period_unit, times_per_day = per_day
    return DailyDose(
        quantity=Quantity(value=float(f"{value * times_per_day:.12g}"), unit=unit),
        received=f"{sent}, {frequency} per {period:g} {period_unit}",
    )


def _dose(data: Any, path: str) -> tuple[float, str, str] | DailyDose:
    """(value in mg or mg/kg, canonical per-day unit, as sent) or an unread dose."""
    if not isinstance(data, dict):
        return _unread(path, "no doseQuantity")
    value = data.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return _unread(f"{path}.value", "no numeric dose")
    if data.get("comparator") is not None:
        # SimpleQuantity has no comparator (FHIR R4 sqty-1); a bound is not a dose
        return _unread(f"{path}.comparator", "a dose with a comparator is not one dose")
    system = data.get("system")
    unit = data.get("code") if system == UCUM and data.get("code") else None
    sent = f"{value} {data.get('code') or data.get('unit') or ''}".strip()
    if data.get("code") and not system:
        return _unread(
            f"{path}.code",
            f"dose unit code {data['code']!r} has no system (FHIR R4 Quantity qty-3: if a code"
            " for the unit is present, the system SHALL also be present): not read",
        )
    if unit is None:
        shown = data.get("unit") or data.get("code")
        if not shown:
            return _unread(path, "no dose unit sent (Dosage.doseAndRate.doseQuantity.unit and"
                                 " .code absent): not read")
        return _unread(
            path, f"dose unit {shown!r} is not a UCUM code (system {UCUM}): not read"
        )
    try:
        parsed = parse_unit(str(unit))
    except UnitSyntaxError as error:
        return _unread(f"{path}.code", f"{error}: dose not read")
    if _display_differs(parsed, data.get("unit")):
        return _unread(
            f"{path}.code",
            f"dose unit code {unit!r} and unit {data.get('unit')!r} name different units (FHIR R4"
            " Quantity: unit is the human-readable form of the coded unit): not read",
        )
    reg = registry()
    if parsed.dimensionality == reg("mg").dimensionality:
        return float(value) * float(parsed.to("mg").magnitude), PER_DAY, sent
    if _mass_per_mass(parsed):
        return float(value) * float(parsed.to("mg/kg").magnitude), PER_KG_PER_DAY, sent
    return _unread(
        f"{path}.code",
        f"dose in {unit!r} is not a mass or a mass per body mass (tablets, volumes need the"
        " product's strength): not read",
    )


def _display_differs(parsed: Any, display: Any) -> bool:
    """Whether ``Quantity.unit`` reads as UCUM of the same kind as the code but another size
    (``g`` beside ``mg``); a display that is not UCUM or of another kind is only a display."""
    if not isinstance(display, str) or not display.strip():
        return False
    try:
        shown = parse_unit(display.strip())
    except UnitSyntaxError:
        return False
    if shown.dimensionality != parsed.dimensionality:
        return False
    try:
        ratio = float(shown.to_base_units().magnitude) / float(parsed.to_base_units().magnitude)
    except ZeroDivisionError:
        return True
    return abs(ratio - 1.0) > 1e-9


def _mass_per_mass(parsed: Any) -> bool:
    """A UCUM unit of mass over mass (``mg/kg``), told apart from other dimensionless units
    (``{tbl}``, ``%``) by its components."""
    reg = registry()
    mass = reg("mg").dimensionality
    items = list(parsed.unit_items())
    numerator = [name for name, power in items if power > 0]
    denominator = [name for name, power in items if power < 0]
    return (
        len(numerator) == 1
        and len(denominator) == 1
        and reg(numerator[0]).dimensionality == mass
        and reg(denominator[0]).dimensionality == mass
    )


def _per_day(timing: Any, path: str) -> tuple[int, float, str, float] | DailyDose:
    """(frequency, period, periodUnit, administrations per day) from Timing.repeat, or unread."""
    if not isinstance(timing, dict):
        return _unread(path, "no timing: how often the dose is taken is unknown")
    repeat = timing.get("repeat")
    if not isinstance(repeat, dict):
        if timing.get("code"):
            return _unread(
                f"{path}.code", "a timing code without timing.repeat is not read (no frequency)"
            )
        return _unread(f"{path}.repeat", "no timing.repeat: how often is unknown")
    for key, reason in (
        ("frequencyMax", "a range of frequencies"),
        ("periodMax", "a range of periods"),
        ("dayOfWeek", "on some days of the week only"),
    ):
        if repeat.get(key):
            return _unread(f"{path}.repeat.{key}", f"{reason}: no single daily dose")
    frequency, period = repeat.get("frequency"), repeat.get("period")
    unit = repeat.get("periodUnit")
    if isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 1:
        return _unread(f"{path}.repeat.frequency", "no frequency: how often is unknown")
    if isinstance(period, bool) or not isinstance(period, int | float | Decimal) or period <= 0:
        return _unread(f"{path}.repeat.period", "no period: how often is unknown")
    days = _PERIOD_DAYS.get(unit) if isinstance(unit, str) else None
    if days is None or not isinstance(unit, str):
        return _unread(
            f"{path}.repeat.periodUnit",
            f"period unit {unit!r}: only s, min, h and d give a daily dose (an average over"
            " a week, month or year is not one)",
        )
    return frequency, float(period), unit, frequency / (float(period) * days)


def _unread(path: str, reason: str) -> DailyDose:
    return DailyDose(unread=ReadingNote(path=path, reason=reason))
