"""Older MSH-12 versions read like v2.5.1 only where their definitions agree (READ_VERSIONS).

Two differences in the fields TrialWatch reads change a reading:

- Table 0085 (OBX-11, observation result status): N ("not asked") and O ("order detail
  description only (no result)") were introduced in v2.3.1 (HL7 v2 table 0085 as published with
  each code's versionIntroduced, github.com/frankoemig/hl7.v2.terminology.v25,
  CodeSystem-observationResultStatusCodesInterpretation.json: N and O "2.3.1"; a v2.3 parser's
  copy of the table, Parser_HL7v23, lists C D F I P R S X U W only). In a v2.3 message they are
  no value of the table: refused at OBX-11, as any status outside the table is.
- TS (OBX-14, OBR-7) has a second component, the degree of precision (table 0529: Y year,
  L month, D day, H hour, M minute, S second; a TS component in v2.3, e.g. kdar/health
  hl7x/2.3 datatype_ts.go TS.2, and still in v2.5.1's TS, deprecated there and "retained only
  for backward compatibility", HL7 Terminology v2-0529). ``200301011230^D`` is a day, not
  12:30: read as the whole day. A code outside the table, or a precision finer than the digits
  sent, is refused at the field.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.clinical.hl7v2 import parse_hl7v2
from tests.unit.clinical.test_hl7v2_fidelity import message, only_fact, platelets, problems


def _version(text: str, version: str) -> str:
    assert "|P|2.5.1" in text
    return text.replace("|P|2.5.1", f"|P|{version}", 1)


@pytest.mark.parametrize("status", ["N", "O"])
def test_a_result_status_table_0085_did_not_have_in_v2_3_is_refused_at_obx_11(status: str) -> None:
    found = problems(_version(message(platelets("", status=status)), "2.3"))
    assert any(p.startswith("OBX[1].11") and "2.3.1" in p and "table 0085" in p
               for p in found), found


@pytest.mark.parametrize("version", ["2.3.1", "2.5.1"])
def test_not_asked_is_read_from_v2_3_1_on(version: str) -> None:
    fact = only_fact(_version(message(platelets("", status="N")), version))
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].11"


def test_a_final_result_of_a_v2_3_message_is_read() -> None:
    fact = only_fact(_version(message(platelets("150")), "2.3"))
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 150.0


def _observed(ts: str) -> str:
    return ("OBX|1|NM|777-3^Platelets [#/volume] in Blood^LN||150|10*9/L|150-400||||F|||" + ts)


@pytest.mark.parametrize("version", ["2.3", "2.5.1"])
def test_a_time_with_degree_of_precision_day_is_the_whole_day(version: str) -> None:
    fact = only_fact(_version(message(_observed("202611270830+0000^D")), version))
    assert fact.time_bounds is not None
    assert fact.time_bounds.start_earliest == datetime(2026, 11, 27, tzinfo=UTC)
    assert fact.time_bounds.start_latest == datetime(2026, 11, 27, 23, 59, 59, 999999, tzinfo=UTC)
    assert fact.time_bounds.note is not None
    assert "TS-2" in fact.time_bounds.note.reason or any(
        "TS-2" in note.reason for note in fact.notes)


def test_a_time_with_degree_of_precision_minute_is_the_minute_sent() -> None:
    fact = only_fact(message(_observed("202611270830+0000^M")))
    assert fact.time_bounds is None
    assert fact.effective_start == datetime(2026, 11, 27, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("ts", ["20261127+0000^M", "202611270830+0000^Q"])
def test_a_degree_of_precision_that_cannot_be_read_is_refused_at_obx_14(ts: str) -> None:
    found = problems(message(_observed(ts)))
    assert any(p.startswith("OBX[1].14") and "0529" in p for p in found), found


def test_a_birth_date_with_degree_of_precision_month_has_no_exact_day() -> None:
    """PID-7 is TS in v2.3-v2.5.1: '19900412^L' says the month only, so no exact age."""
    (update,) = parse_hl7v2(_version(message(platelets("150"), birth="19900412^L"), "2.3"))
    assert update.demographics is not None
    assert update.demographics.birth_date is None
    (exact,) = parse_hl7v2(message(platelets("150"), birth="19900412"))
    assert exact.demographics is not None
    assert exact.demographics.birth_date == date(1990, 4, 12)


def test_a_birth_date_with_an_unknown_degree_of_precision_is_refused_at_pid_7() -> None:
    found = problems(message(platelets("150"), birth="19900412^Q"))
    assert any(p.startswith("PID[1].7") and "0529" in p for p in found), found
