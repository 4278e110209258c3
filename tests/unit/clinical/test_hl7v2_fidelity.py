"""HL7 v2 results read exactly as v2.5.1 defines them, refused with a path, or kept unread.

Messages are built the way lab systems send them (issue 9 kinds 2, 3, 4, 6 and 10). Chapter and
table numbers are those of HL7 v2.5.1.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.facts import ClinicalFact, PatientUpdate
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.clinical.conftest import FIXTURES

MSH = "MSH|^~\\&|LIS|CITY-LAB|TW|TW|{sent}||ORU^R01^ORU_R01|{control}|P|2.5.1{tail}"
PID = "PID|1||MRN-7^^^CITY^MR||Roe^Jane||{birth}|F"
OBR = "OBR|1|{placer}|{filler}|58410-2^CBC panel^LN|||{collected}"


def message(
    *obx: str,
    sent: str = "20261128090000+0000",
    control: str = "MSG-1",
    birth: str = "19900412",
    placer: str = "PLC-1",
    filler: str = "FIL-1",
    collected: str = "20261128073000+0000",
    msh_tail: str = "",
    obr: bool = True,
) -> str:
    segments = [MSH.format(sent=sent, control=control, tail=msh_tail), PID.format(birth=birth)]
    if obr:
        segments.append(OBR.format(placer=placer, filler=filler, collected=collected))
    return "\r".join([*segments, *obx]) + "\r"


def only_fact(text: str | bytes, **kwargs: object) -> ClinicalFact:
    (update,) = parse_hl7v2(text, **kwargs)  # type: ignore[arg-type]
    (fact,) = update.facts
    return fact


def problems(text: str | bytes, **kwargs: object) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_hl7v2(text, **kwargs)  # type: ignore[arg-type]
    return [str(problem) for problem in caught.value.problems]


def platelets(value: str, value_type: str = "NM", unit: str = "10*9/L", status: str = "F") -> str:
    return (
        f"OBX|1|{value_type}|777-3^Platelets [#/volume] in Blood^LN||{value}|{unit}|150-400|"
        f"|||{status}|||20261128073000+0000"
    )


# kind 2: censored, ratio and ranged values (ch. 2A.3.70 SN, 7.4.2.2 OBX-2)


def test_a_platelet_count_sent_as_st_text_below_10_is_a_bound_not_a_value() -> None:
    fact = only_fact(message(platelets("<10", "ST")))
    assert fact.value_quantity is not None
    assert (fact.value_quantity.comparator, fact.value_quantity.value) == ("<", 10.0)
    assert fact.value_quantity.unit == "10*9/L"
    assert fact.unread is None
    assert fact.received is not None
    assert (fact.received.value, fact.received.unit) == ("<10", "10*9/L")
    assert any("sent as ST text" in note.reason for note in fact.notes)


def test_an_sn_titer_below_1_to_80_is_a_titer_bound_below_80() -> None:
    obx = "OBX|1|SN|5048-4^ANA titer^LN||<^1^:^80||<1:80|N|||F|||20261128073000+0000"
    fact = only_fact(message(obx))
    assert fact.value_quantity is not None
    assert (fact.value_quantity.comparator, fact.value_quantity.value) == ("<", 80.0)
    assert fact.value_quantity.unit == "{titer}"
    assert fact.received is not None
    assert fact.received.value == "<1:80"


def test_an_st_titer_above_1_to_320_is_a_titer_bound_above_320() -> None:
    obx = "OBX|1|ST|5048-4^ANA titer^LN||>1:320||||||F|||20261128073000+0000"
    quantity = only_fact(message(obx)).value_quantity
    assert quantity is not None
    assert (quantity.comparator, quantity.value, quantity.unit) == (">", 320.0, "{titer}")


def test_an_sn_range_5_to_10_is_a_value_known_to_lie_in_5_to_10() -> None:
    # v2.5.1 2A.3.70: "If the separator is '-', the data range is inclusive"; the same
    # representation as a FHIR valueRange (>= low, upper = high)
    fact = only_fact(message(platelets("^5^-^10", "SN")))
    assert fact.unread is None
    assert fact.value_quantity is not None
    quantity = fact.value_quantity
    assert (quantity.comparator, quantity.value, quantity.upper) == (">=", 5.0, 10.0)
    assert quantity.unit == "10*9/L"
    assert fact.received is not None
    assert (fact.received.value, fact.received.unit) == ("5-10", "10*9/L")


def test_an_sn_range_is_converted_bound_by_bound_and_a_reversed_one_is_unread() -> None:
    obx = "OBX|1|SN|2160-0^Creatinine^LN||^44.2^-^88.4|umol/L||N|||F|||20261128073000+0000"
    quantity = only_fact(message(obx)).value_quantity
    assert quantity is not None
    assert quantity.unit == "mg/dL"
    assert quantity.value == pytest.approx(0.5, rel=1e-3)
    assert quantity.upper == pytest.approx(1.0, rel=1e-3)
    reversed_range = only_fact(message(platelets("^10^-^5", "SN")))
    assert reversed_range.unread is not None
    assert "high below its low" in reversed_range.unread.reason


def test_sn_range_platelets_5_to_10_fail_the_platelet_criterion() -> None:
    bundle = json.loads((FIXTURES / "vignettes" / "eligible.json").read_text("utf-8"))
    obx = "OBX|1|SN|777-3^Platelets^LN||^5^-^10|10*9/L|150-400|LL|||F|||20260228080000"
    updates = [*parse_fhir(bundle, source_system="ehr"),
               *parse_hl7v2(message(obx, sent="20260228093000-0500"))]
    decision = evaluate(load_trial("NCT06920433", None), facts_from_updates(updates),
                        datetime(2026, 3, 1, 9, tzinfo=UTC))
    assert next(c for c in decision.criteria if c.id == "I6.1").outcome is Outcome.FAIL


def test_an_sn_categorical_2_plus_and_not_equal_are_kept_unread() -> None:
    categorical = only_fact(message(platelets("^2^+", "SN")))
    not_equal = only_fact(message(platelets("<>^5", "SN")))
    assert categorical.unread is not None
    assert "categorical" in categorical.unread.reason
    assert not_equal.unread is not None
    assert "not equal" in not_equal.unread.reason


@pytest.mark.parametrize(
    ("value", "value_type"),
    [("<<10", "ST"), ("<10", "NM"), ("10-20", "ST"), ("ten", "NM"), ("^abc", "SN")],
)
def test_an_unreadable_platelet_value_keeps_its_fact_code_time_and_status_unread(
    value: str, value_type: str
) -> None:
    fact = only_fact(message(platelets(value, value_type)))
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].5"
    assert (fact.value_quantity, fact.value_code) == (None, None)
    assert fact.codes[0].code == "777-3"
    assert fact.status == "final"
    assert fact.effective_start == datetime(2026, 11, 28, 7, 30, tzinfo=UTC)


def test_a_reason_quotes_a_number_but_never_free_text() -> None:
    short = only_fact(message(platelets("<<10", "ST")))
    prose = only_fact(message(platelets("Clumped, called Dr Who", "ST")))
    memo = only_fact(message(platelets("Called Dr Who at home", "TX")))
    assert short.unread is not None
    assert "'<<10'" in short.unread.reason
    for fact in (prose, memo):
        assert fact.unread is not None
        assert "Who" not in fact.model_dump_json()


@pytest.mark.parametrize("value", ["=<^10", "182", "<<^10"])
def test_an_sn_whose_comparator_is_not_one_of_the_standard_set_is_kept_unread(value: str) -> None:
    # "182" is a number put in SN.1 (the leading '^' missing): still not an SN comparator
    fact = only_fact(message(platelets(value, "SN")))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].5"
    assert "is not a comparator" in fact.unread.reason


def test_a_final_result_with_an_empty_value_is_unread_but_a_pending_one_is_not() -> None:
    final = only_fact(message(platelets("", status="F")))
    pending = only_fact(message(platelets("", status="I")))
    assert final.unread is not None
    assert "OBX-5 is empty" in final.unread.reason
    assert pending.unread is None


# kind 3: OBX-2 is required when OBX-5 is valued (7.4.2.2)


def test_a_valued_result_without_a_value_type_is_refused_at_obx_2_never_dropped() -> None:
    obx = "OBX|1||777-3^Platelets^LN||8|10*9/L|150-400|LL|||F|||20261128080000"
    found = problems(message(obx, sent="20261128090000+0000"))
    assert len(found) == 1
    assert found[0].startswith("OBX[1].2: value type (OBX-2) is empty while OBX-5 is valued")


def test_a_cancelled_result_without_value_type_or_value_is_accepted_and_kept_unread() -> None:
    # table 0085 X "results cannot be obtained": accepted (OBX-2 is needed only when OBX-5 is
    # valued) and kept unread at OBX-11, so an older result never decides in its place
    fact = only_fact(message("OBX|1||777-3^Platelets^LN||||||||X"))
    assert fact.status == "cancelled"
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].11"


def test_a_value_type_outside_table_0125_is_refused() -> None:
    assert problems(message(platelets("8", "XX")))[0].startswith("OBX[1].2: value type 'XX'")


# kind 4: times without an offset are the sender's local time (ch. 2A.3.22 DTM)


def test_a_time_without_offset_takes_msh7s_offset() -> None:
    obx = "OBX|1|NM|777-3^Platelets^LN||180|10*9/L||N|||F|||20261127083000"
    fact = only_fact(message(obx, sent="20261127093000-0500"))
    assert fact.effective_start == datetime(2026, 11, 27, 13, 30, tzinfo=UTC)
    assert any("MSH-7's offset UTC-05:00" in note.reason for note in fact.notes)


def test_without_an_msh7_offset_the_configured_zone_is_used_with_its_daylight_saving() -> None:
    new_york = ZoneInfo("America/New_York")
    summer = "OBX|1|NM|777-3^Platelets^LN||180|10*9/L||N|||F|||20260715083000"
    winter = "OBX|1|NM|777-3^Platelets^LN||180|10*9/L||N|||F|||20261127083000"
    sent = "20261127093000"
    assert only_fact(message(summer, sent=sent), sender_zone=new_york).effective_start == (
        datetime(2026, 7, 15, 12, 30, tzinfo=UTC)
    )
    assert only_fact(message(winter, sent=sent), sender_zone=new_york).effective_start == (
        datetime(2026, 11, 27, 13, 30, tzinfo=UTC)
    )


def test_without_any_offset_or_zone_a_result_time_is_refused_not_read_as_utc() -> None:
    obx = "OBX|1|NM|777-3^Platelets^LN||180|10*9/L||N|||F|||20261127083000"
    found = problems(message(obx, sent="20261127093000"))
    assert len(found) == 1
    assert found[0].startswith("OBX[1].14: time '20261127083000' has no UTC offset")


def test_a_result_time_with_its_own_offset_needs_no_zone() -> None:
    obx = "OBX|1|NM|777-3^Platelets^LN||180|10*9/L||N|||F|||20261127083000+0100"
    fact = only_fact(message(obx, sent="20261127093000"))
    assert fact.effective_start == datetime(2026, 11, 27, 7, 30, tzinfo=UTC)


def test_without_obx14_the_time_is_obr7_of_the_same_order_group_and_says_so() -> None:
    fact = only_fact(message("OBX|1|NM|777-3^Platelets^LN||180|10*9/L||N|||F"))
    assert fact.effective_start == datetime(2026, 11, 28, 7, 30, tzinfo=UTC)
    assert any(note.path == "OBR[1].7" for note in fact.notes)


def test_an_order_group_without_obr_never_borrows_the_previous_groups_time() -> None:
    text = message(
        "OBX|1|NM|777-3^Platelets^LN||180|10*9/L||N|||F",
        "ORC|RE|PLC-2|FIL-2",
        "OBX|1|NM|718-7^Hemoglobin^LN||120|g/L||N|||F",
    )
    (update,) = parse_hl7v2(text)
    first, second = update.facts
    assert first.effective_start == datetime(2026, 11, 28, 7, 30, tzinfo=UTC)
    # the second group has no OBR-7 and no OBX-14: dated at MSH-7 (an upper bound), unread
    assert second.effective_start == datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert second.value_quantity is None
    assert second.unread is not None
    assert "no observation time" in second.unread.reason


# kind 6: result status (table 0085) and result identity


def correction(value: str, status: str, control: str, filler: str = "FIL-1") -> str:
    return message(
        platelets(value, status=status), control=control, filler=filler,
        sent=f"2026112{control[-1]}090000+0000",
    )


def test_a_corrected_result_replaces_the_final_one_of_the_same_order_and_observation() -> None:
    first = parse_hl7v2(correction("150", "F", "MSG-1"))
    second = parse_hl7v2(correction("15", "C", "MSG-2"))
    assert first[0].facts[0].fact_id == second[0].facts[0].fact_id
    state = facts_from_updates([*first, *second])
    (fact,) = state.facts
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.status) == (15.0, "corrected")
    assert fact.provenance.resource == "HL7v2/MSG-2/OBX/1"


def test_the_original_message_re_sent_after_its_correction_does_not_undo_it() -> None:
    # an interface engine replaying its queue sends message 1 again, after message 2
    first = parse_hl7v2(correction("150", "F", "MSG-1"))
    second = parse_hl7v2(correction("15", "C", "MSG-2"))
    (fact,) = facts_from_updates([*first, *second, *first]).facts
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.status) == (15.0, "corrected")
    assert fact.provenance.version == "20261122090000000000"  # MSH-7 of message 2, UTC


@pytest.mark.parametrize("status", ["W", "D"])
def test_a_result_posted_as_wrong_or_deleted_withdraws_the_earlier_one(status: str) -> None:
    first = parse_hl7v2(correction("150", "F", "MSG-1"))
    second = parse_hl7v2(correction("", status, "MSG-2"))
    (fact,) = facts_from_updates([*first, *second]).facts
    assert fact.status == "entered-in-error"


def test_without_a_filler_number_the_placer_number_identifies_the_order() -> None:
    first = only_fact(message(platelets("150"), filler="", control="A"))
    second = only_fact(message(platelets("15", status="C"), filler="", control="B"))
    other_order = only_fact(message(platelets("150"), filler="", placer="PLC-9", control="C"))
    assert first.fact_id == second.fact_id != other_order.fact_id


def test_a_correction_whose_order_has_no_number_is_refused() -> None:
    found = problems(message(platelets("15", status="C"), filler="", placer=""))
    assert found[0].startswith("OBR[1].3: a result with status C")


def test_results_differing_only_in_sub_id_or_order_are_different_facts() -> None:
    text = message(
        "OBX|1|NM|777-3^Platelets^LN|1|150|10*9/L||N|||F|||20261128073000+0000",
        "OBX|2|NM|777-3^Platelets^LN|2|160|10*9/L||N|||F|||20261128073000+0000",
    )
    (update,) = parse_hl7v2(text)
    assert len({fact.fact_id for fact in update.facts}) == 2
    assert only_fact(message(platelets("150"), filler="FIL-2")).fact_id != (
        only_fact(message(platelets("150"))).fact_id
    )


def test_the_same_result_resent_under_a_new_control_id_keeps_its_fact_id() -> None:
    assert only_fact(message(platelets("150"), control="A")).fact_id == (
        only_fact(message(platelets("150"), control="B")).fact_id
    )


def test_a_corrected_platelet_count_decides_the_platelet_criterion() -> None:
    """Issue 9 kind 6: msg 1 platelets 150 F, msg 2 same order 15 C -> decided on 15.

    The eligible vignette (platelets 180 on 02-26) plus two lab messages of 02-28.
    """
    bundle = json.loads((FIXTURES / "vignettes" / "eligible.json").read_text("utf-8"))
    fhir = parse_fhir(bundle, source_system="ehr")

    def lab(value: str, status: str, control: str) -> list[PatientUpdate]:
        obx = (f"OBX|1|NM|777-3^Platelets^LN||{value}|10*9/L|150-400||||{status}|||"
               "20260228080000")
        return parse_hl7v2(message(obx, control=control, sent="20260228093000-0500"))

    trial = load_trial("NCT06920433", None)
    as_of = datetime(2026, 3, 1, 9, tzinfo=UTC)
    before = evaluate(trial, facts_from_updates([*fhir, *lab("150", "F", "M1")]), as_of)
    assert before.status is Status.ELIGIBLE
    facts = facts_from_updates([*fhir, *lab("150", "F", "M1"), *lab("15", "C", "M2")])
    decision = evaluate(trial, facts, as_of)
    assert decision.status is Status.INELIGIBLE
    failing = [c for c in decision.criteria if c.outcome is Outcome.FAIL]
    assert any(
        evidence.value == 15.0 for criterion in failing for evidence in criterion.evidence
    )


# kind 10: partial birth dates and character sets (2A.3.21 DT, MSH-18 / table 0211)


@pytest.mark.parametrize("birth", ["1990", "199004"])
def test_a_birth_date_at_year_or_month_precision_is_valid_and_gives_no_exact_day(
    birth: str,
) -> None:
    (update,) = parse_hl7v2(message(platelets("150"), birth=birth))
    assert update.demographics is not None
    assert update.demographics.birth_date is None
    assert len(update.facts) == 1


def test_a_birth_date_with_a_time_gives_its_day_and_a_bad_one_is_refused() -> None:
    (update,) = parse_hl7v2(message(platelets("150"), birth="199004120830"))
    assert update.demographics is not None
    assert update.demographics.birth_date == date(1990, 4, 12)
    assert problems(message(platelets("150"), birth="19901340"))[0].startswith("PID[1].7")


def _hemoglobin_named(display: str) -> str:
    return f"OBX|1|NM|718-7^{display}^LN||120|g/L||N|||F|||20261128073000+0000"


def test_msh18_8859_1_decodes_latin_1_bytes() -> None:
    text = message(_hemoglobin_named("Hémoglobine"), msh_tail="||||||8859/1")
    fact = only_fact(text.encode("iso8859-1"))
    assert fact.codes[0].display == "Hémoglobine"


def test_msh18_unicode_utf_8_decodes_utf_8_bytes() -> None:
    text = message(_hemoglobin_named("Hämoglobin"), msh_tail="||||||UNICODE UTF-8")
    assert only_fact(text.encode("utf-8")).codes[0].display == "Hämoglobin"


def test_non_utf8_bytes_without_msh18_are_refused_not_guessed() -> None:
    text = message(_hemoglobin_named("Hémoglobine"))
    assert problems(text.encode("iso8859-1"))[0].startswith("MSH.18: the message is not valid")


def test_a_character_set_outside_table_0211_is_refused() -> None:
    text = message(_hemoglobin_named("Hb"), msh_tail="||||||EBCDIC")
    assert problems(text.encode())[0].startswith("MSH.18: character set 'EBCDIC'")


# every OBX: value as received and warnings


def test_every_valued_obx_of_a_lab_message_carries_the_value_as_received() -> None:
    (update,) = parse_hl7v2((FIXTURES / "hl7v2" / "oru_lupus_labs.hl7").read_bytes())
    for fact in update.facts:
        if fact.unread is None and (fact.value_quantity or fact.value_code):
            assert fact.received is not None, fact.codes[0].code
            assert fact.received.value, fact.codes[0].code
    creatinine = next(fact for fact in update.facts if fact.codes[0].code == "2160-0")
    assert creatinine.received is not None
    assert (creatinine.received.value, creatinine.received.unit) == ("88.4", "umol/L")


# coded values: identifier and alternate identifier are one concept (2A.3.13 CWE)


def _hcg(value: str) -> str:
    return f"OBX|1|CWE|2106-3^hCG Ur Ql^LN||{value}||||||F|||20261128073000+0000"


def test_a_coded_result_keeps_its_snomed_coding_when_a_local_code_comes_first() -> None:
    code = only_fact(message(_hcg("POS^Positive^L^10828004^Positive^SCT"))).value_code
    assert code is not None
    assert (code.system, code.code) == ("http://snomed.info/sct", "10828004")


def test_a_coded_result_sent_as_text_only_goes_through_the_qualitative_vocabulary() -> None:
    read = only_fact(message(_hcg("^Negative")))
    unread = only_fact(message(_hcg("^Called Dr Who")))
    assert read.value_code is not None
    assert read.value_code.code == "260385009"
    assert unread.unread is not None
    assert unread.value_code is None
    assert "Who" not in unread.model_dump_json()


def test_a_final_result_whose_order_has_no_number_keeps_a_message_scoped_identity() -> None:
    # nothing survives across messages to find it by; only C/W/D need that, and they are refused
    first = only_fact(message(platelets("150"), filler="", placer="", control="A"))
    again = only_fact(message(platelets("150"), filler="", placer="", control="B"))
    assert first.fact_id != again.fact_id
    assert first.provenance.resource == "HL7v2/A/OBX/1"


def test_a_result_without_status_is_kept_unread_at_obx_11_and_an_unknown_status_is_refused(
) -> None:
    # OBX-11 is required (v2.5.1 7.4.2.11, table 0085): without it the result may be final,
    # preliminary, corrected or cancelled, so its value is not read (FHIR R4 status unknown)
    fact = only_fact(message(platelets("150", status="")))
    assert fact.status == "unknown"
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].11"
    assert fact.unread.reason == (
        "no result status (OBX-11 is required, HL7 v2.5.1 7.4.2.11, table 0085): whether this"
        " result is final, preliminary or cancelled is unknown, so it is not read"
    )
    assert fact.value_quantity is None
    assert fact.received is not None
    assert fact.received.value == "150"
    assert fact.effective_start == datetime(2026, 11, 28, 7, 30, tzinfo=UTC)
    assert problems(message(platelets("150", status="Z")))[0].startswith(
        "OBX[1].11: result status 'Z' is not in v2.5.1 table 0085"
    )


@pytest.mark.parametrize(
    "obx",
    [
        "OBX|1|ST|5130-0^DNA double strand Ab^LN||Positive|||A||||||20261128073000+0000",
        "OBX|1|CWE|2106-3^hCG^LN||260385009^Negative^SCT|||N||||||20261128073000+0000",
    ],
    ids=["st", "cwe"],
)
def test_a_qualitative_result_without_status_is_unread_too(obx: str) -> None:
    fact = only_fact(message(obx))
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].11"
    assert fact.value_code is None


# OBX-6 is CE (v2.5.1 7.4.2.6: identifier^text^coding system). A '^' inside a unit must be sent
# escaped as \S\ (v2.5.1 2.7); a sender that forgets splits "10^9/L" into CE-1 "10" and CE-2
# "9/L". It is refused (or, for an analyte not catalogued, kept unread) naming what was sent,
# never read as the unit "10".
@pytest.mark.parametrize("unit", ["10^9/L", "x10^9/L", "10^9/L^^99LAB"])
def test_a_platelet_unit_split_at_an_unescaped_caret_is_refused_naming_it(unit: str) -> None:
    found = problems(message(platelets("180", unit=unit)))
    assert len(found) == 1
    assert found[0].startswith(f"OBX[1].6: unit field holds {unit.rstrip('^')!r}"), found
    assert "unescaped component separator '^'" in found[0]
    assert "\\S\\" in found[0]
    assert "2.7" in found[0]


def test_the_same_unit_escaped_as_the_standard_says_is_read() -> None:
    fact = only_fact(message(platelets("180", unit="10\\S\\9/L")))
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (180.0, "10*9/L")


def test_a_split_unit_of_an_uncatalogued_analyte_is_unread_not_read_as_the_unit_10() -> None:
    # reticulocytes (LOINC 14196-0) are not catalogued: the number 10 is a valid UCUM unit, so
    # CE-1 alone would have read 55 x 10 as the result
    obx = "OBX|1|NM|14196-0^Reticulocytes^LN||55|10^9/L||N|||F|||20261128073000+0000"
    fact = only_fact(message(obx))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].6"
    assert "unescaped component separator" in fact.unread.reason
    assert fact.received is not None
    assert fact.received.unit == "10^9/L"


def test_a_unit_code_with_its_text_is_not_taken_for_a_split_unit() -> None:
    obx = ("OBX|1|NM|2160-0^Creatinine^LN||88.4|umol/L^micromole per liter^UCUM||N|||F|||"
           "20261128073000+0000")
    assert only_fact(message(obx)).value_quantity is not None


# PID-3 is CX (v2.5.1 2.A.14); CX-4, the assigning authority, is HD (2.A.33: namespace id &
# universal id & universal id type). It is kept with the identifier as FHIR Identifier.system is
# (the v2-to-FHIR mapping of HD: ISO -> urn:oid:, UUID -> urn:uuid:, URI as is).
def test_pid_3_assigning_authority_is_kept_as_the_identifiers_system() -> None:
    pid = ("PID|1||14^^^IA PHIMS Stage&2.16.840.1.114222.4.3.3.5.1.2&ISO^MR~"
           "77^^^&https://ehr.example.org/mrn&URI^PI~88^^^CITY^XX~99^^^&5f0c&UUID^PI"
           "||Roe^Jane||19900412|F")
    text = "\r".join([MSH.format(sent="20261128090000+0000", control="M-1", tail=""), pid])
    (update,) = parse_hl7v2(text)
    assert update.source_patient_id == "14"
    assert update.aliases == (
        "identifier:urn:oid:2.16.840.1.114222.4.3.3.5.1.2|14",
        "identifier:https://ehr.example.org/mrn|77",
        "identifier:urn:uuid:5f0c|99",
    )


def test_a_namespace_id_alone_claims_no_system() -> None:
    (update,) = parse_hl7v2(message(platelets("180")))
    assert update.aliases == ()
