"""The vocabulary a primitive's parameter model is written in (the trial file's leaf values).

A primitive declares its parameters as a frozen pydantic model built from these; the trial
file format (``schema``) collects every registered model into one discriminated union.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.eligibility.durations import Duration, parse_duration

Op = Literal[">=", ">", "<=", "<", "=="]
IsoDuration = Annotated[str, Field(pattern=r"^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?)?$")]


class Strict(BaseModel):
    """Frozen, and an unknown key is an error (a misspelt parameter never passes silently)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def duration(text: str) -> Duration:
    """A required window (an ``IsoDuration`` already validated by the schema)."""
    return parse_duration(text)


def optional_duration(text: str | None) -> Duration | None:
    """An optional window: None when the trial file leaves it out."""
    return parse_duration(text) if text else None
