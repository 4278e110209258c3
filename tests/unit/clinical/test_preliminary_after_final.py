"""A preliminary result sent after the final one is no change the standards allow: in doubt.

Found by the ``probe`` review (/work/notes/probe.md, table row H29) and the refrange brief.
Same set-up as ``test_final_results_disagree``: the eligible vignette (platelets 180 on
2026-02-26, NCT06920433 I6.1 platelets >= 20, as of 2026-03-01T09:00Z) plus a lab CBC.

Standards: HL7 v2.5.1 table 0085 (OBX-11): F "Final results; Can only be changed with a
corrected result" (C), P "Preliminary results"; a P for the same observation after its F is a
change without a correction. FHIR R4 observation-status: preliminary ("the observation is
available but may change") comes before final; a result modified after final is ``amended`` or
``corrected``, never ``preliminary`` again.

Before (main at 89f104d): ``state.apply_update`` let the P replace the F. F 5 then P 180 then F
180 (no C) read 180 and she was ELIGIBLE: the preliminary laundered the final's change past the
"two finals disagree" rule of 00c5e31 (that rule looks only at a final after a final). And F 5
then the same P 5 made I6.1 unknown (the preliminary is not read), although nothing changed.
Now a preliminary with another value keeps the result in doubt (unread, naming table 0085 and
the preliminary status, echoing neither value) until a correction or withdrawal; the same value
is no change (the final stands).
"""

from __future__ import annotations

from shared.eligibility.decision import Outcome, Status
from tests.unit.clinical.test_final_results_disagree import (
    FIRST,
    PLATELETS,
    _cbc,
    _decide,
    _fhir_decide,
    _fhir_platelets,
    _lab_platelets,
    _state,
)
from tests.unit.test_real_feed_examples import outcome

PRELIMINARY_180 = _cbc("LAB000170", "20260228120000+0000", "180", status="P")
FINAL_180 = _cbc("LAB000187", "20260228143000+0000", "180")


def test_a_preliminary_with_another_value_after_the_final_keeps_it_in_doubt() -> None:
    fact = _lab_platelets(_state(FIRST, PRELIMINARY_180))
    assert fact.unread is not None
    assert "table 0085" in fact.unread.reason
    assert "preliminary" in fact.unread.reason
    assert "180" not in fact.unread.reason
    assert fact.value_quantity is None
    decision = _decide(FIRST, PRELIMINARY_180)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_a_final_after_the_preliminary_does_not_launder_the_change() -> None:
    decision = _decide(FIRST, PRELIMINARY_180, FINAL_180)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_a_preliminary_with_the_same_value_after_the_final_is_no_change() -> None:
    same = _cbc("LAB000170", "20260228120000+0000", "5", status="P")
    state = _state(FIRST, same)
    assert _lab_platelets(state).unread is None
    assert _lab_platelets(state).status == "final"
    assert _decide(FIRST, same).status == Status.INELIGIBLE


def test_a_correction_after_the_preliminary_resolves_it() -> None:
    correction = _cbc("LAB000201", "20260228160000+0000", "180", status="C")
    assert _decide(FIRST, PRELIMINARY_180, correction).status == Status.ELIGIBLE


def test_a_preliminary_before_the_final_is_replaced_by_it_as_always() -> None:
    early = _cbc("LAB000100", "20260228090000+0000", "180", status="P")
    assert _decide(early, FIRST).status == Status.INELIGIBLE


def test_a_fhir_preliminary_version_after_final_with_another_value_is_in_doubt() -> None:
    decision = _fhir_decide(
        _fhir_platelets("1", "final", 5),
        _fhir_platelets("2", "preliminary", 180),
        _fhir_platelets("3", "final", 180),
    )
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_a_fhir_preliminary_version_after_final_with_the_same_value_is_no_change() -> None:
    decision = _fhir_decide(
        _fhir_platelets("1", "final", 5), _fhir_platelets("2", "preliminary", 5)
    )
    assert decision.status == Status.INELIGIBLE
