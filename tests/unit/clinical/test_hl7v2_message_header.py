"""The message header (HL7 v2.5.1 2.14.9 MSH): one message per body, and the versions read.

A body posted to intake carries one message: two MSH segments are two messages read as one
(the second message's results would be filed under the first one's control id and time), and
batch envelopes (2.10.3: FHS/BHS/BTS/FTS) are read only by ``trialwatch evaluate --input``,
which splits them. MSH-12 (2.14.9.12, VID; table 0104) names the version whose definitions the
sender used; only versions whose read fields are defined as v2.5.1 defines them are read.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.clinical.hl7v2 import parse_hl7v2
from tests.unit.clinical.conftest import HANDOUT_PROCESSING_IDS, lab_oru
from tests.unit.clinical.test_hl7v2_fidelity import message, only_fact, platelets, problems


def test_two_messages_in_one_body_are_refused_at_the_second_msh() -> None:
    first = message(platelets("150"), control="MSG-1")
    second = message(platelets("15"), control="MSG-2", sent="20261128100000+0000")
    found = problems(first + second)
    assert any(p.startswith("MSH[2]") and "one message" in p for p in found), found


@pytest.mark.parametrize("envelope", ["BHS|^~\\&|LIS|CITY-LAB", "BTS|1", "FTS|1"])
def test_a_batch_envelope_in_a_posted_body_is_refused(envelope: str) -> None:
    found = problems(message(platelets("150")) + envelope + "\r")
    assert any(envelope[:3] in p and "2.10.3" in p for p in found), found


def _version(version: str) -> str:
    text = message(platelets("150"))
    assert "|P|2.5.1" in text
    return text.replace("|P|2.5.1", f"|P|{version}", 1)


@pytest.mark.parametrize("version", ["2.7", "2.8.2", "2.6", "2.2", "3.0", "2.5.1.9", "junk", ""])
def test_a_version_whose_definitions_are_not_read_is_refused_at_msh_12(version: str) -> None:
    found = problems(_version(version))
    assert any(p.startswith("MSH.12") and "table 0104" in p for p in found), found


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.5.1^USA^2.5.1"])
def test_versions_whose_read_fields_v2_5_1_defines_alike_are_read(version: str) -> None:
    fact = only_fact(_version(version))
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 150.0


def test_one_message_reads_as_before() -> None:
    (update,) = parse_hl7v2(message(platelets("150")))
    assert len(update.facts) == 1


# A result's time (OBX-14, 7.4.2.14; else OBR-7, 4.5.3.7) cannot be later than the message that
# carries it. TrialWatch's own clock says when the message arrived: a result later than that
# (beyond the clock skew allowed) is impossible and refused. MSH-7 (2.14.9.7) is the sender's
# own stamp, and real senders get it wrong (LAB-ORU-1 is stamped before its specimen reached
# the lab): a result later than MSH-7 only is read at its own time, with a note.

RECEIVED = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _at(observed: str, sent: str = "20261128090000+0000") -> str:
    obx = ("OBX|1|NM|777-3^Platelets [#/volume] in Blood^LN||150|10*9/L|150-400||||F|||"
           + observed)
    return message(obx, sent=sent)


def test_a_result_observed_after_trialwatch_received_its_message_is_refused_at_obx_14() -> None:
    found = problems(_at("20261128100000+0000", sent="20261128085900+0000"),
                     received_at=RECEIVED)
    assert any(p.startswith("OBX[1].14") and "received" in p and "1 h 0 min" in p
               for p in found), found


def test_a_collection_time_after_the_message_arrived_is_refused_at_obr_7() -> None:
    obx = "OBX|1|NM|777-3^Platelets [#/volume] in Blood^LN||150|10*9/L|150-400||||F"
    text = message(obx, sent="20261128085900+0000", collected="20261128120000+0000")
    assert any(p.startswith("OBR[1].7") for p in problems(text, received_at=RECEIVED))


@pytest.mark.parametrize("observed", [
    "20261128090400+0000",  # within the clock skew allowed
    "20261128093000+0100",  # 08:30 UTC once its own offset is read
    "20261128",  # that day: it may be any instant before 09:00
])
def test_a_result_before_the_message_or_within_the_skew_is_read_without_a_note(
    observed: str
) -> None:
    fact = only_fact(_at(observed), received_at=RECEIVED)
    assert fact.unread is None
    assert fact.value_quantity is not None
    assert not [n for n in fact.notes if "clock skew" in n.reason]


def test_a_result_later_than_msh_7_only_is_read_at_its_time_and_says_so() -> None:
    fact = only_fact(_at("20261128100000+0000"), received_at=datetime(2026, 11, 28, 11,
                                                                         tzinfo=UTC))
    assert fact.unread is None
    assert fact.effective_start == datetime(2026, 11, 28, 10, tzinfo=UTC)
    (note,) = [n for n in fact.notes if "clock skew" in n.reason]
    assert note.path == "OBX[1].14"
    assert "1 h 0 min" in note.reason


def test_the_real_lab_message_stamped_before_its_results_is_read_as_before() -> None:
    # LAB-ORU-1: MSH-7 06:45+0700, specimen received in the lab (SPM-18) 08:21, results
    # (OBX-14) 08:30, report (OBR-22) 09:29; the lab's next message confirms 08:30
    data = lab_oru("LAB-ORU-1.hl7")  # PID-30 'NO' mapped to table 0136's N (conftest)
    arrived = datetime(2014, 10, 6, 3, 0, tzinfo=UTC)  # 10:00+0700
    (update,) = parse_hl7v2(data, received_at=arrived,
                            processing_ids=HANDOUT_PROCESSING_IDS)
    platelets_fact = next(f for f in update.facts if f.codes[0].code == "11125-2")
    assert platelets_fact.unread is None
    assert platelets_fact.value_quantity is not None
    assert platelets_fact.value_quantity.value == 221.0
    assert [n.path for n in platelets_fact.notes if "clock skew" in n.reason] == ["OBX[5].14"]


# v2.5.1 2.5.4 (message delimiters): each segment ends with a carriage return. `curl --data
# @file` strips CR and LF, so the whole message arrives as one "MSH" segment with PID, OBR and
# OBX glued onto the end of its fields: refused at MSH for the missing separators, not as a
# message with "no PID segment".


def test_a_message_whose_segment_separators_were_stripped_is_refused_at_msh() -> None:
    stripped = message(platelets("150")).replace("\r", "")
    found = problems(stripped)
    assert found == [
        "MSH: no segment separator (CR, HL7 v2.5.1 2.5.4 table 2-1: segment terminator) found:"
        " the message is one segment; send it with the carriage returns kept"
        " (e.g. curl --data-binary)"], found


@pytest.mark.parametrize("separator", ["\r", "\n", "\r\n"])
def test_cr_lf_and_crlf_separated_messages_read_as_before(separator: str) -> None:
    fact = only_fact(message(platelets("150")).replace("\r", separator))
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 150.0


def test_an_msh_alone_is_still_refused_for_its_missing_pid() -> None:
    msh = message(platelets("150")).split("\r", 1)[0] + "\r"
    assert problems(msh) == ["PID: no PID segment"]
