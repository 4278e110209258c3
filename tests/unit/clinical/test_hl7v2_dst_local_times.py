"""An HL7 v2 time without an offset at a daylight-saving change names two instants, not one.

HL7 v2.5.1 ch. 2A.3.22 (DTM/TS): "If the time zone is not included, the time zone defaults to
that of the local time zone of the sender." The sender's zone here is America/New_York (the
source's configured zone; MSH-7 gives no offset). On 2026-11-01 its clocks go back from 02:00
EDT (-04:00) to 01:00 EST (-05:00), so the wall time 01:30 happens twice: 05:30Z and 06:30Z. On
2026-03-08 they go forward from 02:00 EST to 03:00 EDT, so 02:30 is never shown; the sender may
have meant either offset around the change (07:30Z or 06:30Z). Python reads such a wall time
with ``fold=0`` (PEP 495), one of the two, silently.

Before: OBX-14 '20261101013000' was read as the instant 05:30Z, so a result taken at 06:15Z
(01:15 EST) elsewhere counted as newer although this one may be the newer (06:30Z). Now the
result carries time bounds 05:30Z..06:30Z (the engine judges a window at both ends), with a
note at OBX[1].14 saying why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.times import hl7_ts_bounds

NEW_YORK = ZoneInfo("America/New_York")


def _message(obx14: str) -> str:
    return "\r".join([
        "MSH|^~\\&|LIS|LAB|TW|HOSP|20261102100000||ORU^R01^ORU_R01|M1|P|2.5.1",
        "PID|1||mrn-1^^^HOSP^MR||DOE^JANE||19900510|F",
        "OBR|1|ORD1|FIL1|58410-2^CBC panel^LN|||20261101000000",
        f"OBX|1|NM|777-3^Platelets^LN||5|10*9/L^^UCUM|150-400|L|||F|||{obx14}",
    ]) + "\r"


def _utc(hour: int, minute: int, day: int = 1, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("obx14", "earliest", "latest"),
    [
        ("20261101013000", _utc(5, 30), _utc(6, 30)),  # 01:30 shown twice (EDT, then EST)
        ("20260308023000", _utc(6, 30, 8, 3), _utc(7, 30, 8, 3)),  # 02:30 never shown
    ],
)
def test_a_local_time_at_a_daylight_saving_change_is_bounded_by_both_readings(
    obx14: str, earliest: datetime, latest: datetime
) -> None:
    (update,) = parse_hl7v2(
        _message(obx14), source_system="LAB", sender_zone=NEW_YORK,
        received_at=datetime(2026, 11, 2, 16, tzinfo=UTC),
    )
    (fact,) = update.facts
    assert fact.time_bounds is not None
    assert (fact.time_bounds.start_earliest, fact.time_bounds.start_latest) == (earliest, latest)
    assert fact.time_bounds.note is not None
    assert fact.time_bounds.note.path == "OBX[1].14"
    assert "daylight-saving" in fact.time_bounds.note.reason


def test_a_local_time_away_from_a_change_or_with_an_offset_is_one_instant() -> None:
    assert hl7_ts_bounds("20261101033000", NEW_YORK) is None
    assert hl7_ts_bounds("20261101013000-0400", NEW_YORK) is None


def test_a_local_time_before_a_change_is_read_in_the_configured_zone_not_msh_7_offset() -> None:
    """Europe/Berlin goes from +01:00 to +02:00 at 01:00Z on 2026-03-29. MSH-7 is sent after the
    change (+0200, which the configured zone agrees with); OBX-14 '20260329013000' is 01:30
    local, before it: 00:30Z. Before, it was read in MSH-7's fixed +0200 as 23:30Z the day
    before, an hour off."""
    message = "\r".join([
        "MSH|^~\\&|LIS|LAB|TW|HOSP|20260329100000+0200||ORU^R01^ORU_R01|M1|P|2.5.1",
        "PID|1||mrn-1^^^HOSP^MR||DOE^JANE||19900510|F",
        "OBR|1|ORD1|FIL1|58410-2^CBC panel^LN|||20260329010000",
        "OBX|1|NM|777-3^Platelets^LN||5|10*9/L^^UCUM|150-400|L|||F|||20260329013000",
    ]) + "\r"
    (update,) = parse_hl7v2(
        message, source_system="LAB", sender_zone=ZoneInfo("Europe/Berlin"),
        received_at=datetime(2026, 3, 29, 9, tzinfo=UTC),
    )
    (fact,) = update.facts
    assert fact.effective_start == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
