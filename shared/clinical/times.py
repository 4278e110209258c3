"""FHIR and HL7 v2 time values as aware UTC datetimes.

FHIR: a dateTime with a time must carry an offset (FHIR R4 says so; a naive one is refused,
never guessed). Partial values (``2024``, ``2024-05``, ``2024-05-07``) are read as the start of
that year, month or day in UTC, and ``fhir_date_bounds`` gives the whole period they stand for
in any zone (FHIR gives none), which the engine judges at both ends. HL7 v2 DTM coarser than a
minute: ``hl7_ts_bounds``.

HL7 v2 (v2.5.1 ch. 2A.3.22 DTM, 2A.3.72 TS): ``YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]``.
"If the time zone is not included, the time zone defaults to that of the local time zone of the
sender": a value without an offset is read in the zone the caller passes (the sender's zone,
from MSH-7's offset or the source's configured zone, see ``shared.clinical.hl7v2``). When the
caller knows no zone, such a value is refused (``NoTimeZone``), never read as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

# re.ASCII: \d is [0-9] as FHIR R4's date/dateTime regexes and HL7 v2.5.1 DTM (2A.3.22) say;
# Python's \d would also take Arabic-Indic, fullwidth or mathematical digits.
_FHIR_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$", re.ASCII)
_FHIR_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$",
    re.ASCII,
)
_HL7_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$",
                     re.ASCII)


class TimeFormatError(ValueError):
    """A time value that cannot be read without guessing."""


class NoTimeZone(TimeFormatError):
    """An HL7 v2 time without an offset, and no sender zone known to read it in."""


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
    return _in_utc(parsed, value)


# The widest UTC offsets in use (UTC-12:00 to UTC+14:00): a FHIR date carries no zone, so the day
# it names began somewhere between 14 hours before and 12 hours after its midnight in UTC
_EARLIEST_ZONE = timedelta(hours=14)
_LATEST_ZONE = timedelta(hours=12)
_TICK = timedelta(microseconds=1)


def birth_after_receipt(birth_date: date, received_at: datetime | None) -> str | None:
    """Why ``birth_date`` cannot be a birth date, or None.

    A person is born before any record of them is sent: a birth date (FHIR R4
    Patient.birthDate, HL7 v2.5.1 PID-7) on a day that had not yet begun anywhere (UTC+14:00,
    the earliest zone) when TrialWatch received the record is impossible, and is refused at
    its path. None without an arrival time. Before, Patient.birthDate 9999-12-31 was accepted
    and read as an age of -7974 years (issue 14 hostile probe, 2026-12-03).
    """
    if received_at is None:
        return None
    latest = (received_at.astimezone(UTC) + _EARLIEST_ZONE).date()
    if birth_date <= latest:
        return None
    return (f"birth date {birth_date.isoformat()} is after the day this record was received"
            f" ({latest.isoformat()} in the earliest time zone): a person is born before"
            " their record is sent")

# The largest daylight-saving difference (|dst()|) any zone of the IANA tz database shows from
# 1970 (the database's reliable scope, tz theory.html) to 2037: 3 h, Asia/Ust-Nera on
# 1981-04-01 (+09:00 to +12:00, daylight time +11:00/+12:00 starting as standard time moved;
# Python zoneinfo's dst(), PEP 615, reports 3 h). In rules still in force the widest save is
# 2 h (Antarctica/Troll, +00:00 to +02:00), so 1 h is no bound. Computed from the installed
# tz database by tests/unit/clinical/test_hl7v2_msh7_offset_dst.py, which fails if it changes.
# An HL7 v2 time without an offset read in MSH-7's one offset (no zone configured for the
# source) may be off by this much when a change falls between it and MSH-7 (v2.5.1 2A.3.22:
# it is the sender's local time, in a zone with daylight-saving rules).
WIDEST_DST_SAVE = timedelta(hours=3)


def fhir_date_bounds(value: str) -> tuple[datetime, datetime] | None:
    """The first and last UTC instants a FHIR date without a time may stand for, else None.

    FHIR R4 dateTime: "a date, or partial date (e.g. just year or year + month) as used in
    human communication ... If hours and minutes are specified, a time zone SHALL be
    populated": a value with no time (``2026-02-27``, ``2026-02``, ``2026``) names a whole day,
    month or year in a zone it does not give. It began no earlier than its midnight at UTC+14
    and ended no later than its last instant at UTC-12. A value with a time gives None (it is
    an instant). Raises ``TimeFormatError`` for an invalid calendar value.
    """
    match = _FHIR_DATE.match(value)
    if match is None:
        return None
    year, month, day = match.groups()
    try:
        start = datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
    except ValueError as error:
        raise TimeFormatError(f"not a calendar date: {value!r}") from error
    if day is not None:
        following = start + timedelta(days=1)
    elif month is not None:
        following = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
    else:
        following = datetime(start.year + 1, 1, 1, tzinfo=UTC)
    return start - _EARLIEST_ZONE, following + _LATEST_ZONE - _TICK


def fhir_starts_after(start: str, end: str) -> bool:
    """Whether a FHIR Period's ``start`` is certainly after its ``end`` (invariant per-1 fails).

    FHIR R4 Period per-1: "If present, start SHALL have a lower value than end" (FHIRPath
    ``start <= end``, compared to the precision both give). Each value stands for the
    instants it may name: an instant for itself; a date (``2026-02-15``, ``2026-02``, ``2026``)
    for its whole period, in the one zone both dates share when both are dates, else in any
    zone (``fhir_date_bounds``). True only when every instant ``start`` may name is after
    every instant ``end`` may name. Raises ``TimeFormatError`` like ``parse_fhir_datetime``.
    """
    both_dates = bool(_FHIR_DATE.match(start)) and bool(_FHIR_DATE.match(end))
    return _fhir_span(start, both_dates)[0] > _fhir_span(end, both_dates)[1]


def _fhir_span(value: str, same_zone: bool) -> tuple[datetime, datetime]:
    bounds = fhir_date_bounds(value)
    if bounds is None:
        instant = parse_fhir_datetime(value)
        return instant, instant
    if same_zone:
        # both dates are in the sender's one zone: the calendar period itself
        return bounds[0] + _EARLIEST_ZONE, bounds[1] - _LATEST_ZONE
    return bounds


def hl7_ts_bounds(value: str, zone: tzinfo | None) -> tuple[datetime, datetime] | None:
    """The first and last UTC instants an HL7 v2 DTM coarser than a minute stands for, else None.

    v2.5.1 ch. 2A.3.22 DTM: ``YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`` - the precision
    is what the sender gave: ``20261127`` is the whole of 27 November in the sender's zone (its
    offset, else ``zone``), ``2026112708`` the whole hour. Precision to the minute or finer
    gives None (read as the instant), unless ``local_time_in_doubt`` gives two instants. Raises
    like ``parse_hl7_ts``.
    """
    match = _HL7_TS.match(value.strip())
    if match is None:
        raise TimeFormatError(f"not an HL7 v2 timestamp: {value!r}")
    _, month, day, hour, minute = match.groups()[:5]
    if minute is not None:
        return local_time_in_doubt(value, zone)
    start = parse_hl7_ts(value, zone)
    try:
        local = start.astimezone(zone if match[8] is None else hl7_offset(value))
        if hour is not None:
            following = local + timedelta(hours=1)
        elif day is not None:
            following = (local + timedelta(days=1)).replace(hour=0)
        elif month is not None:
            following = local.replace(
                year=local.year + local.month // 12, month=local.month % 12 + 1, day=1
            )
        else:
            following = local.replace(year=local.year + 1)
        return start, following.astimezone(UTC) - _TICK
    except (OverflowError, ValueError):
        # the period ends after 9999-12-31 (e.g. "9999", "99991231"): its end is not a time
        raise TimeFormatError(f"{value!r} stands for a period that ends outside the times "
                              "that can be represented (years 1 to 9999 in UTC)") from None


def local_time_in_doubt(value: str, zone: tzinfo | None) -> tuple[datetime, datetime] | None:
    """The two UTC instants a local HL7 v2 time without an offset may name, else None.

    v2.5.1 ch. 2A.3.22: a time without an offset is the sender's local time. Where the sender's
    zone changes its offset (daylight saving), the wall time of the hour it repeats names two
    instants (America/New_York ``20261101013000`` is 05:30Z or 06:30Z) and the wall time of the
    hour it skips names none that the zone's clock shows (``20260308023000``; either offset
    around the change may be meant). Both readings are returned, earliest first, as the
    bounds of the instant (PEP 495 ``fold``); None for a time with an offset, no zone, or an
    unambiguous wall time. Raises like ``parse_hl7_ts``.
    """
    match = _HL7_TS.match(value.strip())
    if match is None or match[8] is not None or zone is None:
        return None
    first = parse_hl7_ts(value, zone)
    wall = _wall(match, zone, value)
    second = _in_utc(wall.replace(fold=1 - wall.fold), value)
    if second == first:
        return None
    return min(first, second), max(first, second)


def _wall(match: re.Match[str], zone: tzinfo, value: str) -> datetime:
    year, month, day, hour, minute, second, fraction = match.groups()[:7]
    try:
        return datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                        int(minute or 0), int(second or 0), _microseconds(fraction), tzinfo=zone)
    except ValueError as error:
        raise TimeFormatError(f"not a valid HL7 v2 timestamp: {value!r}") from error


def parse_hl7_ts(value: str, zone: tzinfo | None) -> datetime:
    """An HL7 v2 TS/DTM as aware UTC; without an offset it is read in ``zone``.

    Raises ``NoTimeZone`` when the value has no offset and ``zone`` is None, ``TimeFormatError``
    when it is not a DTM or not a calendar time.
    """
    match = _HL7_TS.match(value.strip())
    if match is None:
        raise TimeFormatError(f"not an HL7 v2 timestamp: {value!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if offset is None and zone is None:
        raise NoTimeZone(
            f"time {value.strip()!r} has no UTC offset, MSH-7 gives none and no zone is"
            " configured for this source (v2.5.1 ch. 2A.3.22: it is the sender's local time)"
        )
    written = zone if offset is None else _offset(f"{offset[:3]}:{offset[3:]}")
    try:
        parsed = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            _microseconds(fraction),
            tzinfo=written,
        )
    except ValueError as error:
        raise TimeFormatError(f"not a valid HL7 v2 timestamp: {value!r}") from error
    return _in_utc(parsed, value)


def _in_utc(parsed: datetime, value: str) -> datetime:
    """``parsed`` in UTC; ``TimeFormatError`` when UTC falls outside years 1-9999."""
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise TimeFormatError(f"{value!r} lies outside the times that can be represented "
                              "(years 1 to 9999 in UTC)") from None


def hl7_offset(value: str) -> tzinfo | None:
    """The UTC offset written in an HL7 v2 DTM (``...-0500`` -> UTC-05:00), else None."""
    match = _HL7_TS.match(value.strip())
    if match is None or match[8] is None:
        return None
    offset = match[8]
    return _offset(f"{offset[:3]}:{offset[3:]}")


def parse_hl7_date(value: str) -> date | None:
    """The day of an HL7 v2 DT/DTM (e.g. PID-7), or None at year or month precision.

    v2.5.1 ch. 2A.3.21 DT allows ``YYYY`` and ``YYYYMM``: such a birth date is valid, but no
    exact day (hence no exact age) is known. Raises ``TimeFormatError`` for anything else.
    """
    text = value.strip()
    match = re.match(r"^(\d{4})(\d{2})?(\d{2})?(?:\d{2,6}(?:\.\d{1,4})?)?(?:[+-]\d{4})?$", text,
                     re.ASCII)
    if match is None:
        raise TimeFormatError(f"not an HL7 v2 date (YYYY[MM[DD]]): {value!r}")
    year, month, day = match.groups()
    if (month is not None and not 1 <= int(month) <= 12) or (day is not None and month is None):
        raise TimeFormatError(f"not a calendar date: {value!r}")
    if month is None or day is None:
        return None
    try:
        return date(int(year), int(month), int(day))
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


_DAY_WRITTEN = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})", re.ASCII)


def day_as_written(text: str) -> date | None:
    """The calendar day a FHIR dateTime (``2021-03-04T10:00:00+01:00``) or an HL7 v2 DTM/TS
    (``20210304100000``) names, as the sender wrote it (no conversion to UTC: a date of death is
    the sender's day); None when the text is not given to the day ("2021", "202103") or is no
    calendar date. The caller has already read (or refused) the full value at its path."""
    match = _DAY_WRITTEN.match(text.strip())
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


# Clock skew allowed between a result's time and the time its message was sent or received.
# The sender's analyser or LIS stamps the result (HL7 v2 OBX-14/OBR-7, FHIR effective[x]) and
# its interface engine or TrialWatch the message, each from its own clock; clocks kept by NTP
# agree within a second, and 5 minutes is the customary bound for loosely synchronised hosts
# (Kerberos V5, RFC 4120, rejects requests beyond it). A result later than its message by
# more than that cannot have been observed before it was sent.
CLOCK_SKEW = timedelta(minutes=5)
