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

from shared.clinical.errors import InvalidInput
from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import _bundle, _oru, decide, outcome

OBX_WHEN = "20260228080000+0000"
PLATELETS = "I6.1"  # bone marrow function: platelets >= 20e9/L (NCT06920433)


def _problems(call: Any) -> tuple[str, ...]:
    with pytest.raises(InvalidInput) as refused:
        call()
    return tuple(str(problem) for problem in refused.value.problems)


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
