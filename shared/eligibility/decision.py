"""The decision the engine returns, the evaluator publishes and the audit trail keeps.

``outcome`` says whether a criterion allows eligibility: an inclusion whose condition holds
passes, an exclusion whose condition holds fails. ``status`` is ``eligible`` only when every
criterion passes, ``ineligible`` when any fails, ``undetermined`` otherwise.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.time import UtcDatetime


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Status(StrEnum):
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    UNDETERMINED = "undetermined"


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


class CriterionKind(StrEnum):
    INCLUSION = "inclusion"
    EXCLUSION = "exclusion"


Scalar = str | int | float | bool | None


class Evidence(_Frozen):
    """One piece of data a criterion used, with where it came from and how it was read."""

    fact_id: str | None = None
    resource: str | None = Field(default=None, description="e.g. 'Observation/abc' or HL7v2 ref")
    code: str | None = Field(default=None, description="'system|code'")
    value: Scalar = None
    unit: str | None = None
    effective: UtcDatetime | None = None
    note: str | None = None
    details: dict[str, Scalar] = Field(default_factory=dict)


class CriterionResult(_Frozen):
    id: str
    kind: CriterionKind
    outcome: Outcome
    reason: str
    evidence: tuple[Evidence, ...] = ()
    missing: tuple[str, ...] = ()


TRIAL_TEXT_MAX_LENGTH = 64
"""A trial id, a trial version, the engine version: the evaluator's String(64) columns and
the trial file schema (``schema.TrialHeader``); real at most 23 ("trialwatch-engine/1.1.0")."""


class TrialRef(_Frozen):
    id: str = Field(max_length=TRIAL_TEXT_MAX_LENGTH)
    version: str = Field(max_length=TRIAL_TEXT_MAX_LENGTH)


class Decision(_Frozen):
    trial: TrialRef
    as_of: UtcDatetime
    status: Status
    criteria: tuple[CriterionResult, ...]
    next_review_at: UtcDatetime | None = None
    engine_version: str = Field(max_length=TRIAL_TEXT_MAX_LENGTH)
    parameters: dict[str, Scalar] = Field(
        default_factory=dict,
        description="the trial version's named interpretation parameters this decision used",
    )


def overall_status(outcomes: list[Outcome] | tuple[Outcome, ...]) -> Status:
    """Eligible only when every criterion passes; any fail is ineligible; else undetermined."""
    if not outcomes:
        return Status.UNDETERMINED
    if Outcome.FAIL in outcomes:
        return Status.INELIGIBLE
    if outcomes.count(Outcome.PASS) == len(outcomes):
        return Status.ELIGIBLE
    return Status.UNDETERMINED
