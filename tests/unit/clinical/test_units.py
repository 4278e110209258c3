from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.clinical.units import (
    UnitError,
    aliases_for,
    catalogue,
    from_canonical,
    to_canonical,
)


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "expected", "canonical"),
    [
        ("2160-0", 88.4, "umol/L", 1.0, "mg/dL"),
        ("38483-4", 1.2, "mg/dL", 1.2, "mg/dL"),
        ("718-7", 13.0, "g/dL", 130.0, "g/L"),
        ("718-7", 8.0, "mmol/L", 8.0 * 16.1145, "g/L"),
        ("777-3", 221.0, "giga.l-1", 221.0, "10*9/L"),
        ("26515-7", 210000.0, "{cells}/uL", 210.0, "10*9/L"),
        ("751-8", 4.1, "10*3/uL", 4.1, "10*9/L"),
        ("26499-4", 4.1, "10^9/L", 4.1, "10*9/L"),
        ("6690-2", 5.0, "/nL", 5.0, "10*9/L"),
        ("1742-6", 40.0, "IU/L", 40.0, "U/L"),
        ("1920-8", 1.0, "ukat/L", 60.0, "U/L"),
        ("1975-2", 17.1, "umol/L", 1.0, "mg/dL"),
        ("2890-2", 1.0, "mg/mmol", 0.00884, "g/g"),
        ("2890-2", 500.0, "mg/g", 0.5, "g/g"),
        ("2889-4", 600.0, "mg/(24.h)", 0.6, "g/(24.h)"),
        ("4485-9", 90.0, "mg/dL", 0.9, "g/L"),
        ("29463-7", 100.0, "[lb_av]", 45.359237, "kg"),
        ("8302-2", 65.0, "[in_i]", 165.1, "cm"),
        ("8302-2", 1.7, "m", 170.0, "cm"),
        ("8117-4", 12.0, "%", 12.0, "%"),
        ("5048-4", 160.0, "{titer}", 160.0, "{titer}"),
        ("8310-5", 98.6, "[degF]", 37.0, "Cel"),
    ],
)
def test_catalogued_units_are_converted_to_the_canonical_unit(
    loinc: str, value: float, unit: str, expected: float, canonical: str
) -> None:
    quantity = to_canonical(loinc, value, unit)
    assert quantity.unit == canonical
    assert quantity.value == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(
    ("loinc", "unit", "reason"),
    [
        ("718-7", "g/mL", "implausible for hemoglobin"),
        ("777-3", "tera.l-1", "implausible for blood cell count"),
        ("751-8", "10*12/L", "implausible for blood cell count"),
        ("20509-6", "g/l-1", "not a unit of hemoglobin"),
        ("2160-0", "mmHg", "'mmHg' is not UCUM"),
        ("2160-0", "", "no unit given for creatinine"),
        ("2160-0", "furlongs", "'furlongs' is not UCUM"),
    ],
)
def test_a_unit_that_cannot_be_right_for_the_analyte_is_refused(
    loinc: str, unit: str, reason: str
) -> None:
    with pytest.raises(UnitError, match=reason):
        to_canonical(loinc, 1.0, unit)


def test_an_unknown_analyte_keeps_a_readable_unit_as_given() -> None:
    quantity = to_canonical("2345-7", 5.5, " mmol/L ")
    assert (quantity.value, quantity.unit) == (5.5, "mmol/L")


def test_an_unknown_analyte_with_an_unreadable_unit_is_refused() -> None:
    with pytest.raises(UnitError):
        to_canonical("2345-7", 5.5, "(score)")


def test_every_catalogue_entry_names_its_source_and_converts_each_listed_unit() -> None:
    for loinc, analyte in catalogue().items():
        assert analyte.source
        for unit in analyte.units:
            assert to_canonical(loinc, 1.0, unit).unit == analyte.canonical


def _accepted(loinc: str, unit: str) -> bool:
    try:
        to_canonical(loinc, 1.0, unit)
    except UnitError:
        return False
    return True


_CONVERTIBLE = [
    (loinc, unit)
    for loinc, analyte in sorted(catalogue().items())
    for unit in (*analyte.units, *aliases_for(analyte))
    if _accepted(loinc, unit)
]


@given(
    pair=st.sampled_from(_CONVERTIBLE),
    value=st.floats(min_value=1e-6, max_value=1e6, allow_nan=False),
)
def test_canonical_to_unit_and_back_round_trips(pair: tuple[str, str], value: float) -> None:
    loinc, unit = pair
    there = from_canonical(loinc, value, unit)
    back = to_canonical(loinc, there, unit).value
    assert back == pytest.approx(value, rel=1e-9, abs=1e-9)


@given(
    loinc=st.sampled_from(["718-7", "777-3", "8310-5", "2345-7"]),
    unit=st.text(alphabet="0123456789*^./()[]{}%-+ _gmLlUuIiCelkdhFa", max_size=12),
)
def test_any_unit_text_is_converted_or_refused_with_a_unit_error(loinc: str, unit: str) -> None:
    with contextlib.suppress(UnitError):
        to_canonical(loinc, 1.0, unit)


# A refusal reason is read by a person at a lab: the unit exactly as received, what it
# measures and what the analyte is measured in, in plain words (issue 11), never pint's
# "Cannot convert from 'gram * liter' to 'gram / liter'".
@pytest.mark.parametrize(
    ("loinc", "unit", "reason"),
    [
        ("718-7", "g/l-1", "'g/l-1' is mass x volume, expected mass per volume such as g/L"),
        ("777-3", "g/dL", "'g/dL' is mass per volume, expected number per volume such as 10*9/L"),
        ("1742-6", "mg", "'mg' is mass, expected enzyme activity per volume such as U/L"),
        ("13945-1", "/L", "'/L' is number per volume, expected number per high-power field"),
        ("718-7", "g/mL", "it is mass per volume but of another size than every accepted unit"),
        ("777-3", "K/UL", "unit 'K/UL' is not UCUM (unexpected character 'L' at column 4)"),
    ],
)
def test_a_unit_refusal_says_the_unit_as_received_and_the_dimensions_in_words(
    loinc: str, unit: str, reason: str
) -> None:
    with pytest.raises(UnitError) as refused:
        to_canonical(loinc, 1.0, unit)
    assert reason in str(refused.value)
    assert "Cannot convert" not in str(refused.value)
    assert "_" not in str(refused.value)


# UCUM: 1 /nL = 10*9/L exactly. pint's binary arithmetic gave 0.9999999999999998, so a
# platelet count of exactly 20 /nL read as 19.999999999999996 and failed ">= 20" (found by
# the issue 11 review).
@pytest.mark.parametrize(
    ("loinc", "value", "unit", "expected"),
    [
        ("777-3", 20, "/nL", 20.0),
        ("777-3", 20, "/nl", 20.0),
        ("777-3", 150, "10*3/mm3", 150.0),
        ("718-7", 12, "g/dL", 120.0),
        ("1742-6", 1, "ukat/L", 60.0),
    ],
)
def test_a_conversion_by_powers_of_ten_is_exact(
    loinc: str, value: float, unit: str, expected: float
) -> None:
    assert to_canonical(loinc, value, unit).value == expected
