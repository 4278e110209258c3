"""Aware-UTC time helpers shared by every layer (pure: no clock is read here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def as_utc(value: datetime) -> datetime:
    """Return ``value`` converted to UTC; naive datetimes are refused, never guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: a timezone offset is required")
    return value.astimezone(UTC)


def iso_z(value: datetime) -> str:
    """Render an aware datetime as ISO-8601 UTC with a trailing ``Z``."""
    return as_utc(value).isoformat().replace("+00:00", "Z")


UtcDatetime = Annotated[AwareDatetime, AfterValidator(as_utc)]
"""A pydantic field type: any aware datetime, stored as UTC."""
