from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.facts import ClinicalFact, PatientUpdate, Sex
from shared.clinical.hl7v2 import parse_hl7v2
from tests.unit.clinical.conftest import FIXTURES

LABS = FIXTURES / "hl7v2" / "oru_lupus_labs.hl7"


def _labs(**kwargs: object) -> PatientUpdate:
    (update,) = parse_hl7v2(LABS.read_bytes(), **kwargs)  # type: ignore[arg-type]
    return update


def _obx(update: PatientUpdate, code: str, nth: int = 0) -> ClinicalFact:
    return [fact for fact in update.facts if fact.codes[0].code == code][nth]


def _problems(message: bytes | str) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_hl7v2(message)
    return [str(problem) for problem in caught.value.problems]


def test_pid_gives_the_mrn_birth_date_and_sex_and_msh4_the_source_system() -> None:
    update = _labs()
    assert update.source_system == "CITY-LAB"
    assert update.source_patient_id == "MRN-0042"
    assert update.demographics is not None
    assert (update.demographics.birth_date, update.demographics.sex) == (
        date(1990, 4, 12),
        Sex.FEMALE,
    )
    assert "Roe" not in update.model_dump_json()
    assert "Dr Who" not in update.model_dump_json()


def test_an_explicit_source_system_overrides_msh4() -> None:
    assert _labs(source_system="lab-feed-7").source_system == "lab-feed-7"


def test_cr_lf_and_crlf_segment_ends_give_the_same_facts() -> None:
    text = LABS.read_text("utf-8")
    lf = (FIXTURES / "hl7v2" / "oru_lupus_labs_lf.hl7").read_text("utf-8")
    crlf = text.replace("\r", "\r\n")
    assert parse_hl7v2(text) == parse_hl7v2(lf) == parse_hl7v2(crlf.encode())


def test_a_numeric_result_is_converted_with_its_range_flag_status_and_time() -> None:
    fact = _obx(_labs(), "2160-0")
    assert fact.codes[0].system == "http://loinc.org"
    assert fact.value_quantity is not None
    assert fact.value_quantity.unit == "mg/dL"
    assert fact.value_quantity.value == pytest.approx(1.0, rel=1e-4)
    assert fact.reference_range is not None
    assert fact.reference_range.low is not None
    assert fact.reference_range.low.value == pytest.approx(45 / 88.4, rel=1e-4)
    assert fact.interpretation == "N"
    assert fact.status == "final"
    assert fact.effective_start == datetime(2026, 11, 20, 7, 30, tzinfo=UTC)


def test_without_obx14_the_obr7_time_is_used_and_a_corrected_status_is_kept() -> None:
    fact = _obx(_labs(), "718-7")
    assert fact.effective_start == datetime(2026, 11, 20, 7, 15, tzinfo=UTC)
    assert fact.status == "corrected"
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (pytest.approx(112.0), "g/L")
    assert fact.reference_range is not None
    assert fact.reference_range.high is not None
    assert fact.reference_range.high.value == pytest.approx(160.0)


def test_timestamps_without_offset_are_read_in_msh7s_offset_not_utc() -> None:
    # v2.5.1 ch. 2A.3.22 DTM: no offset means the sender's local time. MSH-7 is +0100, so
    # OBX-14 08:30 is 07:30Z (issue 9 kind 4: it used to be read as 08:30Z, which was wrong).
    assert _obx(_labs(), "777-3").effective_start == datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
    # a configured zone does not override the offset the message itself gives
    tokyo = timezone(timedelta(hours=9))
    assert _obx(_labs(sender_zone=tokyo), "777-3").effective_start == datetime(
        2026, 11, 20, 7, 30, tzinfo=UTC
    )


def test_giga_per_litre_and_cells_per_microlitre_counts_become_10e9_per_litre() -> None:
    update = _labs()
    platelets = _obx(update, "777-3").value_quantity
    leukocytes = _obx(update, "26464-8")
    assert platelets is not None
    assert (platelets.value, platelets.unit) == (221.0, "10*9/L")
    assert leukocytes.value_quantity is not None
    assert leukocytes.value_quantity.value == pytest.approx(3.2)
    assert leukocytes.reference_range is not None
    assert leukocytes.reference_range.low is not None
    assert leukocytes.reference_range.low.value == pytest.approx(4.0)
    assert leukocytes.reference_range.high is None


def test_a_structured_numeric_keeps_its_comparator() -> None:
    quantity = _obx(_labs(), "2890-2").value_quantity
    assert quantity is not None
    assert (quantity.value, quantity.unit, quantity.comparator) == (
        pytest.approx(0.3),
        "g/g",
        ">",
    )


def test_titers_as_structured_numeric_or_string_become_titer_quantities() -> None:
    update = _labs()
    structured = _obx(update, "5048-4", 0).value_quantity
    text = _obx(update, "5048-4", 1).value_quantity
    assert structured is not None
    assert text is not None
    assert (structured.value, structured.unit) == (320.0, "{titer}")
    assert (text.value, text.unit) == (160.0, "{titer}")


def test_qualitative_strings_and_coded_results_become_snomed_codes() -> None:
    update = _labs()
    dsdna = _obx(update, "5130-0").value_code
    hcg = _obx(update, "2106-3").value_code
    assert dsdna is not None
    assert hcg is not None
    assert (dsdna.system, dsdna.code) == ("http://snomed.info/sct", "10828004")
    assert (hcg.system, hcg.code) == ("http://snomed.info/sct", "260385009")


def test_free_text_results_are_dropped() -> None:
    fact = _obx(_labs(), "8251-1")
    assert (fact.value_quantity, fact.value_code) == (None, None)


def test_a_result_posted_as_wrong_is_entered_in_error_and_iu_per_litre_is_u_per_litre() -> None:
    fact = _obx(_labs(), "1742-6")
    assert fact.status == "entered-in-error"
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (38.0, "U/L")


def test_pounds_and_fahrenheit_are_converted_to_kilograms_and_celsius() -> None:
    update = _labs()
    weight = _obx(update, "29463-7").value_quantity
    temperature = _obx(update, "8310-5").value_quantity
    assert weight is not None
    assert temperature is not None
    assert weight.value == pytest.approx(69.853, rel=1e-4)
    assert temperature.value == pytest.approx(38.0)
    assert (weight.unit, temperature.unit) == ("kg", "Cel")


def test_set_ids_repeated_under_a_second_obr_still_give_distinct_fact_ids() -> None:
    update = _labs()
    assert len({fact.fact_id for fact in update.facts}) == len(update.facts) == 14
    neutrophils = _obx(update, "751-8")
    assert neutrophils.provenance.resource == "HL7v2/MSG-0001/OBX/12"
    assert neutrophils.provenance.format == "hl7v2"


def test_the_same_message_resent_gives_the_same_fact_ids() -> None:
    assert [f.fact_id for f in _labs().facts] == [f.fact_id for f in _labs().facts]


def test_unit_errors_and_bad_times_are_refused_naming_segment_and_field() -> None:
    problems = _problems((FIXTURES / "hl7v2" / "oru_unit_errors.hl7").read_bytes())
    assert problems[0].startswith("OBX[1].6: unit 'g/mL' is implausible for hemoglobin")
    assert problems[1].startswith(
        "OBX[2].6: unit 'tera.l-1' (read as '10*12/L' through the unit alias table)"
        " is implausible for blood cell count"
    )
    assert problems[2].startswith("OBX[4].14: not an HL7 v2 timestamp")
    assert len(problems) == 3


def test_a_numeric_result_that_is_not_a_number_is_kept_unread_not_refused() -> None:
    # issue 9 kind 2: an unreadable value keeps its fact (it used to refuse the message)
    lines = (FIXTURES / "hl7v2" / "oru_unit_errors.hl7").read_text("utf-8").splitlines()
    (update,) = parse_hl7v2("\r".join(line for line in lines if "|high|" in line or
                                      not line.startswith("OBX")))
    (creatinine,) = update.facts
    assert creatinine.value_quantity is None
    assert creatinine.unread is not None
    assert creatinine.unread.path == "OBX[1].5"
    assert "is not a number (NM" in creatinine.unread.reason


def test_a_message_other_than_oru_r01_is_refused() -> None:
    assert _problems((FIXTURES / "hl7v2" / "adt_a01.hl7").read_bytes()) == [
        "MSH.9: only ORU^R01, ADT^A40, RAS^O17 and RDE^O11 are accepted, got 'ADT^A01'"
    ]


def test_text_that_is_not_hl7_is_refused() -> None:
    assert _problems(b'{"resourceType": "Patient"}')[0].startswith("MSH: not an HL7 v2 message")


def test_each_pid_starts_its_own_patient_update() -> None:
    text = LABS.read_text("utf-8").rstrip("\r").split("\r")
    second = [
        r"PID|2||MRN-0099^^^CITY^MR||Other^Pat||19800101|M",
        r"OBX|99|NM|718-7^Hemoglobin^LN||140|g/L||N|||F|||20261120083000+0000",
    ]
    updates = parse_hl7v2("\r".join(text + second))
    assert [u.source_patient_id for u in updates] == ["MRN-0042", "MRN-0099"]
    assert len(updates[1].facts) == 1


# HL7 v2.5.1 ch. 2A.3.47 NM: "a number represented as a series of ASCII numeric characters";
# DTM (2A.3.22) likewise. Python's \d and float() also take Arabic-Indic, fullwidth and
# mathematical digits, which read "١٣.١" as 13.1 (issue 14 probe).
NON_ASCII_NUMBERS = ["\u0661\u0663.\u0661", "\uff11\uff13.\uff11", "1\u0663.1",
                     "\U0001d7cf\U0001d7d1.\U0001d7cf"]


@pytest.mark.parametrize("value", NON_ASCII_NUMBERS)
def test_a_numeric_result_in_non_ascii_digits_is_kept_unread(value: str) -> None:
    message = "\r".join([
        "MSH|^~\\&|LAB|HOSP|TRIALWATCH|HOSP|20261120083000+0000||ORU^R01|MSG0001|P|2.5.1",
        "PID|1||MRN-EXAMPLE-1^^^HOSP^MR||DOE^JANE||19900402|F",
        "OBR|1||ORD-1|24317-0^Hemogram and platelet count^LN|||20261120080000+0000",
        f"OBX|1|NM|718-7^Hemoglobin^LN||{value}|g/dL|12.0-16.0|N|||F|||20261120080000+0000"])
    (update,) = parse_hl7v2(message)
    (hemoglobin,) = update.facts
    assert hemoglobin.value_quantity is None
    assert hemoglobin.unread is not None
    assert hemoglobin.unread.path == "OBX[1].5"
    assert "is not a number (NM" in hemoglobin.unread.reason


@pytest.mark.parametrize("value", NON_ASCII_NUMBERS)
def test_a_structured_numeric_or_range_in_non_ascii_digits_is_not_read(value: str) -> None:
    message = "\r".join([
        "MSH|^~\\&|LAB|HOSP|TRIALWATCH|HOSP|20261120083000+0000||ORU^R01|MSG0001|P|2.5.1",
        "PID|1||MRN-EXAMPLE-1^^^HOSP^MR||DOE^JANE||19900402|F",
        "OBR|1||ORD-1|24317-0^Hemogram and platelet count^LN|||20261120080000+0000",
        f"OBX|1|SN|718-7^Hemoglobin^LN||<^{value}|g/dL|12.0-{value}|N|||F|||20261120080000+0000"])
    (update,) = parse_hl7v2(message)
    (hemoglobin,) = update.facts
    assert hemoglobin.value_quantity is None
    assert hemoglobin.unread is not None


def test_a_timestamp_in_non_ascii_digits_is_not_a_timestamp() -> None:
    when = "\u0662\u0660\u0662\u0666\u0661\u0661\u0662\u0660\u0660\u0668\u0660\u0660+0000"
    problems = _problems("\r".join([
        "MSH|^~\\&|LAB|HOSP|TRIALWATCH|HOSP|20261120083000+0000||ORU^R01|MSG0001|P|2.5.1",
        "PID|1||MRN-EXAMPLE-1^^^HOSP^MR||DOE^JANE||19900402|F",
        "OBR|1||ORD-1|24317-0^Hemogram and platelet count^LN|||20261120080000+0000",
        f"OBX|1|NM|718-7^Hemoglobin^LN||13.1|g/dL|12.0-16.0|N|||F|||{when}"]))
    assert any(p.startswith("OBX[1].14: not an HL7 v2 timestamp") for p in problems), problems
