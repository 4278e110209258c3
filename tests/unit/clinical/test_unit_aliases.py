"""UCUM read strictly by ucumvert; non-UCUM spellings only through the alias table (UCUM 2.2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.clinical.fhir import parse_fhir
from shared.clinical.ucum import MAX_UNIT_LENGTH, UnitSyntaxError, parse_unit
from shared.clinical.units import (
    UnitError,
    convert,
    parse_alias_table,
    to_canonical,
    use_site_aliases,
)


@pytest.fixture
def site_aliases() -> Iterator[None]:
    yield
    use_site_aliases({})


def test_serum_hcg_in_milli_international_units_per_millilitre_reads_as_iu_per_litre() -> None:
    # UCUM: m is the milli prefix of the arbitrary unit [IU]; 1 m[IU]/mL = 1 [IU]/L
    converted = convert("2110-5", 0.8, "m[IU]/mL")
    assert (converted.quantity.value, converted.quantity.unit) == (pytest.approx(0.8), "[IU]/L")
    assert converted.alias is None


@pytest.mark.parametrize("unit", ["[HPF]", "/[HPF]", "{cells}/uL", "{titer}", "10*3/uL"])
def test_bracket_units_fields_and_annotations_read_as_ucum(unit: str) -> None:
    parse_unit(unit)


def test_urine_red_cells_per_high_power_field_read_and_a_bare_number_is_not_per_field() -> None:
    assert to_canonical("13945-1", 12.0, "/[HPF]").unit == "/[HPF]"
    assert to_canonical("13945-1", 12.0, "{cells}/[HPF]").value == 12.0
    # UCUM defines [HPF] as 1, but a count per field is not a pure number: never equated
    with pytest.raises(UnitError, match="not a unit of urine sediment per hpf"):
        to_canonical("13945-1", 12.0, "1")


def test_an_international_unit_is_never_equated_with_a_count_per_volume() -> None:
    # [IU] is arbitrary (UCUM 2.2 4.4: not commensurable with any other unit)
    with pytest.raises(UnitError, match="not a unit of hcg"):
        to_canonical("2110-5", 0.8, "/L")


@pytest.mark.parametrize(
    ("unit", "ucum"),
    [
        ("K/uL", "10*3/uL"),
        ("x10E3/uL", "10*3/uL"),
        ("thou/uL", "10*3/uL"),
        ("x10^3/mcL", "10*3/uL"),
        ("giga.l-1", "10*9/L"),
    ],
)
def test_real_feed_count_spellings_read_through_the_alias_table_and_say_so(
    unit: str, ucum: str
) -> None:
    converted = convert("777-3", 250.0, unit)
    assert (converted.quantity.value, converted.quantity.unit) == (pytest.approx(250.0), "10*9/L")
    assert converted.alias is not None
    assert (converted.alias.ucum, converted.alias.dimension) == (ucum, "number_concentration")
    note = converted.alias.note("OBX[1].6")
    assert note.path == "OBX[1].6"
    expected = f"unit {unit!r} is not UCUM; read as {ucum!r} through the unit alias table"
    assert expected in note.reason


def test_cells_per_microlitre_reads_as_per_microlitre() -> None:
    converted = convert("26464-8", 6400.0, "cells/uL")
    assert converted.quantity.value == pytest.approx(6.4)
    assert converted.alias is not None
    assert converted.alias.ucum == "/uL"


def test_grams_spelled_gm_read_for_hemoglobin() -> None:
    converted = convert("718-7", 13.5, "gm/dL")
    assert converted.quantity.value == pytest.approx(135.0)
    assert converted.alias is not None
    assert converted.alias.dimension == "mass_concentration"


def test_the_same_spelling_means_what_the_analyte_dimension_says() -> None:
    enzyme = convert("1742-6", 40.0, "IU/L")  # ALT: the enzyme unit U (IUB 1961)
    hormone = convert("21198-7", 40.0, "IU/L")  # beta-hCG: the WHO arbitrary [IU]
    assert (enzyme.quantity.unit, hormone.quantity.unit) == ("U/L", "[IU]/L")
    hcg = convert("2110-5", 0.002, "IU/mL")
    assert (hcg.quantity.value, hcg.quantity.unit) == (pytest.approx(2.0), "[IU]/L")


@pytest.mark.parametrize(
    ("loinc", "unit"),
    [("777-3", "K/UL"), ("777-3", "k/ul"), ("777-3", "10E3/uL"), ("718-7", "gms/dL")],
)
def test_a_spelling_not_in_the_table_is_not_guessed(loinc: str, unit: str) -> None:
    with pytest.raises(UnitError):
        to_canonical(loinc, 1.0, unit)


def test_strict_ucum_still_refuses_the_real_messages_unit_errors() -> None:
    # g/l-1 is gram times litre (UCUM: the exponent binds to l, / to the next term only)
    with pytest.raises(UnitError, match="not a unit of hemoglobin"):
        to_canonical("20509-6", 7.9, "g/l-1")
    with pytest.raises(UnitError, match="implausible for hemoglobin"):
        to_canonical("718-7", 13.0, "g/mL")  # a 1000x unit error, refused, not rescaled
    with pytest.raises(UnitError, match="implausible for blood cell count"):
        to_canonical("777-3", 4.0, "tera.l-1")  # the erythrocyte scale


def test_an_alias_applies_to_an_uncatalogued_analyte_only_when_it_has_one_meaning() -> None:
    converted = convert("11125-2", 221.0, "giga.l-1")
    assert (converted.quantity.value, converted.quantity.unit) == (221.0, "10*9/L")
    with pytest.raises(UnitError, match="single meaning"):
        convert("99999-9", 40.0, "IU/L")  # U/L for an enzyme, [IU]/L for a hormone


def test_a_unit_string_of_sixty_thousand_characters_is_refused_before_parsing() -> None:
    with pytest.raises(UnitSyntaxError, match=f"longer than {MAX_UNIT_LENGTH}"):
        parse_unit("g." * 30_000)
    with pytest.raises(UnitError, match="longer than"):
        to_canonical("718-7", 1.0, "(" * 60_000)


def test_a_site_alias_file_adds_spellings_and_the_fact_names_the_site_table(
    site_aliases: None,
) -> None:
    with pytest.raises(UnitError):
        to_canonical("777-3", 250.0, "TH/uL")
    text = "aliases:\n  number_concentration:\n    TH/uL: 10*3/uL\n"
    use_site_aliases(parse_alias_table(text, "site.yaml"))
    converted = convert("777-3", 250.0, "TH/uL")
    assert converted.quantity.value == pytest.approx(250.0)
    assert converted.alias is not None
    assert converted.alias.site
    assert "the site's unit alias table" in converted.alias.note("x").reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("aliases:\n  volume:\n    cc: mL\n", "unknown dimension 'volume'"),
        ("aliases:\n  mass_concentration:\n    T/uL: 10*3/uL\n", "not a mass_concentration unit"),
        ("aliases:\n  mass:\n    kilo: kilos\n", "is not UCUM"),
        ("units: {}\n", "expected a mapping"),
    ],
)
def test_a_wrong_site_alias_file_is_refused_naming_the_entry(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_alias_table(text, "site.yaml")


def test_a_site_alias_cannot_change_what_a_shipped_spelling_means(site_aliases: None) -> None:
    with pytest.raises(ValueError, match="contradicts the shipped alias"):
        use_site_aliases({"number_concentration": {"K/uL": "10*6/uL"}})


def _observation(loinc: str, quantity: dict[str, object]) -> dict[str, object]:
    return {
        "resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-02-28T09:00:00Z",
        "valueQuantity": quantity,
    }


def test_a_fhir_value_read_through_an_alias_carries_the_note_and_the_unit_as_sent() -> None:
    (update,) = parse_fhir(_observation("777-3", {"value": 12, "unit": "K/uL"}), source_system="x")
    [fact] = update.facts
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (12.0, "10*9/L")
    [note] = fact.notes
    assert note.path == "Observation.valueQuantity.unit"
    assert "'K/uL' is not UCUM; read as '10*3/uL'" in note.reason
    assert fact.received is not None
    assert fact.received.unit == "K/uL"


def test_a_fhir_serum_hcg_in_ucum_reads_without_a_note() -> None:
    quantity = {"value": 0.8, "unit": "mIU/mL", "system": "http://unitsofmeasure.org",
                "code": "m[IU]/mL"}
    (update,) = parse_fhir(_observation("2110-5", quantity), source_system="x")
    [fact] = update.facts
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (pytest.approx(0.8), "[IU]/L")
    assert fact.notes == ()


def test_long_units_are_refused_before_any_cache_keeps_them() -> None:
    from shared.clinical.units import _cached_conversion

    before = _cached_conversion.cache_info().currsize
    for n in range(50):
        with pytest.raises(UnitError, match="longer than"):
            to_canonical("777-3", 1.0, f"{n}" + "g" * 1000)
    assert _cached_conversion.cache_info().currsize == before
