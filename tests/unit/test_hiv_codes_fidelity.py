"""HIV results under the LOINC codes labs really send, read by NCT06920433 E8.

E8 excludes "individuals positive for human immunodeficiency virus (HIV)". The ``hiv`` concept
listed only 56888-1 (HIV 1+2 Ab+HIV1 p24 Ag [Presence] by immunoassay), although its cited
source, the NLM VSAC value set 'Human Immunodeficiency Virus (HIV) Laboratory Test Codes (Ab and
Ag)' (OID 2.16.840.1.113762.1.4.1056.50, published in github.com/canvas-medical/canvas-plugins
canvas_sdk/value_set/v2022/laboratory_test.py), lists the presence tests laboratories report
under other codes: 31201-7 HIV 1+2 Ab [Presence] by immunoassay, 7918-6 HIV 1+2 Ab [Presence] in
Serum, 29893-5 HIV 1 Ab [Presence] by immunoassay, 68961-2 HIV 1 Ab [Presence] by rapid
immunoassay, 35437-3 the oral-fluid rapid test, 18396-2 p24 antigen. A Reactive result under any
of them was read by no criterion: E8 passed on her older negative 56888-1 and the eligible
vignette stayed ELIGIBLE. Each case is the vignette (as of 2026-03-01T09:00:00Z) plus one newer
result as a FHIR R4 Observation or an HL7 v2.5.1 ORU^R01 OBX (CWE, SNOMED CT 11214006
Reactive, the qualifier qualitative.yaml maps to positive).
"""

from __future__ import annotations

import pytest

from shared.eligibility.decision import Outcome, Status
from shared.eligibility.loader import list_trials, load_trial
from tests.unit.test_real_feed_examples import (
    SNOMED,
    _add,
    _bundle,
    _observation,
    _oru,
    decide,
    outcome,
)

LOINC = "http://loinc.org"
REACTIVE = {"coding": [{"system": SNOMED, "code": "11214006", "display": "Reactive"}]}
NON_REACTIVE = {"coding": [{"system": SNOMED, "code": "131194007", "display": "Non-reactive"}]}
VSAC_PRESENCE_CODES = ["31201-7", "7918-6", "29893-5", "68961-2", "80387-4", "30361-0",
                       "5221-7", "18396-2", "35437-3", "105080-6"]


@pytest.mark.parametrize("code", VSAC_PRESENCE_CODES)
def test_a_reactive_hiv_presence_test_under_a_vsac_code_excludes(code: str) -> None:
    reactive = _observation("hiv-new", code, "2026-02-20T09:00:00Z",
                            valueCodeableConcept=REACTIVE)
    decision = decide(_bundle(_add(reactive)))
    assert outcome(decision, "E8") == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


def test_a_non_reactive_31201_7_leaves_her_eligible() -> None:
    negative = _observation("hiv-new", "31201-7", "2026-02-20T09:00:00Z",
                            valueCodeableConcept=NON_REACTIVE)
    assert decide(_bundle(_add(negative))).status == Status.ELIGIBLE


def test_an_hl7_reactive_hiv_1_2_antibody_31201_7_excludes() -> None:
    message = _oru(
        "HIV-1",
        "OBX|1|CWE|31201-7^HIV 1+2 Ab SerPl Ql IA^LN||11214006^Reactive^SCT|||A|||F"
        "|||20260228080000+0000",
        obr="OBR|1|ORD-7|FIL-7|31201-7^HIV 1+2 Ab^LN|||20260228080000+0000",
    )
    decision = decide(_bundle(), message)
    assert outcome(decision, "E8") == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


def test_a_single_band_immunoblot_or_a_viral_load_is_in_no_hiv_value_set() -> None:
    """Deliberately not read as 'HIV positive' (concepts.yaml hiv source): one Western blot band
    (9662-8 gp41, 9664-4 p24) is no result of infection; a number (5223-3 [Units/volume],
    20447-9 HIV-1 RNA copies/mL) needs a cut-off no table holds, and an undetectable viral
    load on treatment must never be her most recent 'HIV' result."""
    tables = load_trial("NCT06920433").tables
    keys = tables.concept("hiv").keys
    for code in ("9662-8", "9664-4", "5223-3", "20447-9"):
        assert f"{LOINC}|{code}" not in keys
    for trial_id in list_trials():
        concept = load_trial(trial_id).tables.concept("hiv")
        assert f"{LOINC}|31201-7" in concept.keys
