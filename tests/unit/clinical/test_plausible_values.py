"""A value no laboratory could have measured is kept unread, never read as if it were true.

``analytes.yaml`` gives, per catalogued analyte, the limits of a possible measured value in its
canonical unit, each with its source (a published extreme: the highest serum creatinine on
record, 73.8 mg/dL, Case Rep Nephrol 2021:6048919; the tallest and heaviest humans and the
lowest and highest body temperatures on record, Guinness World Records; a percentage is at
most 100). A converted value beyond them is a unit typed wrong by a factor (150 umol/L sent as
mg/dL, grams as kilograms, millimetres as centimetres, degrees Fahrenheit as Cel) or a value
typed wrong: kept unread at the value's path (FHIR R4 Observation.valueQuantity.value; HL7
v2.5.1 OBX-5), the reason naming the limit and its source, never the value sent. Both formats
share ``units.convert`` and the catalogue, so both read the same.

Before: every such value was read as sent (creatinine 900 mg/dL, weight 70000 kg, height
1700 cm, temperature 98.6 Cel, CD19 150 %, hemoglobin 400 g/dL, platelets 250000 10*3/uL).
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.facts import ClinicalFact, Quantity
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.clinical.units import beyond_limits, catalogue, units_markdown
from shared.eligibility.decision import Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.clinical.test_fhir_fidelity import UCUM, _observation, _read
from tests.unit.clinical.test_hl7v2_fidelity import message, only_fact
from tests.unit.eligibility.fhir_builder import AS_OF, eligible_patient

CREATININE, WEIGHT, HEIGHT, TEMPERATURE, CD19 = "2160-0", "29463-7", "8302-2", "8310-5", "8117-4"
HEMOGLOBIN, PLATELETS, LEUKOCYTES, NEUTROPHILS, ALT = "718-7", "777-3", "6690-2", "751-8", "1742-6"
ANALYSERS = "Beckman Coulter LH 750"
CREATININE_SOURCE = "doi:10.1155/2021/6048919"


def _quantity(value: float, unit: str, **extra: Any) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit, **extra}


def _unread_for_limit(fact: ClinicalFact, path: str, limit: str, source: str,
                      sent: str) -> None:
    assert fact.value_quantity is None
    assert fact.unread is not None, fact
    assert fact.unread.path == path
    assert limit in fact.unread.reason, fact.unread.reason
    assert source in fact.unread.reason
    assert "the value was not read" in fact.unread.reason
    assert sent not in fact.unread.reason  # the raw value is never echoed


@pytest.mark.parametrize(("loinc", "value", "unit", "limit", "source", "sent"), [
    (CREATININE, 900, "mg/dL", "above 73.8 mg/dL", CREATININE_SOURCE, "900"),
    # a value in umol/L sent as mg/dL (88.4x)
    (CREATININE, 150, "mg/dL", "above 73.8 mg/dL", CREATININE_SOURCE, "150"),
    (CREATININE, 90, "mmol/L", "above 73.8 mg/dL", CREATININE_SOURCE, "90"),
    # grams sent as kilograms, millimetres as centimetres
    (WEIGHT, 70000, "kg", "above 635 kg", "Guinness World Records", "70000"),
    (HEIGHT, 1700, "cm", "above 272 cm", "Guinness World Records", "1700"),
    # degrees Fahrenheit sent as Cel
    (TEMPERATURE, 98.6, "Cel", "above 46.5 Cel", "Guinness World Records", "98.6"),
    (TEMPERATURE, 3.2, "Cel", "below 11.8 Cel", "Guinness World Records", "3.2"),
    (CD19, 150, "%", "above 100 %", "LOINC 8117-4", "150"),
    # 450 g/dL; and 110 (a g/L value) sent as g/dL: whole blood cannot hold more hemoglobin
    # than its red cells do (MCHC at most 40 g/dL)
    (HEMOGLOBIN, 450, "g/dL", "above 400 g/L", "MCHC", "450"),
    (HEMOGLOBIN, 110, "g/dL", "above 400 g/L", "MCHC", "110"),
    # a count per uL sent with the unit 10*3/uL (1000x): no analyser reports it
    (PLATELETS, 250000, "10*3/uL", "above 5000 10*9/L", ANALYSERS, "250000"),
    (PLATELETS, 5001, "10*9/L", "above 5000 10*9/L", ANALYSERS, "5001"),
    (LEUKOCYTES, 7200, "10*3/uL", "above 999.99 10*9/L", "Sysmex XN-L", "7200"),
    (NEUTROPHILS, 4100, "10*9/L", "above 999.99 10*9/L", "neutrophils are leukocytes", "4100"),
])
def test_a_fhir_value_beyond_what_can_be_measured_is_kept_unread(
    loinc: str, value: float, unit: str, limit: str, source: str, sent: str
) -> None:
    fact = _read(_observation(loinc, valueQuantity=_quantity(value, unit)))
    _unread_for_limit(fact, "Observation.valueQuantity.value", limit, source, sent)
    assert fact.received is not None
    assert fact.received.value == str(value)  # kept as sent, for the receipt and audit


@pytest.mark.parametrize(("loinc", "value", "unit", "canonical"), [
    (CREATININE, 73.8, "mg/dL", 73.8),          # at the limit: read
    (CREATININE, 150, "umol/L", 1.6968),
    (WEIGHT, 70000, "g", 70.0),
    (HEIGHT, 1700, "mm", 170.0),
    (TEMPERATURE, 98.6, "[degF]", 37.0),
    (CD19, 100, "%", 100.0),
    (HEMOGLOBIN, 11.0, "g/dL", 110.0),
    (HEMOGLOBIN, 110, "g/L", 110.0),
    (PLATELETS, 5000, "10*3/uL", 5000.0),       # the top of an analyser's operating range
    (PLATELETS, 250000, "/uL", 250.0),
    (LEUKOCYTES, 450, "10*3/uL", 450.0),
])
def test_the_same_numbers_in_their_right_units_are_read(
    loinc: str, value: float, unit: str, canonical: float
) -> None:
    fact = _read(_observation(loinc, valueQuantity=_quantity(value, unit)))
    assert fact.unread is None, fact.unread
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == pytest.approx(canonical, rel=1e-3)


def test_a_fhir_bound_beyond_the_limit_is_kept_unread_too() -> None:
    # "> 1000 mg/dL": no laboratory measured a creatinine above 73.8 mg/dL to report it so
    fact = _read(_observation(CREATININE, valueQuantity=_quantity(1000, "mg/dL",
                                                                  comparator=">")))
    _unread_for_limit(fact, "Observation.valueQuantity.value", "above 73.8 mg/dL",
                      CREATININE_SOURCE, "1000")


def test_a_fhir_range_whose_high_is_beyond_the_limit_is_kept_unread() -> None:
    fact = _read(_observation(CREATININE, valueRange={
        "low": _quantity(50, "mg/dL"), "high": _quantity(900, "mg/dL")}))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert fact.unread.path == "Observation.valueRange.high.value"
    assert "above 73.8 mg/dL" in fact.unread.reason


def _obx(loinc: str, value: str, unit: str, value_type: str = "NM") -> str:
    names = {CREATININE: "Creatinine [Mass/volume] in Serum or Plasma",
             HEMOGLOBIN: "Hemoglobin [Mass/volume] in Blood",
             PLATELETS: "Platelets [#/volume] in Blood by Automated count",
             WEIGHT: "Body weight", TEMPERATURE: "Body temperature"}
    return (f"OBX|1|{value_type}|{loinc}^{names[loinc]}^LN||{value}|{unit}||N|||F|||"
            "20261128073000+0000")


@pytest.mark.parametrize(("obx", "limit"), [
    (_obx(CREATININE, "900", "mg/dL^^UCUM"), "above 73.8 mg/dL"),
    (_obx(CREATININE, "150", "mg/dL"), "above 73.8 mg/dL"),
    (_obx(CREATININE, ">^1000", "mg/dL", "SN"), "above 73.8 mg/dL"),
    (_obx(CREATININE, "^50^-^900", "mg/dL", "SN"), "above 73.8 mg/dL"),
    (_obx(CREATININE, ">1000", "mg/dL", "ST"), "above 73.8 mg/dL"),
    (_obx(WEIGHT, "70000", "kg"), "above 635 kg"),
    (_obx(TEMPERATURE, "98.6", "Cel"), "above 46.5 Cel"),
    (_obx(HEMOGLOBIN, "400", "g/dL^^UCUM"), "above 400 g/L"),
    (_obx(PLATELETS, "250000", "10*3/uL^^UCUM"), "above 5000 10*9/L"),
    (_obx(PLATELETS, "250000", "K/uL"), "above 5000 10*9/L"),
])
def test_an_hl7_v2_value_beyond_what_can_be_measured_is_kept_unread_at_obx_5(
    obx: str, limit: str
) -> None:
    fact = only_fact(message(obx))
    assert fact.value_quantity is None
    assert fact.unread is not None, fact
    assert fact.unread.path == "OBX[1].5"
    assert limit in fact.unread.reason
    assert "the value was not read" in fact.unread.reason


@pytest.mark.parametrize("obx", [_obx(CREATININE, "1.70", "mg/dL^^UCUM"),
                                 _obx(CREATININE, "150", "umol/L"),
                                 _obx(TEMPERATURE, "98.6", "[degF]")])
def test_an_hl7_v2_value_within_the_limits_is_read(obx: str) -> None:
    fact = only_fact(message(obx))
    assert fact.unread is None, fact.unread
    assert fact.value_quantity is not None


def test_every_limit_has_its_source_and_is_published() -> None:
    text = "\n".join(units_markdown())
    limited = {a.name: a for a in catalogue().values()
               if a.limits is not None or a.measure_limits}
    assert set(limited) >= {"creatinine", "hemoglobin", "blood_cell_count", "body_weight",
                            "body_height",
                            "body_temperature", "cd19_percent", "bilirubin_total",
                            "complement"}
    for analyte in limited.values():
        for limits in (analyte.limits, *(found for _, found in analyte.measure_limits)):
            if limits is not None:
                assert limits.source
                assert limits.source.replace("|", "\\|") in text
    assert "at most 73.8 mg/dL" in text
    assert "at most 75 mg/dL" in text
    assert "complement c4: at most 1.8 g/L" in text
    assert "complement c3: no published limit cited yet: not checked" in text


def test_an_analyte_without_a_published_limit_is_not_checked() -> None:
    # ALT (catalytic activity) has no cited limit: an ALT of 20000 U/L is read as sent
    assert beyond_limits(ALT, Quantity(value=20000.0, unit="U/L")) is None
    fact = _read(_observation(ALT, valueQuantity=_quantity(20000, "U/L")))
    assert fact.value_quantity is not None


def test_a_newer_creatinine_typed_in_the_wrong_unit_leaves_crcl_unknown() -> None:
    # the vignette's creatinine of 2026-02-26 gives CrCl 82.6 mL/min (I6.3 passes); a newer
    # result of 150 "mg/dL" (150 umol/L typed with the wrong unit) read as sent gave a CrCl
    # near 0.5 mL/min: I6.3 failed and the patient was called ineligible on a value no lab
    # measured. Kept unread, I6.3 is unknown and no older result decides in its place.
    builder = eligible_patient()
    builder.lab(CREATININE, 150, "mg/dL", days=1)
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="vignette"))
    decision = evaluate(load_trial("NCT06920433", "2025-11-14.1"), patient, AS_OF)
    i63 = next(c for c in decision.criteria if c.id == "I6.3")
    assert i63.outcome is Outcome.UNKNOWN, i63.reason
    assert any("above 73.8 mg/dL" in m for m in i63.missing), i63.missing
    assert decision.status is Status.UNDETERMINED


# --- the analytes the trials read beyond the first ones (normaliser leftovers) ---------------
# Total bilirubin: Wallach's Interpretation of Diagnostic Tests (Williamson & Snyder, "Bilirubin"):
# "maximum bilirubin is 10-35 mg/dL; if renal disease is present, it may reach 75 mg/dL".
# Complement C4: the reportable range a hospital laboratory publishes for its C4 assay (St.
# Boniface Hospital laboratory manual, "Complement C4 - (S)": reportable range 0.006-1.800 g/L,
# Binding Site Optilite); an acute-phase C4 is at most about twice the upper reference limit.
BILIRUBIN, C3, C4, UPCR, ANA, HCG = "1975-2", "4485-9", "4498-2", "2890-2", "5048-4", "2106-3"
AST, SEDIMENT_RBC, SEDIMENT_WBC = "1920-8", "13945-1", "5821-4"
WALLACH = "Wallach's Interpretation of Diagnostic Tests"
C4_SOURCE = "St. Boniface Hospital"


@pytest.mark.parametrize(("loinc", "value", "unit", "limit", "source", "sent"), [
    (BILIRUBIN, 120, "mg/dL", "above 75 mg/dL", WALLACH, "120"),
    # a bilirubin in umol/L (342 umol/L = 20 mg/dL) sent with the unit mg/dL
    (BILIRUBIN, 342, "mg/dL", "above 75 mg/dL", WALLACH, "342"),
    (BILIRUBIN, 1500, "umol/L", "above 75 mg/dL", WALLACH, "1500"),
    # a C4 in mg/dL (25 mg/dL = 0.25 g/L) sent with the unit g/L
    (C4, 25, "g/L", "above 1.8 g/L", C4_SOURCE, "25"),
])
def test_a_bilirubin_or_c4_beyond_what_can_be_measured_is_kept_unread(
    loinc: str, value: float, unit: str, limit: str, source: str, sent: str
) -> None:
    fact = _read(_observation(loinc, valueQuantity=_quantity(value, unit)))
    _unread_for_limit(fact, "Observation.valueQuantity.value", limit, source, sent)


@pytest.mark.parametrize(("loinc", "value", "unit", "canonical"), [
    (BILIRUBIN, 75, "mg/dL", 75.0),        # at the limit: read
    (BILIRUBIN, 342, "umol/L", 20.0),
    (C4, 1.8, "g/L", 1.8),
    (C4, 25, "mg/dL", 0.25),
    (C3, 25, "g/L", 25.0),                 # C3: no published limit cited yet, not checked
])
def test_bilirubin_and_complement_in_their_right_units_are_read(
    loinc: str, value: float, unit: str, canonical: float
) -> None:
    fact = _read(_observation(loinc, valueQuantity=_quantity(value, unit)))
    assert fact.unread is None, fact.unread
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == pytest.approx(canonical, rel=1e-2)


def test_an_hl7_v2_bilirubin_beyond_the_limit_is_kept_unread_at_obx_5() -> None:
    fact = only_fact(message("OBX|1|NM|1975-2^Bilirubin.total [Mass/volume] in Serum or Plasma"
                             "^LN||342|mg/dL^^UCUM||H|||F|||20261128073000+0000"))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].5"
    assert "above 75 mg/dL" in fact.unread.reason
    assert WALLACH in fact.unread.reason


@pytest.mark.parametrize("loinc", [ALT, AST, BILIRUBIN, UPCR, C3, C4, ANA, HCG, SEDIMENT_RBC,
                                   SEDIMENT_WBC])
def test_a_negative_value_of_an_analyte_the_trials_read_is_refused(loinc: str) -> None:
    # ratio scales (UCUM: every catalogued unit but Cel and [degF]): no result is below zero
    from shared.clinical.units import negative_refusal
    assert negative_refusal(loinc, -1.0) is not None
