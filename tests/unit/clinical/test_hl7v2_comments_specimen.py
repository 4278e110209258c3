"""HL7 v2 NTE comments and SPM specimen reject reason / condition are never dropped silently.

Found by the ``probe`` review (/work/notes/probe.md item 9): an ``NTE`` after an OBX ("Specimen
clotted. Result invalid; recollect.") and SPM-21 / SPM-24 were dropped with no note, so a count
the lab declared invalid was read as valid.

Standards: HL7 v2.5.1 7.3.1 ORU^R01: OBSERVATION = OBX {NTE} (the NTE comments on that result)
and SPECIMEN = SPM {OBX} within the ORDER_OBSERVATION group; 2.15.10 NTE (free text);
7.4.3.21 SPM-21 Specimen Reject Reason (CWE, table 0490: EX Expired, QS Quantity not sufficient,
RB Broken container, RC Clotting, RH Hemolysis, RN Contamination, RR Improper storage ...);
7.4.3.24 SPM-24 Specimen Condition (CWE, table 0493: AUT Autolyzed, CLOT Clotted, CON
Contaminated, HEM Hemolyzed, SNR Sample not received; CFU Centrifuged, COOL Cool, FROZ Frozen,
LIVE Live, ROOM Room temperature).

Reading: free text is never read to decide, but an OBX followed by NTE carries a note (a receipt
warning) at ``NTE[k]`` that a comment was not read. A specimen with a reject reason was rejected
by the lab: every result of its order group is kept unread naming ``SPM[k].21``. A condition that
alters what was measured (AUT, CLOT, CON, HEM, SNR), or a code not in table 0493, keeps them
unread naming ``SPM[k].24``; a handling condition (CFU, COOL, FROZ, LIVE, ROOM) is a note.

Engine consequence (eligible vignette, NCT06920433, as of 2026-03-01T09:00Z; I6.1 platelets
>= 20): her own platelets 8 on 2026-02-27 (FHIR), then the lab's 180 on 2026-02-28 from a
clotted specimen. Before: 180 read, ELIGIBLE. After: the 180 is unread, I6.1 unknown, not
eligible (a newer unread result never lets an older one decide, nor itself).
"""

from __future__ import annotations

import pytest

from shared.clinical.fhir import fact_warnings
from shared.clinical.hl7v2 import parse_hl7v2
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

PLATELETS = "I6.1"
OBX = "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20260228080000+0000"
NTE = "NTE|1|L|Specimen clotted. Result invalid; recollect."


def _spm(reject: str = "", condition: str = "") -> str:
    fields = ["SPM", "1", "SP-1^LAB", "", "119297000^Blood specimen^SCT"] + [""] * 16
    fields += [reject, "", "", condition]  # SPM-21 .. SPM-24
    return "|".join(fields)


def _own_low_count() -> dict[str, object]:
    return _observation(
        "plt-own", "777-3", "2026-02-27T09:00:00Z",
        valueQuantity={"value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"},
    )


def _fact(*segments: str):  # type: ignore[no-untyped-def]
    (update,) = parse_hl7v2(_oru("SP1", *segments), source_system="lab")
    (fact,) = update.facts
    return fact


def test_the_spm_fixture_puts_the_reject_reason_at_field_21() -> None:
    assert _spm("RC").split("|")[21] == "RC"
    assert _spm(condition="CLOT").split("|")[24] == "CLOT"


# --- NTE ---------------------------------------------------------------------------------------

def test_a_comment_after_a_result_is_named_in_the_receipt_not_read() -> None:
    fact = _fact(OBX, NTE)
    assert fact.value_quantity is not None  # free text never decides
    warnings = fact_warnings(fact)
    assert any(w.path == "NTE[1]" and "not read" in w.reason for w in warnings), warnings
    # the comment's words are not copied into the fact (free text may name people)
    assert not any("clotted" in w.reason.lower() for w in warnings)


def test_every_comment_after_a_result_is_named() -> None:
    fact = _fact(OBX, NTE, "NTE|2|L|Second line")
    assert {w.path for w in fact_warnings(fact)} >= {"NTE[1]", "NTE[2]"}


def test_a_result_without_a_comment_has_no_comment_note() -> None:
    assert not any(w.path.startswith("NTE") for w in fact_warnings(_fact(OBX)))


# v2.5.1 7.3.1 ORU^R01 ORDER_OBSERVATION: [ORC] OBR {NTE} ... {OBSERVATION}: an NTE right after
# the OBR comments on the order, hence on each of its results (not on another order's).
ORDER_NTE = "NTE|1|L|All results of this order: specimen clotted, recollect."


def test_a_comment_on_the_order_is_named_on_each_of_its_results_not_read() -> None:
    obx_2 = OBX.replace("OBX|1|", "OBX|2|").replace("777-3^Platelets", "26464-8^WBC")
    (update,) = parse_hl7v2(_oru("SP2", ORDER_NTE, OBX, obx_2), source_system="lab")
    assert len(update.facts) == 2
    for fact in update.facts:
        assert fact.value_quantity is not None  # free text never decides
        warnings = fact_warnings(fact)
        assert any(w.path == "NTE[1]" and "not read" in w.reason and "order" in w.reason
                   for w in warnings), warnings
        assert not any("clotted" in w.reason.lower() for w in warnings)


def test_every_comment_on_the_order_is_named_and_a_result_comment_stays_its_own() -> None:
    (update,) = parse_hl7v2(_oru("SP3", ORDER_NTE, "NTE|2||line two", OBX, "NTE|3||on result"),
                            source_system="lab")
    (fact,) = update.facts
    assert {w.path for w in fact_warnings(fact) if w.path.startswith("NTE")} == {
        "NTE[1]", "NTE[2]", "NTE[3]"}


def test_a_comment_on_one_order_is_not_named_on_the_next_order_s_results() -> None:
    second = ["OBR|2|ORD-10|FIL-10|57021-8^CBC^LN|||20260228080000+0000",
              OBX.replace("OBX|1|", "OBX|2|")]
    (update,) = parse_hl7v2(_oru("SP4", ORDER_NTE, OBX, *second), source_system="lab")
    first, other = update.facts
    assert any(w.path == "NTE[1]" for w in fact_warnings(first))
    assert not any(w.path.startswith("NTE") for w in fact_warnings(other))


# --- SPM-21 specimen reject reason ----------------------------------------------------------

@pytest.mark.parametrize(
    "reason", ["RC^Clotting^HL70490", "QS", "RH^Hemolysis^HL70490", "XX^Local"]
)
def test_a_rejected_specimen_keeps_its_results_unread_naming_spm_21(reason: str) -> None:
    fact = _fact(OBX, _spm(reject=reason))
    assert fact.unread is not None
    assert fact.unread.path == "SPM[1].21"
    assert "0490" in fact.unread.reason
    assert fact.value_quantity is None


def test_a_rejected_specimen_makes_i6_1_unknown_and_the_older_count_does_not_decide() -> None:
    before = decide(_bundle(_add(_own_low_count())), _oru("SP2", OBX))
    assert before.status == Status.ELIGIBLE  # the lab's 180 decides when its specimen is fine
    after = decide(_bundle(_add(_own_low_count())), _oru("SP2", OBX, _spm(reject="RC")))
    assert outcome(after, PLATELETS) == Outcome.UNKNOWN
    assert after.status != Status.ELIGIBLE


# --- SPM-24 specimen condition --------------------------------------------------------------

@pytest.mark.parametrize("condition", ["CLOT", "HEM^Hemolyzed^HL70493", "CON", "AUT", "SNR",
                                       "ROOM~CLOT", "BAD^Local^L"])
def test_a_condition_that_alters_the_result_keeps_it_unread_naming_spm_24(condition: str) -> None:
    fact = _fact(OBX, _spm(condition=condition))
    assert fact.unread is not None
    assert fact.unread.path == "SPM[1].24"
    assert "0493" in fact.unread.reason


@pytest.mark.parametrize("condition", ["ROOM", "COOL^Cool^HL70493", "FROZ", "CFU", "LIVE"])
def test_a_handling_condition_is_a_note(condition: str) -> None:
    fact = _fact(OBX, _spm(condition=condition))
    assert fact.unread is None
    assert fact.value_quantity is not None
    assert any(note.path == "SPM[1].24" for note in fact.notes)


def test_a_clotted_specimen_makes_i6_1_unknown() -> None:
    decision = decide(_bundle(_add(_own_low_count())), _oru("SP3", OBX, _spm(condition="CLOT")))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_an_spm_applies_to_its_own_order_group_only() -> None:
    other_obr = "OBR|2|ORD-10|FIL-10|57021-8^CBC^LN|||20260228080000+0000"
    other_obx = OBX.replace("OBX|1|", "OBX|2|")
    (update,) = parse_hl7v2(
        _oru("SP4", OBX, _spm(condition="CLOT"), other_obr, other_obx), source_system="lab"
    )
    first, second = update.facts
    assert first.unread is not None
    assert second.unread is None


def test_a_result_after_the_spm_in_its_group_is_unread_too() -> None:
    (update,) = parse_hl7v2(
        _oru("SP5", _spm(reject="RC"), OBX), source_system="lab"
    )
    (fact,) = update.facts
    assert fact.unread is not None
    assert fact.unread.path == "SPM[1].21"
