"""Every string and number is bounded before any parser reads it (shared/clinical/bounds.py)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from tests.unit.clinical.conftest import FIXTURES, load_fhir_fixture


def _observation(bundle: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    for index, entry in enumerate(bundle["entry"]):
        resource = entry["resource"]
        if resource["resourceType"] == "Observation" and "valueQuantity" in resource:
            return index, resource
    raise AssertionError("no quantity observation in the fixture")


def _refusal_paths(bundle: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        parse_fhir(bundle, source_system="lab")
    return [p.path for p in refused.value.problems]


def test_a_60000_character_unit_is_refused_at_its_path_before_the_ucum_parser_sees_it() -> None:
    bundle = load_fhir_fixture("lupus_bundle.json")
    index, observation = _observation(bundle)
    observation["valueQuantity"]["unit"] = "m" * 60_000
    observation["valueQuantity"]["code"] = "m" * 60_000
    paths = _refusal_paths(bundle)
    assert sorted(paths) == [f"Bundle.entry[{index}].resource.valueQuantity.code",
                             f"Bundle.entry[{index}].resource.valueQuantity.unit"]


@pytest.mark.parametrize("value", [1e308, -1e300, 1e16])
def test_a_value_that_cannot_be_a_measurement_is_refused_before_unit_conversion(
    value: float,
) -> None:
    """1e308 g/dL is finite, but becomes infinity once converted to g/L."""
    bundle = load_fhir_fixture("lupus_bundle.json")
    index, observation = _observation(bundle)
    observation["valueQuantity"]["value"] = value
    assert _refusal_paths(bundle) == [f"Bundle.entry[{index}].resource.valueQuantity.value"]


@pytest.mark.parametrize(("field", "value"), [
    ("effectiveDateTime", "2024-01-01T00:00:00" + "0" * 500),
    ("id", "x" * 10_000),
])
def test_oversized_times_and_identifiers_are_refused_with_their_path(
    field: str, value: str
) -> None:
    bundle = load_fhir_fixture("lupus_bundle.json")
    index, observation = _observation(bundle)
    observation[field] = value
    assert _refusal_paths(bundle) == [f"Bundle.entry[{index}].resource.{field}"]


def test_a_document_nested_deeper_than_the_limit_is_refused_without_recursion() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(500):
        node["extension"] = [{}]
        node = node["extension"][0]
    bundle = load_fhir_fixture("lupus_bundle.json")
    _, observation = _observation(bundle)
    observation["extension"] = deep["extension"]
    assert any("nested deeper" in p for p in _refusal_reasons(bundle))


def _refusal_reasons(bundle: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        parse_fhir(bundle, source_system="lab")
    return [p.reason for p in refused.value.problems]


def test_the_shipped_fixtures_are_within_every_bound() -> None:
    assert parse_fhir(load_fhir_fixture("lupus_bundle.json"), source_system="lab")
    assert parse_hl7v2((FIXTURES / "hl7v2" / "oru_lupus_labs.hl7").read_bytes())


def _v2_with(segment: str, field: int, value: str) -> str:
    text = (FIXTURES / "hl7v2" / "oru_lupus_labs.hl7").read_text()
    lines = text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    for number, line in enumerate(lines):
        if line.startswith(segment + "|"):
            fields = line.split("|")
            fields[field] = value
            lines[number] = "|".join(fields)
            break
    return "\r".join(lines)


def test_an_hl7_v2_unit_longer_than_its_field_length_is_refused_at_its_field() -> None:
    message = _v2_with("OBX", 6, "m" * 60_000)
    with pytest.raises(InvalidInput) as refused:
        parse_hl7v2(message)
    assert [p.path for p in refused.value.problems] == ["OBX[1].6"]


def test_an_hl7_v2_numeric_value_beyond_any_measurement_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_hl7v2(_v2_with("OBX", 5, "1e308"))
    assert [p.path for p in refused.value.problems] == ["OBX[1].5"]


def test_an_hl7_v2_patient_identifier_longer_than_cx_is_refused_at_pid_3() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_hl7v2(_v2_with("PID", 3, "9" * 5_000))
    assert [p.path for p in refused.value.problems] == ["PID[1].3"]


def test_a_nul_character_anywhere_is_refused_before_it_reaches_a_database() -> None:
    bundle = load_fhir_fixture("lupus_bundle.json")
    index, observation = _observation(bundle)
    observation["code"]["coding"][0]["system"] = "\x00"
    assert _refusal_paths(bundle) == [f"Bundle.entry[{index}].resource.code.coding[0].system"]
    with pytest.raises(InvalidInput):
        parse_hl7v2(_v2_with("PID", 3, "MRN\x001"))


@pytest.mark.parametrize("sent", ["1e-400", "-2.5E-320", "1e-308", "1e400"])
def test_a_fhir_decimal_that_binary_floating_point_cannot_hold_is_refused_not_read_as_another(
    sent: str,
) -> None:
    """FHIR R4 datatypes, decimal: "Rational numbers that have a decimal representation", an
    exact value. ``1e-400`` g/dL (as a hostile sender writes it, in the JSON text itself) is not
    zero, but a float reads it as 0.0; ``-2.5e-320`` and ``1e-308`` as subnormals that have lost
    digits; ``1e400`` as infinity. Each is refused at its path, never read as 0 g/dL."""
    import json

    bundle = load_fhir_fixture("lupus_bundle.json")
    index, observation = _observation(bundle)
    observation["valueQuantity"]["value"] = 7.25
    text = json.dumps(bundle).replace("7.25", sent, 1)
    with pytest.raises(InvalidInput) as refused:
        parse_fhir(text, source_system="lab")
    problems = refused.value.problems
    assert [p.path for p in problems] == [f"Bundle.entry[{index}].resource.valueQuantity.value"]
    assert sent.lower() in problems[0].reason.lower() or "beyond" in problems[0].reason


def test_a_fhir_decimal_zero_written_with_an_exponent_is_still_zero() -> None:
    """``0e-400`` is exactly zero (FHIR R4 decimal): not an underflow, nothing to refuse."""
    import json

    bundle = load_fhir_fixture("lupus_bundle.json")
    _, observation = _observation(bundle)
    observation["valueQuantity"]["value"] = 7.25
    text = json.dumps(bundle).replace("7.25", "0e-400", 1)
    from shared.clinical.bounds import fhir_problems

    assert fhir_problems(json.loads(text, parse_float=__import__("decimal").Decimal)) == []


@pytest.mark.parametrize("value", ["0." + "0" * 400 + "1", "^0." + "0" * 330 + "25"])
def test_an_hl7_v2_number_that_underflows_a_float_is_refused_at_its_field(value: str) -> None:
    """HL7 v2.5.1 NM (2A.3.47) and SN (2A.3.70) are plain decimals with no exponent, so the
    underflow arrives as a long run of zeros; read as a float it would be 0 or a subnormal."""
    value_type = "SN" if value.startswith("^") else "NM"
    message = _v2_with("OBX", 5, value).replace("|NM|", f"|{value_type}|", 1)
    with pytest.raises(InvalidInput) as refused:
        parse_hl7v2(message)
    assert [p.path for p in refused.value.problems] == ["OBX[1].5"]
    assert "underflow" in refused.value.problems[0].reason


@pytest.mark.parametrize("encoding", ["", "^", "^~", "^~\\", "^~\\&#!", "^^\\&", "^ \\&", "^~a&"])
def test_msh_2_that_is_not_the_encoding_characters_is_refused_not_guessed(encoding: str) -> None:
    """HL7 v2.5.1 2.14.9.2: MSH-2 (required) holds the component, repetition, escape and
    subcomponent separators in that order (4 characters; v2.7+ adds the truncation character,
    5). A missing, ``^``-only or over-long MSH-2 is refused at MSH.2, never read with the
    default separators (a guess at what the sender meant)."""
    message = _v2_with("MSH", 1, encoding)
    with pytest.raises(InvalidInput) as refused:
        parse_hl7v2(message)
    problems = refused.value.problems
    assert [p.path for p in problems] == ["MSH.2"]
    assert repr(encoding) in problems[0].reason
    assert "2.14.9.2" in problems[0].reason


@pytest.mark.parametrize("encoding", ["^~\\&", "^~\\&#"])
def test_msh_2_of_four_or_five_encoding_characters_is_read(encoding: str) -> None:
    """4 characters (v2.5.1) or 5 with the truncation character ``#`` (v2.7+ 2.14.9.2)."""
    assert parse_hl7v2(_v2_with("MSH", 1, encoding))
