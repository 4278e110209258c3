"""Hemoglobin in arterial, venous or capillary blood and a manual neutrophil count read by I6.1.

NCT06920433 I6.1 (bone marrow function): neutrophils >= 0.5 x 10^9/L, hemoglobin >= 60 g/L,
platelets >= 20 x 10^9/L; the protocol names no specimen or method. Before, a newer result
under these LOINC codes was read by no criterion and her older 718-7 / 751-8 result decided:
ELIGIBLE with a hemoglobin of 55 g/L or neutrophils of 0.3 x 10^9/L on record.

- 30313-1 'Hemoglobin [Mass/volume] in Arterial blood' (the HGB code of the HL7 C-CDA sample
  result, which converters carry into FHIR), 30350-3 venous, 30352-9 capillary, 30351-1 mixed
  venous, 75928-2 / 93846-4 [Moles/volume] arterial / venous, 20509-6 / 97550-8 by
  calculation (blood, central venous blood): all in the NLM VSAC value set
  'Hemoglobin lab test' (OID 2.16.840.1.113762.1.4.1248.219, eCQM Update 2025-05-08; published
  in github.com/canvas-medical/canvas-plugins canvas_sdk/value_set/v2026/laboratory_test.py,
  class HemoglobinLabTest).
- 753-4 'Neutrophils [#/volume] in Blood by Manual count' (GECCO laboratory value set in
  github.com/ehrbase/fhir-bridge, UntersuchterAnalytDefiningCode.java, beside 751-8 automated
  and 26499-4).
"""

from __future__ import annotations

import pytest

from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import (
    UCUM,
    _add,
    _bundle,
    _observation,
    _oru,
    decide,
    outcome,
)

BONE_MARROW = "I6.1"


def _quantity(value: float, unit: str) -> dict[str, object]:
    return {"valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


@pytest.mark.parametrize(
    ("code", "value", "unit"),
    [("30313-1", 5.5, "g/dL"), ("30350-3", 5.5, "g/dL"), ("30352-9", 55, "g/L"),
     ("30351-1", 5.5, "g/dL"), ("75928-2", 3.4, "mmol/L"), ("93846-4", 3.4, "mmol/L"),
     ("20509-6", 5.5, "g/dL"), ("97550-8", 5.5, "g/dL")],
)
def test_a_low_hemoglobin_in_any_blood_specimen_fails_bone_marrow_function(
    code: str, value: float, unit: str
) -> None:
    low = _observation("hb-new", code, "2026-02-28T09:00:00Z", **_quantity(value, unit))
    decision = decide(_bundle(_add(low)))
    assert outcome(decision, BONE_MARROW) == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


def test_a_normal_arterial_hemoglobin_leaves_her_eligible() -> None:
    normal = _observation("hb-new", "30313-1", "2026-02-28T09:00:00Z", **_quantity(12.1, "g/dL"))
    assert decide(_bundle(_add(normal))).status == Status.ELIGIBLE


def test_an_hl7_arterial_hemoglobin_30313_1_is_read() -> None:
    message = _oru("HB-ART", "OBX|1|NM|30313-1^HGB^LN||5.5|g/dL^^UCUM|12.0-16.0|L|||F"
                   "|||20260228080000+0000")
    decision = decide(_bundle(), message)
    assert outcome(decision, BONE_MARROW) == Outcome.FAIL


def test_a_low_manual_neutrophil_count_753_4_fails_bone_marrow_function() -> None:
    low = _observation("anc-new", "753-4", "2026-02-28T09:00:00Z", **_quantity(0.3, "10*9/L"))
    decision = decide(_bundle(_add(low)))
    assert outcome(decision, BONE_MARROW) == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE
