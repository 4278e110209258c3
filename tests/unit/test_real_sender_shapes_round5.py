"""Probe round 5: real-sender shapes found silently wrong, through normaliser and engine.

Each case is the eligible vignette of NCT06920433 (as of 2026-03-01T09:00:00Z, see
``test_real_feed_examples``) with one entry changed or added, or the vignette plus a small HL7
v2 message, as the cited sender or standard writes it. Before the fix each was read as
something it is not and left her ELIGIBLE; now each is read exactly, refused with its path,
or kept unread so that the criterion reading it is ``unknown``. The round's full table
(shapes read, refused, unread, and the probe script) is in ``/work/notes/probe5.md``.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import (
    SNOMED,
    UCUM,
    Json,
    _add,
    _bundle,
    _observation,
    _oru,
    _problems,
    _reason,
    decide,
    outcome,
)

OBX_WHEN = "20260228080000+0000"
PLATELETS = "I6.1"  # bone marrow function: platelets >= 20e9/L (NCT06920433)


def _platelets(value: str, units: str) -> str:
    return f"OBX|1|NM|777-3^Platelets^LN||{value}|{units}|150-400||||F|||{OBX_WHEN}"


# --- OBX-6 whose alternate identifier names another unit ------------------------------------


# HL7 v2.5.1 7.4.2.6: OBX-6 units is CE (CWE from v2.6); 2A.3.8 CE / 2A.3.13 CWE: components
# 4-6 are the alternate identifier, "an alternate code for the same concept" as components
# 1-3 (a lab's local unit code beside the UCUM one: '10*9/L^^UCUM^K/uL^^L', as NIST LRI
# test messages and LabCorp feeds send). An OBX-6 whose two codes name units a thousand
# times apart ('10*9/L^^UCUM^10*6/L^^UCUM') contradicts itself: which unit the value is in
# is unknown. Before, the first was read and the second ignored: 25 read as 25 x 10^9/L
# (25 x 10^6/L is 0.025 x 10^9/L, far below 20): I6.1 met, ELIGIBLE, no trace. Now refused
# at OBX[1].6, as CE-2 naming another unit already was and as round 4 refused an OBX-3 whose
# alternate names another analyte.
@pytest.mark.parametrize(
    ("value", "units"),
    [("25", "10*9/L^^UCUM^10*6/L^^UCUM"), ("25000", "10*6/L^^UCUM^10*9/L^^UCUM"),
     ("25", "10*9/L^Thousand per microliter^UCUM^/uL^per microliter^UCUM")],
    ids=["giga-then-mega", "mega-then-giga", "giga-then-per-microlitre"],
)
def test_an_obx_6_whose_alternate_names_another_unit_is_refused_at_obx_6(
    value: str, units: str
) -> None:
    problems = _problems(lambda: decide(_bundle(), _oru("M-U5", _platelets(value, units))))
    assert any(p.startswith("OBX[1].6: ") and "alternate identifier" in p for p in problems)


# The same unit coded twice (UCUM and the lab's own spelling, or two UCUM spellings of one
# unit) is one concept, as the standard says: read.
@pytest.mark.parametrize(
    "units",
    ["10*9/L^^UCUM^K/uL^^L", "K/uL^^L^10*3/uL^^UCUM", "10*9/L^^UCUM^10*3/uL^^UCUM",
     "10*9/L^^UCUM^x10E3/uL^^99LAB"],
)
def test_an_obx_6_whose_alternate_names_the_same_unit_is_read(units: str) -> None:
    decision = decide(_bundle(), _oru("M-U5", _platelets("8", units)))
    assert outcome(decision, PLATELETS) == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


# --- two reference ranges for the same population ---------------------------------------------

LIVER = "I6.2"  # ALT and AST <= 3 x ULN, bilirubin <= 2 x ULN (NCT06920433)
ALT = {"value": 150, "unit": "U/L", "system": UCUM, "code": "U/L"}


def _alt(*ranges: Json) -> Json:
    return _observation("alt-5", "1742-6", "2026-02-28T09:00:00Z", valueQuantity=ALT,
                        referenceRange=list(ranges))


def _high(value: float, **restriction: Any) -> Json:
    return {"high": {**ALT, "value": value}, **restriction}


FEMALE = {"appliesTo": [{"coding": [{"system": SNOMED, "code": "248152002"}]}]}


# FHIR R4 Observation.referenceRange (0..*): "Multiple reference ranges are interpreted as an
# 'OR'. In other words, to represent two distinct target populations, two referenceRange
# elements would be used"; the population an entry is for is told by appliesTo and age. Two
# entries for the same population (both unrestricted, or both for women) with different upper
# limits (an EHR merging two analysers' ranges, or a lab's old and new range) do not say
# which is her laboratory's limit of normal. Before, the first was used: ALT 150 U/L against
# ULN 56 (3 x ULN 168) met I6.2, ELIGIBLE, although against 35 (3 x ULN 105) it fails. Now the
# limit of normal is unknown and I6.2 with it.
@pytest.mark.parametrize(
    "ranges",
    [(_high(56), _high(35)), (_high(56, **FEMALE), _high(35, **FEMALE))],
    ids=["two-unrestricted", "two-for-women"],
)
def test_two_reference_ranges_for_the_same_population_leave_the_uln_unknown(
    ranges: tuple[Json, ...],
) -> None:
    decision = decide(_bundle(_add(_alt(*ranges))))
    assert outcome(decision, LIVER) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    assert "reference ranges" in _reason(decision, LIVER)


# Ranges for different populations are chosen between as before (hers, the more specific
# one); the same range sent twice is one range.
@pytest.mark.parametrize(
    ("ranges", "expected"),
    [((_high(56), _high(56)), Outcome.PASS),
     ((_high(56, appliesTo=[{"coding": [{"system": SNOMED, "code": "248153007"}]}]),
       _high(35, **FEMALE)), Outcome.FAIL),
     ((_high(56), _high(35, **FEMALE)), Outcome.FAIL)],
    ids=["same-range-twice", "male-and-female", "unrestricted-and-female"],
)
def test_reference_ranges_for_different_populations_are_still_chosen_between(
    ranges: tuple[Json, ...], expected: Outcome,
) -> None:
    assert outcome(decide(_bundle(_add(_alt(*ranges)))), LIVER) == expected



# --- a platelet count by manual count --------------------------------------------------------


# LOINC 778-1 "Platelets [#/volume] in Blood by Manual count" is the platelet count a lab
# reports when the analyser count is flagged (clumps, giant platelets) and a technologist
# counts by hand; the German Corona Consensus (GECCO) laboratory value set lists it beside
# 777-3 and 26515-7 (unit 10*3/uL), and MIMIC-IV maps its manual platelet item to it. Before,
# 778-1 was not catalogued: a newer manual count of 8 was ignored as an unknown test, the older
# automated 180 decided I6.1, ELIGIBLE. Now read as a platelet count (criterion: platelets
# >= 20 x 10^9/L, whatever the counting method).
def test_a_newer_manual_platelet_count_decides() -> None:
    count = {"value": 8, "unit": "10*3/uL", "system": UCUM, "code": "10*3/uL"}
    manual = _observation("plt-manual", "778-1", "2026-02-28T09:00:00Z", valueQuantity=count)
    decision = decide(_bundle(_add(manual)))
    assert outcome(decision, PLATELETS) == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


def test_an_hl7_manual_platelet_count_decides() -> None:
    obx = f"OBX|1|NM|778-1^Platelets manual^LN||8|10*3/uL|150-400|L|||F|||{OBX_WHEN}"
    assert outcome(decide(_bundle(), _oru("M-MAN", obx)), PLATELETS) == Outcome.FAIL



# --- a result under an order its ORC says was cancelled --------------------------------------


def _under_orc(orc: str, value: str) -> str:
    return _oru("M-ORC", f"OBX|1|NM|777-3^Platelets^LN||{value}|10*9/L|150-400||||F|||{OBX_WHEN}",
                obr=f"{orc}\rOBR|1|ORD-9|FIL-9|57021-8^CBC^LN|||{OBX_WHEN}")


# HL7 v2.5.1 4.5.1.1 ORC-1 Order Control (table 0119): CA "Cancel order/service request", OC
# "Order/service canceled", CR "Canceled as requested"; 4.5.1.5 ORC-5 Order Status (table
# 0038): CA "Order was canceled". An ORU^R01 whose ORC says the order was cancelled, with a
# valued OBX beside it, contradicts itself as OBR-25 X ("No results available; Order
# canceled", already unread) does: which is right is unknown. Before, the ORC was not looked
# at: a count of 150 under a cancelled order passed I6.1 (ELIGIBLE), one of 8 failed it. Now
# the value is kept unread at ORC[n].1 / ORC[n].5, I6.1 unknown whatever the value.
@pytest.mark.parametrize("value", ["150", "8"])
@pytest.mark.parametrize(
    ("orc", "table"),
    [("ORC|CA|ORD-9|FIL-9", "table 0119"), ("ORC|OC|ORD-9|FIL-9", "table 0119"),
     ("ORC|CR|ORD-9|FIL-9", "table 0119"), ("ORC|RE|ORD-9|FIL-9||CA", "table 0038")],
    ids=["orc-1-CA", "orc-1-OC", "orc-1-CR", "orc-5-CA"],
)
def test_a_value_under_an_order_its_orc_says_was_cancelled_leaves_i6_1_unknown(
    orc: str, table: str, value: str
) -> None:
    decision = decide(_bundle(), _under_orc(orc, value))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    assert f"{table}) says it was cancelled" in _reason(decision, PLATELETS)


# The ordinary result message (ORC-1 RE "Observations/Performed Service to follow", ORC-5 CM
# "Order is completed") is read as before.
@pytest.mark.parametrize("orc", ["ORC|RE|ORD-9|FIL-9", "ORC|RE|ORD-9|FIL-9||CM"])
def test_a_value_under_an_ordinary_orc_is_read(orc: str) -> None:
    assert outcome(decide(_bundle(), _under_orc(orc, "8")), PLATELETS) == Outcome.FAIL
