"""Which element of a FHIR R4 Quantity names its unit, wherever a Quantity is read.

FHIR R4 datatypes, Quantity (https://hl7.org/fhir/R4/datatypes.html#Quantity):

- ``unit``: "A human-readable form of the unit";
- ``code``: "A computer processable form of the unit in some unit representation system";
- ``system``: "The identification of the system that provides the coded form of the unit";
- invariant qty-3: "If a code for the unit is present, the system SHALL also be present".

So the code decides when its system is UCUM, the display must mean the same, and a code
without a system names no known unit. Before this, a code without a system was passed over
and the display read in its place: ALT ``unit`` "U/L", ``code`` "ukat/L", value 10 was read as
10 U/L, while the receipt showed "ukat/L" (10 ukat/L = 600 U/L), so an ALT 13 times the upper
limit could pass NCT06920433 I6.2. Each case is shaped as a real sender shapes it.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.dosage import read_dosage
from shared.clinical.facts import Quantity
from shared.eligibility.decision import Outcome, Status
from tests.unit.clinical.test_fhir_fidelity import (
    LOINC,
    PLATELETS,
    SNOMED,
    UCUM,
    _observation,
    _read,
    _refused,
)
from tests.unit.test_real_feed_examples import _bundle, _resource, decide, outcome

ALT, HEMOGLOBIN, WEIGHT, GLUCOSE = "1742-6", "718-7", "29463-7", "2345-7"
QTY_3 = "qty-3"


def _alt(**quantity: Any) -> dict[str, Any]:
    return _observation(ALT, valueQuantity={"value": 10, **quantity})


# --- qty-3: a code without a system ------------------------------------------------------


def test_an_alt_unit_code_without_a_system_is_refused_at_its_code_not_read_from_unit() -> None:
    problems = _refused(_alt(unit="U/L", code="ukat/L"))
    assert len(problems) == 1
    assert problems[0].startswith("Observation.valueQuantity.code:")
    assert QTY_3 in problems[0]
    assert "'ukat/L'" in problems[0]


def test_a_unit_code_without_a_system_is_refused_even_when_it_matches_the_display() -> None:
    # qty-3 is an invariant of the datatype: the code names a unit in no known system
    problems = _refused(_observation(PLATELETS, valueQuantity={
        "value": 150, "unit": "10*9/L", "code": "10*9/L"}))
    assert [p.split(":")[0] for p in problems] == ["Observation.valueQuantity.code"]


def test_a_code_without_a_system_of_an_uncatalogued_analyte_is_refused_too() -> None:
    problems = _refused(_observation(GLUCOSE, valueQuantity={
        "value": 5.4, "unit": "mmol/L", "code": "mmol/L"}))
    assert problems[0].startswith("Observation.valueQuantity.code:")


# FHIR R4 Quantity: unit and system without a code (qty-3 holds): the display is read.
def test_a_system_without_a_code_reads_the_unit_display() -> None:
    fact = _read(_alt(unit="U/L", system=UCUM))
    assert fact.value_quantity == Quantity(value=10, unit="U/L")


# FHIR R4 Quantity: unit alone (qty-3 holds: no code) is read as UCUM, else the alias table.
def test_a_unit_alone_is_read() -> None:
    fact = _read(_alt(unit="ukat/L"))
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == pytest.approx(600)
    assert fact.value_quantity.unit == "U/L"


# --- system UCUM: the code decides, the display must mean the same -------------------------


# UCUM code 10*9/L with the display form "x10^9/L" (as Epic and Cerner display it): the code
# decides; the display is the same unit written for people.
def test_a_ucum_code_with_a_display_form_of_the_same_unit_reads_the_code() -> None:
    fact = _read(_observation(PLATELETS, valueQuantity={
        "value": 150, "unit": "x10^9/L", "system": UCUM, "code": "10*9/L"}))
    assert fact.value_quantity == Quantity(value=150, unit="10*9/L")
    assert fact.notes == ()


# A display that is no unit at all ("per nanolitre" in words) says nothing about the code.
def test_a_ucum_code_with_a_free_text_display_reads_the_code() -> None:
    fact = _read(_alt(unit="microkatal per litre", system=UCUM, code="ukat/L"))
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == pytest.approx(600)


# Nordic labs report ALT in ukat/L and display it "µkat/L" (the micro sign is not UCUM):
# 10 ukat/L = 600 U/L (katal = mol/s, U = umol/min).
def test_an_alt_in_ukat_per_litre_with_a_micro_sign_display_is_converted_from_the_code() -> None:
    fact = _read(_alt(unit="µkat/L", system=UCUM, code="ukat/L"))
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == pytest.approx(600)
    assert fact.value_quantity.unit == "U/L"
    assert fact.received is not None
    assert (fact.received.value, fact.received.unit) == ("10", "ukat/L")


# The UCUM code and a display that reads as another unit of the same kind (U/L is 1/60 of
# ukat/L): the resource contradicts itself; which one the analyser reported is unknown, so it
# is refused at the code rather than read either way.
def test_a_ucum_code_and_a_display_naming_another_unit_are_refused_at_the_code() -> None:
    problems = _refused(_alt(unit="U/L", system=UCUM, code="ukat/L"))
    assert len(problems) == 1
    assert problems[0].startswith("Observation.valueQuantity.code:")
    assert "'ukat/L'" in problems[0]
    assert "'U/L'" in problems[0]


def test_hemoglobin_coded_g_per_l_and_displayed_g_per_ml_is_refused() -> None:
    problems = _refused(_observation(HEMOGLOBIN, valueQuantity={
        "value": 120, "unit": "g/mL", "system": UCUM, "code": "g/L"}))
    assert problems[0].startswith("Observation.valueQuantity.code:")


# "IU/L" is U/L for an enzyme (IUB 1961; unit_aliases.yaml, catalytic_concentration).
def test_a_ucum_code_u_per_l_with_the_display_iu_per_l_is_read() -> None:
    fact = _read(_alt(unit="IU/L", system=UCUM, code="U/L"))
    assert fact.value_quantity == Quantity(value=10, unit="U/L")


# "K/uL" is kelvin per microlitre in strict UCUM; as a display beside 10*3/uL it is the
# platelet spelling of the alias table, not a conflict.
def test_a_ucum_code_with_the_us_display_k_per_ul_is_read() -> None:
    fact = _read(_observation(PLATELETS, valueQuantity={
        "value": 150, "unit": "K/uL", "system": UCUM, "code": "10*3/uL"}))
    assert fact.value_quantity == Quantity(value=150, unit="10*9/L")


def test_an_uncatalogued_analyte_whose_code_and_display_differ_is_kept_unread() -> None:
    fact = _read(_observation(GLUCOSE, valueQuantity={
        "value": 90, "unit": "g/L", "system": UCUM, "code": "mg/dL"}))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert fact.unread.path == "Observation.valueQuantity.code"


# --- other unit systems -------------------------------------------------------------------


# SNOMED CT unit concepts (258683005 kilogram) are concept ids, not spellings: the display is
# read, and a note says the code was not.
def test_a_snomed_unit_code_with_a_display_reads_the_display_with_a_note() -> None:
    fact = _read(_observation(WEIGHT, valueQuantity={
        "value": 70, "unit": "kg", "system": SNOMED, "code": "258683005"}))
    assert fact.value_quantity == Quantity(value=70, unit="kg")
    assert [note.path for note in fact.notes] == ["Observation.valueQuantity.code"]
    assert "258683005" in fact.notes[0].reason


def test_a_snomed_unit_code_alone_is_refused_at_the_code() -> None:
    problems = _refused(_observation(WEIGHT, valueQuantity={
        "value": 70, "system": SNOMED, "code": "258683005"}))
    assert problems[0].startswith("Observation.valueQuantity.code:")
    assert "SNOMED" in problems[0]


# --- every other place a Quantity is read ---------------------------------------------


def test_a_reference_range_bound_with_a_code_and_no_system_is_refused_at_its_path() -> None:
    resource = _alt(unit="U/L", system=UCUM, code="U/L")
    resource["referenceRange"] = [{"high": {"value": 35, "unit": "U/L", "code": "ukat/L"}}]
    problems = _refused(resource)
    assert [p.split(":")[0] for p in problems] == ["Observation.referenceRange[0].high.code"]


def test_a_reference_range_bound_whose_code_and_display_differ_is_refused() -> None:
    resource = _alt(unit="U/L", system=UCUM, code="U/L")
    resource["referenceRange"] = [
        {"high": {"value": 35, "unit": "U/L", "system": UCUM, "code": "ukat/L"}}
    ]
    problems = _refused(resource)
    assert [p.split(":")[0] for p in problems] == ["Observation.referenceRange[0].high.code"]


def test_a_reference_range_age_with_a_code_and_no_system_is_refused() -> None:
    resource = _alt(unit="U/L", system=UCUM, code="U/L")
    resource["referenceRange"] = [{
        "high": {"value": 35, "unit": "U/L", "system": UCUM, "code": "U/L"},
        "age": {"low": {"value": 18, "unit": "years", "code": "a"}},
    }]
    problems = _refused(resource)
    assert [p.split(":")[0] for p in problems] == ["Observation.referenceRange[0].age.low.code"]


def test_a_reference_range_age_in_ucum_with_a_word_display_is_read_from_its_code() -> None:
    resource = _alt(unit="U/L", system=UCUM, code="U/L")
    resource["referenceRange"] = [{
        "high": {"value": 35, "unit": "U/L", "system": UCUM, "code": "U/L"},
        "age": {"low": {"value": 18, "unit": "years", "system": UCUM, "code": "a"}},
    }]
    fact = _read(resource)
    assert fact.reference_ranges[0].age_low_years == 18


def test_a_value_range_bound_with_a_code_and_no_system_is_refused() -> None:
    resource = _observation(ALT, valueRange={
        "low": {"value": 10, "unit": "U/L", "code": "ukat/L"},
        "high": {"value": 20, "unit": "U/L", "system": UCUM, "code": "U/L"},
    })
    problems = _refused(resource)
    assert [p.split(":")[0] for p in problems] == ["Observation.valueRange.low.code"]


def test_a_component_value_with_a_code_and_no_system_is_refused() -> None:
    resource = _observation("85354-9")
    resource["component"] = [{
        "code": {"coding": [{"system": LOINC, "code": ALT}]},
        "valueQuantity": {"value": 10, "unit": "U/L", "code": "ukat/L"},
    }]
    problems = _refused(resource)
    assert [p.split(":")[0] for p in problems] == ["Observation.component[0].valueQuantity.code"]


# FHIR R4 Dosage.doseAndRate.doseQuantity is a SimpleQuantity: qty-3 applies.
def _dose(**quantity: Any) -> list[dict[str, Any]]:
    return [{
        "doseAndRate": [{"doseQuantity": {"value": 10, **quantity}}],
        "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
    }]


def test_a_dose_unit_code_without_a_system_is_not_read() -> None:
    dose = read_dosage(_dose(unit="mg", code="mg"), "MedicationRequest.dosageInstruction")
    assert dose is not None
    assert dose.quantity is None
    assert dose.unread is not None
    assert dose.unread.path == "MedicationRequest.dosageInstruction[0].doseAndRate[0]" \
        ".doseQuantity.code"
    assert QTY_3 in dose.unread.reason


def test_a_dose_whose_ucum_code_and_display_differ_is_not_read() -> None:
    dose = read_dosage(_dose(unit="g", system=UCUM, code="mg"), "MedicationRequest.dosage")
    assert dose is not None
    assert dose.quantity is None
    assert dose.unread is not None
    assert dose.unread.path.endswith("doseQuantity.code")


def test_a_dose_in_ucum_with_a_word_display_is_read_from_its_code() -> None:
    dose = read_dosage(_dose(unit="milligram", system=UCUM, code="mg"), "MedicationRequest.d")
    assert dose is not None
    assert dose.quantity == Quantity(value=10, unit="mg/d")


# --- end to end: the ALT criterion of NCT06920433 ---------------------------------------


def _vignette_alt(**quantity: Any) -> dict[str, Any]:
    bundle = _bundle()
    _resource(bundle, ALT)["valueQuantity"] = {"value": 10, **quantity}
    return bundle


def test_an_alt_of_10_ukat_per_l_coded_in_ucum_fails_the_alt_criterion() -> None:
    decision = decide(_vignette_alt(unit="µkat/L", system=UCUM, code="ukat/L"))
    assert outcome(decision, "I6.2") == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


def test_an_alt_of_10_u_per_l_coded_in_ucum_passes_the_alt_criterion() -> None:
    # the control: the same value in U/L is within the limit, so the case above can fail
    decision = decide(_vignette_alt(unit="U/L", system=UCUM, code="U/L"))
    assert outcome(decision, "I6.2") == Outcome.PASS
