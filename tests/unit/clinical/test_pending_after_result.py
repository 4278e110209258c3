"""A result re-sent as pending after it was resulted never lets an older result decide.

Each case is the eligible vignette (platelets 180 x10^9/L on 2026-02-26, as of
2026-03-01T09:00:00Z, NCT06920433 I6.1 platelets >= 20) plus a newer platelet count of 5
x10^9/L, then a later message or version of that same result saying it is pending.

Standards that decide the reading:
- HL7 v2.5.1 table 0085 (OBX-11, 7.4.2.11): F "Final results; Can only be changed with a
  corrected result"; C "Record coming over is a correction and thus replaces a final result";
  D/W withdraw it; I "Specimen in lab; results pending", O "Order detail description only (no
  result)". I or O after F is no change the table allows.
- FHIR R4 observation-status (Observation.status): registered "The existence of the observation
  is registered, but there is no result yet available" comes before preliminary and final; a
  final result is changed by amended/corrected or withdrawn by entered-in-error.

Before: the pending version replaced the final 5 and, being a result not yet produced, was
ignored, so the older 180 decided and she was ELIGIBLE. Now the result stands in doubt (kept
unread, naming the pending status): I6.1 is unknown until the lab sends a value again.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.test_real_feed_examples import (
    AS_OF,
    UCUM,
    _add,
    _bundle,
    _observation,
    _oru,
    decide,
    outcome,
)

PLATELETS = "I6.1"


def _obx(status: str, value: str) -> str:
    unit = "10*9/L^^UCUM" if value else ""
    return f"OBX|1|NM|777-3^Platelets^LN||{value}|{unit}|150-400||||{status}|||20260228080000+0000"


def test_a_final_hl7_result_stays_low_when_nothing_changes_it() -> None:
    decision = decide(_bundle(), _oru("M1", _obx("F", "5")))
    assert decision.status == Status.INELIGIBLE


@pytest.mark.parametrize("pending", ["I", "O"])
def test_a_final_hl7_result_re_sent_as_pending_leaves_i6_1_unknown(pending: str) -> None:
    decision = decide(
        _bundle(),
        _oru("M1", _obx("F", "5")),
        _oru("M2", _obx(pending, ""), at="20260228120000+0000"),
    )
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == PLATELETS)
    assert "pending" in reason


def test_a_pending_hl7_result_then_its_final_value_reads_the_value() -> None:
    decision = decide(
        _bundle(),
        _oru("M1", _obx("I", "")),
        _oru("M2", _obx("F", "5"), at="20260228120000+0000"),
    )
    assert decision.status == Status.INELIGIBLE


def test_a_final_fhir_result_re_sent_as_registered_leaves_i6_1_unknown() -> None:
    value: dict[str, Any] = {
        "valueQuantity": {"value": 5, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}
    }
    final = _observation("plt-new", "777-3", "2026-02-28T08:00:00Z", **value)
    final["resource"]["meta"] = {"versionId": "1"}
    registered = _observation("plt-new", "777-3", "2026-02-28T08:00:00Z")
    registered["resource"].update(status="registered", meta={"versionId": "2"})
    updates = parse_fhir(_bundle(_add(final)), source_system="test-ehr")
    updates += parse_fhir(_bundle(_add(registered)), source_system="test-ehr")
    decision = evaluate(load_trial("NCT06920433"), facts_from_updates(updates), AS_OF)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
