from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from shared.clinical.times import (
    NoTimeZone,
    TimeFormatError,
    hl7_offset,
    hl7_ts_bounds,
    parse_fhir_date,
    parse_fhir_datetime,
    parse_hl7_date,
    parse_hl7_ts,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-11", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T08:30:00+01:00", datetime(2026, 11, 20, 7, 30, tzinfo=UTC)),
        ("2026-11-20T08:30:00.5Z", datetime(2026, 11, 20, 8, 30, 0, 500000, tzinfo=UTC)),
    ],
)
def test_fhir_times_become_aware_utc(text: str, expected: datetime) -> None:
    assert parse_fhir_datetime(text) == expected


@pytest.mark.parametrize(
    "text", ["2026-11-20T08:30:00", "2026-11-20T08:30", "20/11/2026", "2026-13-01"]
)
def test_naive_or_malformed_fhir_times_are_refused(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_fhir_datetime(text)


def test_a_partial_birth_date_is_not_an_exact_date() -> None:
    assert parse_fhir_date("1990-04-12") == date(1990, 4, 12)
    assert parse_fhir_date("1990") is None


def test_hl7_timestamps_use_their_offset_or_the_assumed_zone() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert parse_hl7_ts("201410060627+0700", UTC) == datetime(2014, 10, 5, 23, 27, tzinfo=UTC)
    assert parse_hl7_ts("20141006062700", plus_two) == datetime(2014, 10, 6, 4, 27, tzinfo=UTC)
    assert parse_hl7_ts("20141006", UTC) == datetime(2014, 10, 6, tzinfo=UTC)
    with pytest.raises(TimeFormatError):
        parse_hl7_ts("2014-10-06", UTC)


def test_an_hl7_time_without_offset_and_without_a_zone_is_refused_not_read_as_utc() -> None:
    # v2.5.1 ch. 2A.3.22: no offset means the sender's local time, which must be known
    with pytest.raises(NoTimeZone):
        parse_hl7_ts("20141006062700", None)
    assert parse_hl7_ts("20141006062700+0700", None) == datetime(2014, 10, 5, 23, 27, tzinfo=UTC)


def test_the_offset_of_an_hl7_time_is_read_only_when_written() -> None:
    assert hl7_offset("20261127093000-0500") == timezone(-timedelta(hours=5))
    assert hl7_offset("20261127093000") is None


def test_an_hl7_birth_date_at_year_or_month_precision_has_no_exact_day() -> None:
    # v2.5.1 ch. 2A.3.21 DT: YYYY[MM[DD]]
    assert parse_hl7_date("1990") is None
    assert parse_hl7_date("199004") is None
    assert parse_hl7_date("19900412") == date(1990, 4, 12)
    assert parse_hl7_date("199004120830-0500") == date(1990, 4, 12)
    for bad in ("1990-04-12", "199013", "19900230", "19900"):
        with pytest.raises(TimeFormatError):
            parse_hl7_date(bad)


# Times at the edge of what Python represents: the UTC conversion (or the end of a coarse
# DTM's period) falls outside years 1-9999. They raised OverflowError/ValueError, which intake
# answered as "unreadable input (OverflowError)" at "$" without the path (issue 14 probe).
@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_fhir_time_outside_the_representable_range_is_a_time_format_error(text: str) -> None:
    with pytest.raises(TimeFormatError, match="outside"):
        parse_fhir_datetime(text)


@pytest.mark.parametrize("text", ["99991231235959-1400", "00010101000000+1400", "00010101+1400"])
def test_an_hl7_time_outside_the_representable_range_is_a_time_format_error(text: str) -> None:
    with pytest.raises(TimeFormatError, match="outside"):
        parse_hl7_ts(text, UTC)


@pytest.mark.parametrize("text", ["9999", "999912", "99991231", "9999123123-1400"])
def test_the_period_of_a_coarse_hl7_time_at_year_9999_is_a_time_format_error(text: str) -> None:
    with pytest.raises(TimeFormatError, match="outside"):
        hl7_ts_bounds(text, UTC)
