"""A negative value of an analyte on a ratio scale is a sender's error, never a result.

Counts, masses, catalytic activities, arbitrary amounts and their ratios have an absolute zero
(UCUM: every catalogued unit but Cel and [degF], which are interval scales with an offset). A
platelet count of -150 x10^9/L read as sent would pass "platelets <= 400" style limits and fail
">= 20" ones by accident: it is refused at the value's path instead, in FHIR R4 and HL7 v2.5.1.
"""

from __future__ import annotations

from shared.clinical.units import negative_refusal
from tests.unit.clinical.test_fhir_fidelity import PLATELETS, UCUM, _observation, _read, _refused
from tests.unit.clinical.test_hl7v2_fidelity import message, only_fact, platelets, problems

TEMPERATURE = "8310-5"


def test_a_negative_fhir_platelet_count_is_refused_at_its_value() -> None:
    refused = _refused(_observation(PLATELETS, valueQuantity={
        "value": -150, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}))
    assert len(refused) == 1
    assert refused[0].startswith("Observation.valueQuantity.value: value -150 is negative:")
    assert "blood cell count cannot be below zero" in refused[0]
    assert "(LOINC 777-3)" in refused[0]


def test_a_negative_hl7v2_platelet_count_is_refused_at_obx_5() -> None:
    # HL7 v2.5.1 ch. 7.4.2.5: OBX-5 of type NM is the value as measured; a count has no sign
    refused = problems(message(platelets("-150")))
    assert len(refused) == 1
    assert refused[0].startswith("OBX[1].5: value -150 is negative:")


def test_a_zero_count_is_read_as_sent() -> None:
    fact = only_fact(message(platelets("0")))
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 0.0
    assert fact.unread is None


def test_a_negative_temperature_is_not_refused_for_its_sign() -> None:
    # Cel is an interval scale: below zero is a number, not an impossibility (the reading
    # itself is left to the criteria, none of which reads a temperature below zero)
    assert negative_refusal(TEMPERATURE, -1.0) is None
    assert negative_refusal(PLATELETS, -1.0) is not None


def test_an_uncatalogued_analyte_keeps_its_sign() -> None:
    # base excess (LOINC 11555-0) is negative in health and is not in the catalogue
    assert negative_refusal("11555-0", -3.0) is None
    fact = _read(_observation("11555-0", valueQuantity={
        "value": -3, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}))
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == -3.0


# HL7 v2.5.1 2A.3.70 SN range ``^low^-^high`` ("the data range is inclusive"): a negative bound
# of a count is refused at OBX-5 once, as a negative single value is, whichever bound it is
# (``^10^-^-20`` was kept unread as "high below its low" instead)
def test_a_negative_bound_of_an_sn_platelet_range_is_refused_once_at_obx_5() -> None:
    for value, negative in (("^-5^-^10", "-5"), ("^10^-^-20", "-20"), ("^-20^-^-10", "-20")):
        refused = problems(message(platelets(value, "SN")))
        assert len(refused) == 1, refused
        assert refused[0].startswith("OBX[1].5: range "), refused
        assert f"value {negative} is negative: a blood cell count cannot be below zero" in (
            refused[0]
        )


def test_an_sn_range_of_an_uncatalogued_analyte_keeps_its_signs() -> None:
    # base excess (LOINC 11555-0) is negative in health: a range -3 to -1 is read as sent
    obx = "OBX|1|SN|11555-0^Base excess^LN||^-3^-^-1|mmol/L||N|||F|||20261128073000+0000"
    quantity = only_fact(message(obx)).value_quantity
    assert quantity is not None
    assert (quantity.comparator, quantity.value, quantity.upper) == (">=", -3.0, -1.0)
