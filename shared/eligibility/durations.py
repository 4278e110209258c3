"""ISO-8601 durations (PnYnMnWnDTnHnM) with calendar-true months and years.

Look-back windows in trial files read like the protocol ("within 6 months"), so a month is
a calendar month, clamped to the month's last day, never a fixed 30 days.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_PATTERN = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?)?$"
)


@dataclass(frozen=True, slots=True)
class Duration:
    text: str
    months: int
    fixed: timedelta

    def before(self, moment: datetime) -> datetime:
        if not self.months:
            return moment - self.fixed
        return add_months(moment, -self.months) - self.fixed

    def after(self, moment: datetime) -> datetime:
        if not self.months:
            return moment + self.fixed
        return add_months(moment, self.months) + self.fixed

    def words(self) -> str:
        """A coordinator-readable rendering, e.g. '30 days', '6 months'."""
        parts: list[str] = []
        years, months = divmod(self.months, 12)
        for amount, unit in ((years, "year"), (months, "month")):
            if amount:
                parts.append(f"{amount} {unit}{'s' if amount != 1 else ''}")
        days = self.fixed.days
        hours = self.fixed.seconds // 3600
        minutes = self.fixed.seconds % 3600 // 60
        for amount, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")):
            if amount:
                parts.append(f"{amount} {unit}{'s' if amount != 1 else ''}")
        return " ".join(parts) or "0 days"


def parse_duration(text: str) -> Duration:
    match = _PATTERN.match(text)
    if match is None or text in ("P", "PT"):
        raise ValueError(f"not an ISO-8601 duration: {text!r}")
    g = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
    fixed = timedelta(weeks=g["weeks"], days=g["days"], hours=g["hours"], minutes=g["minutes"])
    return Duration(text=text, months=g["years"] * 12 + g["months"], fixed=fixed)


def add_months(moment: datetime, months: int) -> datetime:
    if months == 0:
        return moment
    total = moment.year * 12 + (moment.month - 1) + months
    year, month0 = divmod(total, 12)
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


def birthday(birth_date: date, years: int) -> date:
    """The date a person born on ``birth_date`` turns ``years`` (29 Feb births turn on 1 Mar)."""
    year = birth_date.year + years
    if birth_date.month == 2 and birth_date.day == 29 and not calendar.isleap(year):
        return date(year, 3, 1)
    return birth_date.replace(year=year)


def age_in_years(birth_date: date, on: date) -> int:
    years = on.year - birth_date.year
    if on < birthday(birth_date, years):
        years -= 1
    return years
