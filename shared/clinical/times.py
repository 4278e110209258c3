"""FHIR and HL7 v2 time values as aware UTC datetimes.

FHIR: a dateTime with a time must carry an offset (FHIR R4 says so; a naive one is refused,
never guessed). Partial values (``2024``, ``2024-05``, ``2024-05-07``) stand for the start of that
year, month or day in UTC: FHIR gives no zone for them, and UTC is the only choice that does
not depend on where the code runs.

HL7 v2: ``YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]``. A value without an offset is read in the
``assume_tz`` the caller passes (the sending site's zone; UTC by default), because v2 leaves the
offset optional and real feeds omit it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

_FHIR_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_FHIR_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$"
)
_HL7_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$")


class TimeFormatError(ValueError):
    """A time value that cannot be read without guessing."""


def parse_fhir_date(value: str) -> date | None:
    """A full ``YYYY-MM-DD`` date; partial dates give ``None`` (an exact day is not known)."""
    match = _FHIR_DATE.match(value)
    if match is None:
        raise TimeFormatError(f"not a FHIR date: {value!r}")
    year, month, day = match.groups()
    if month is None or day is None:
        return None
    try:
        return date(int(year), int(month), int(day))
    except ValueError as error:
        raise TimeFormatError(f"not a calendar date: {value!r}") from error


def parse_fhir_datetime(value: str) -> datetime:
    """A FHIR date, dateTime or instant as aware UTC (partial dates: start of period, UTC)."""
    match = _FHIR_DATE.match(value)
    if match is not None:
        year, month, day = match.groups()
        try:
            return datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
        except ValueError as error:
            raise TimeFormatError(f"not a calendar date: {value!r}") from error
    match = _FHIR_DATETIME.match(value)
    if match is None:
        raise TimeFormatError(f"not a FHIR dateTime: {value!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if offset is None:
        raise TimeFormatError(f"time without a timezone offset: {value!r}")
    try:
        parsed = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            _microseconds(fraction),
            tzinfo=_offset(offset),
        )
    except ValueError as error:
        raise TimeFormatError(f"not a valid time: {value!r}") from error
    return parsed.astimezone(UTC)


def parse_hl7_ts(value: str, assume_tz: tzinfo) -> datetime:
    """An HL7 v2 TS/DTM as aware UTC; without an offset it is read in ``assume_tz``."""
    match = _HL7_TS.match(value.strip())
    if match is None:
        raise TimeFormatError(f"not an HL7 v2 timestamp: {value!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    zone = assume_tz if offset is None else _offset(f"{offset[:3]}:{offset[3:]}")
    try:
        parsed = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            _microseconds(fraction),
            tzinfo=zone,
        )
    except ValueError as error:
        raise TimeFormatError(f"not a valid HL7 v2 timestamp: {value!r}") from error
    return parsed.astimezone(UTC)


def parse_hl7_date(value: str) -> date:
    """The date part (``YYYYMMDD``) of an HL7 v2 DT/TS, e.g. PID-7."""
    match = re.match(r"^(\d{4})(\d{2})(\d{2})", value.strip())
    if match is None:
        raise TimeFormatError(f"not an HL7 v2 date (YYYYMMDD): {value!r}")
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as error:
        raise TimeFormatError(f"not a calendar date: {value!r}") from error


def _microseconds(fraction: str | None) -> int:
    return round(float(fraction) * 1_000_000) % 1_000_000 if fraction else 0


def _offset(text: str) -> tzinfo:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59:
        raise TimeFormatError(f"impossible timezone offset: {text!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
