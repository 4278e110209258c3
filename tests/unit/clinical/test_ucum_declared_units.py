"""A unit the sender declares to be UCUM is read as UCUM says, never through the alias table.

UCUM 2.2 (https://ucum.org/ucum, section 4.3 table 15 "base units"): ``K`` is the kelvin. So
``K/uL`` *declared* UCUM (FHIR R4 Quantity ``system`` http://unitsofmeasure.org with ``code``
"K/uL"; HL7 v2.5.1 OBX-6 CE ``K/uL^^UCUM``, CE-3 naming table 0396 "UCUM") is kelvin per
microlitre, which is no count: refused for a platelet count, naming what it is. The alias
``K/uL`` -> ``10*3/uL`` (``unit_aliases.yaml``) is for the same string sent as a lab's own
spelling (OBX-6 with no coding system or a local one such as "L" / "99QDI"; FHIR ``unit``
without ``code``), where US reference labs use "K" for thousand; it still reads there, with a
note.
"""

from __future__ import annotations

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.clinical.units import convert
from tests.unit.clinical.test_fhir_fidelity import PLATELETS, UCUM, _observation, _read, _refused


def _oru(unit: str) -> str:
    return (
        "MSH|^~\\&|LAB|CITY-LAB|TW|TW|20260228093000+0000||ORU^R01^ORU_R01|M-K|P|2.5.1\r"
        "PID|1||MRN-1^^^CITY^MR||Roe^Jane||19900510|F\r"
        "OBR|1|ORD-1|FIL-1|57021-8^CBC^LN|||20260228070000+0000\r"
        f"OBX|1|NM|777-3^Platelets^LN||8|{unit}|150-400|LL|||F|||20260228070000+0000\r"
    )


def test_a_fhir_platelet_count_coded_k_per_ul_in_ucum_is_refused_as_kelvin() -> None:
    problems = _refused(_observation(PLATELETS, valueQuantity={
        "value": 8, "unit": "K/uL", "system": UCUM, "code": "K/uL"}))
    assert len(problems) == 1
    assert problems[0].startswith("Observation.valueQuantity.code:")
    assert "kelvin" in problems[0] or "temperature" in problems[0]


def test_an_hl7_platelet_unit_k_per_ul_declared_ucum_is_refused_as_kelvin() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_hl7v2(_oru("K/uL^^UCUM"), source_system="lab")
    problems = [str(p) for p in caught.value.problems]
    assert any(p.startswith("OBX[1].6") and "UCUM" in p for p in problems), problems


@pytest.mark.parametrize("unit", ["K/uL", "K/uL^K/uL^L", "K/uL^thousand per microliter^99QDI"])
def test_an_hl7_platelet_unit_k_per_ul_as_a_labs_own_spelling_reads_as_thousands(
    unit: str,
) -> None:
    patient = facts_from_updates(parse_hl7v2(_oru(unit), source_system="lab"))
    (fact,) = patient.facts
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (8.0, "10*9/L")
    assert any("through the unit alias table" in n.reason for n in fact.notes)


def test_a_fhir_platelet_count_with_k_per_ul_as_display_only_reads_as_thousands() -> None:
    fact = _read(_observation(PLATELETS, valueQuantity={"value": 8, "unit": "K/uL"}))
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 8.0


def test_convert_reads_k_per_ul_through_the_alias_only_when_not_declared_ucum() -> None:
    assert convert(PLATELETS, 8.0, "K/uL").alias is not None
    with pytest.raises(ValueError, match="temperature per volume"):
        convert(PLATELETS, 8.0, "K/uL", declared_ucum=True)
    # a declared UCUM unit that is UCUM for the analyte is unaffected
    assert convert(PLATELETS, 8.0, "10*3/uL", declared_ucum=True).quantity.value == 8.0
