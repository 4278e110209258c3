"""Two results of one analyte taken at the same instant that disagree: neither is "the latest".

Found by the ``probe`` review (round 2, /work/notes/probe.md row W1). Real feeds carry the same
analyte twice for one instant: two sources merged (metriport/metriport#2650 deduplicates lab
Observations by code, date *and value*, because the same code and date arrive with different
values; bzkf/obds-to-fhir#618: "the same date and the same item but different values" overwrote
each other), and a lab repeating one test on one draw as a second OBX under the same OBR (HL7
v2.5.1 7.4.2.4 OBX-4 sub-ID "to distinguish between multiple OBX segments with the same
observation ID"; CDCgov/data-exchange-hl7#513 validates it).

FHIR R4 Observation.effective[x] is "the clinically relevant time" of each result: two results
with the same one are equally recent, and no rule of either standard makes one replace the other.
Before: ``index.newest_first`` broke the tie by fact id, so the result whose id sorts first
decided: platelets 8 (id "plt-z") and 180 (id "plt-a") at one instant read 180 and she was
ELIGIBLE; a Positive and a Negative hCG at one instant read by id. Now disagreeing results at the
same instant leave the criterion unknown, naming the conflict; the same value twice (one result
sent by two feeds) is still read.

Set-up as ``tests/unit/test_real_feed_examples``: the eligible vignette (platelets 180 on
2026-02-26, NCT06920433 I6.1 platelets >= 20 x 10^9/L, E12 positive hCG excludes, as of
2026-03-01T09:00Z).
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import (
    SNOMED,
    UCUM,
    _add,
    _bundle,
    _observation,
    _oru,
    decide,
    outcome,
)

WHEN = "2026-02-28T09:00:00Z"
OBX_WHEN = "20260228080000+0000"
PLATELETS = "I6.1"


def _platelets(resource_id: str, value: float) -> dict[str, Any]:
    return _observation(resource_id, "777-3", WHEN, valueQuantity={
        "value": value, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"})


def _hcg(resource_id: str, snomed: str) -> dict[str, Any]:
    return _observation(resource_id, "2106-3", WHEN,
                        valueCodeableConcept={"coding": [{"system": SNOMED, "code": snomed}]})


@pytest.mark.parametrize(("low_id", "normal_id"), [("plt-z", "plt-a"), ("plt-a", "plt-z")])
def test_two_platelet_counts_at_one_instant_that_disagree_leave_it_unknown(
    low_id: str, normal_id: str
) -> None:
    decision = decide(_bundle(_add(_platelets(low_id, 8), _platelets(normal_id, 180))))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == PLATELETS)
    assert "same time" in reason, reason


def test_the_same_platelet_count_sent_twice_for_one_instant_is_read() -> None:
    decision = decide(_bundle(_add(_platelets("plt-a", 8), _platelets("plt-z", 8))))
    assert outcome(decision, PLATELETS) == Outcome.FAIL


# HL7 v2.5.1 7.4.2.4: OBX-4 sub-IDs 1 and 2 under one OBR, one OBX-14: a repeat of the test on
# the same draw, 180 then 8 (and the other way round).
@pytest.mark.parametrize("values", [("180", "8"), ("8", "180")])
def test_two_obx_of_one_test_with_sub_ids_at_one_instant_that_disagree_leave_it_unknown(
    values: tuple[str, str],
) -> None:
    first, second = values
    message = _oru(
        "M-SUB",
        f"OBX|1|NM|777-3^Platelets^LN|1|{first}|10*9/L|150-400||||F|||{OBX_WHEN}",
        f"OBX|2|NM|777-3^Platelets^LN|2|{second}|10*9/L|150-400||||F|||{OBX_WHEN}",
    )
    decision = decide(_bundle(), message)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


# SNOMED CT 10828004 Positive / 260385009 Negative: a Positive and a Negative hCG at one
# instant; the Negative is never read in place of the Positive, whatever their ids.
@pytest.mark.parametrize(("positive_id", "negative_id"), [("hcg-z", "hcg-a"), ("hcg-a", "hcg-z")])
def test_a_positive_and_a_negative_hcg_at_one_instant_leave_pregnancy_unknown(
    positive_id: str, negative_id: str
) -> None:
    decision = decide(_bundle(_add(_hcg(positive_id, "10828004"), _hcg(negative_id, "260385009"))))
    assert outcome(decision, "E12") == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
