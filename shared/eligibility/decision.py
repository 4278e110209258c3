"""The decision the engine returns, the evaluator publishes and the audit trail keeps.

``outcome`` says whether a criterion allows eligibility: an inclusion whose condition holds
passes, an exclusion whose condition holds fails. ``status`` is ``eligible`` only when every
criterion passes, ``ineligible`` when any fails, ``undetermined`` otherwise.
"""

from __future__ import annotations

from collections.abc import Sized
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.clinical import facts
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


# Length bounds of every text a decision carries (issue 14 section 2): the evaluator publishes
# decisions (``DecisionMade``), alerts quote their reasons and needs, audit keeps them. A text
# that reads one fact is bounded by what a fact may hold (``shared.clinical.facts``, itself
# bounded at intake) plus the engine's own words; a text the engine joins from many findings
# (a reason) has no bound by construction, so the engine refuses, naming the criterion and the
# field, a decision with a longer text (``check_texts``: ``DecisionTextTooLong``) and the
# evaluator records it as an engine failure (undetermined, never eligible); nothing is cut.
# "real N": the longest value in the golden decisions (tests/fixtures/golden_decisions, 533
# decisions) and the shipped trial files (shared/trials), measured 2026-12-02.
CRITERION_ID_MAX_LENGTH = 32
"""A criterion id: the trial file's ``I1``/``E6.1`` (``schema.CriterionSpec``) or the engine's
``PATIENT-DECEASED``; real 16."""
CRITERION_REASON_MAX_LENGTH = 16_384
"""A criterion's reason: its summary (<= ``SUMMARY_MAX_LENGTH``), its findings and what it
needs; real 5,555 (E-washout citing 10 unidentified medications). Alerts quote it
(``shared.contracts.events.ALERT_TEXT_MAX_LENGTH`` holds it in people's words)."""
EVIDENCE_TEXT_MAX_LENGTH = facts.REASON_MAX_LENGTH + 8_192
"""A note or a needed item, each about one fact or datum: a reading note's sentence
(``facts.REASON_MAX_LENGTH``) with the engine's words around it; real 237 (note) and 366
(needed item)."""
CODE_TEXT_MAX_LENGTH = facts.SYSTEM_MAX_LENGTH + 1 + facts.CODE_MAX_LENGTH
"""``system|code`` of a fact's coding, or an element name (``Patient.birthDate``); real 102."""
VALUE_TEXT_MAX_LENGTH = facts.TEXT_MAX_LENGTH
"""A value or detail written as text: a date, a code, a value as sent (<= a fact's sent text);
real 333 (a label citation in ``details``)."""
NAME_MAX_LENGTH = 64
"""A ``details`` key or a parameter name (the engine's and the trial file's names); real 30."""
PARAMETER_TEXT_MAX_LENGTH = 1_024
"""A trial parameter's text value (``schema.Parameter``); real 202."""
DETAILS_MAX_ITEMS = 64
"""Named details of one evidence item (the engine's own keys); real 7."""
MISSING_MAX_ITEMS = 1_024
"""Needed items of one criterion (one per datum it waits for); real 11."""
MAX_CRITERIA = 1_024
"""Criteria of one trial version (``schema.TrialFile``), so the ids a need unblocks
(``readable.Need``); real 26 (25 and PATIENT-DECEASED)."""
PARAMETERS_MAX_ITEMS = 256
"""Named parameters of a trial version (``schema.TrialFile``); real 35."""

ValueText = Annotated[str, Field(max_length=VALUE_TEXT_MAX_LENGTH)]
Scalar = ValueText | int | float | bool | None
CriterionId = Annotated[str, Field(max_length=CRITERION_ID_MAX_LENGTH)]
NeededItem = Annotated[str, Field(max_length=EVIDENCE_TEXT_MAX_LENGTH)]
Name = Annotated[str, Field(max_length=NAME_MAX_LENGTH)]


class Evidence(_Frozen):
    """One piece of data a criterion used, with where it came from and how it was read."""

    fact_id: str | None = Field(default=None, max_length=facts.TOKEN_MAX_LENGTH)
    resource: str | None = Field(default=None, max_length=facts.RESOURCE_MAX_LENGTH,
                                 description="e.g. 'Observation/abc' or HL7v2 ref")
    code: str | None = Field(default=None, max_length=CODE_TEXT_MAX_LENGTH,
                             description="'system|code'")
    value: Scalar = None
    unit: str | None = Field(default=None, max_length=facts.SENT_UNIT_MAX_LENGTH)
    effective: UtcDatetime | None = None
    note: str | None = Field(default=None, max_length=EVIDENCE_TEXT_MAX_LENGTH)
    details: dict[Name, Scalar] = Field(default_factory=dict, max_length=DETAILS_MAX_ITEMS)


class CriterionResult(_Frozen):
    id: CriterionId
    kind: CriterionKind
    outcome: Outcome
    reason: str = Field(max_length=CRITERION_REASON_MAX_LENGTH)
    evidence: tuple[Evidence, ...] = ()
    missing: tuple[NeededItem, ...] = Field(default=(), max_length=MISSING_MAX_ITEMS)


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
    parameters: dict[Name, Scalar] = Field(
        default_factory=dict, max_length=PARAMETERS_MAX_ITEMS,
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


class DecisionTextTooLong(ValueError):
    """A text the engine wrote is longer than its bound (or a list has more items): the
    decision is refused where it is made, naming the criterion, the field and both lengths,
    never the text (it may quote clinical data). The evaluator records an engine failure
    (undetermined, never eligible) rather than publishing a decision that the contracts, the
    alerts or audit would refuse; nothing is cut."""


def check_texts(
    criteria: tuple[CriterionResult, ...], checked: tuple[Evidence, ...] = ()
) -> None:
    """Raise ``DecisionTextTooLong`` for the first text of ``criteria`` over its bound above
    (the engine builds results without validation, ``construct``); the same bounds as the
    models, checked in one table-driven pass of ``len`` (no pydantic validation: a decision
    has tens of results and hundreds of evidence items). Within a result the fields are
    checked in the order of ``_RESULT_TEXTS``, its ``missing`` items, then each evidence
    item's ``_EVIDENCE_TEXTS`` and details, so the error names the first field over its
    bound. A field of another type (a number, None) has no length bound; a result or evidence
    item missing a field raises what reading it raises (AttributeError).

    ``checked``: evidence items (the very objects) that this check passed before, in a result
    the caller still holds (an incremental evaluation's earlier result of the same criterion,
    whose replayed evidence it shares). An item's bounds do not depend on the result it is in,
    so each of them is skipped: the same answer, without reading its texts again."""
    known = {id(item) for item in checked} if checked else None
    for result in criteria:
        over = _first_over(result, known)
        if over is not None:
            field, value, limit = over
            raise DecisionTextTooLong(
                f"criterion {result.id[:CRITERION_ID_MAX_LENGTH]}: {field} is {len(value):,}"
                f" long, more than its bound {limit:,} (shared.eligibility.decision)")


_TEXTS = (str, tuple, dict)
"""What has a length bound (anything else has none)."""

_RESULT_TEXTS = (
    ("id", "id", CRITERION_ID_MAX_LENGTH),
    ("reason", "reason", CRITERION_REASON_MAX_LENGTH),
    ("missing", "missing (items)", MISSING_MAX_ITEMS),
)
"""A result's own texts, in the order checked: (attribute, name in the error, bound)."""

_EVIDENCE_TEXTS = (
    ("fact_id", "evidence[].fact_id", facts.TOKEN_MAX_LENGTH),
    ("resource", "evidence[].resource", facts.RESOURCE_MAX_LENGTH),
    ("code", "evidence[].code", CODE_TEXT_MAX_LENGTH),
    ("value", "evidence[].value", VALUE_TEXT_MAX_LENGTH),
    ("unit", "evidence[].unit", facts.SENT_UNIT_MAX_LENGTH),
    ("note", "evidence[].note", EVIDENCE_TEXT_MAX_LENGTH),
)
"""Each evidence item's texts, in the order checked (its details follow them)."""


def _first_over(
    result: CriterionResult, known: set[int] | None = None
) -> tuple[str, Sized, int] | None:
    """The first text of ``result`` over its bound, as (name in the error, the text, bound);
    None when every one fits. Evidence items whose ``id`` is in ``known`` (checked before and
    still alive) are not read."""
    texts = _TEXTS
    ident = result.id
    if type(ident) is not str:
        # the error names the criterion by a slice of its id: an id that cannot be sliced is
        # refused here, whatever its texts (TypeError), as the error would refuse it
        ident[:CRITERION_ID_MAX_LENGTH]
    for name, field, limit in _RESULT_TEXTS:
        value = getattr(result, name)
        if isinstance(value, texts) and len(value) > limit:
            return field, value, limit
    for item in result.missing:
        if isinstance(item, texts) and len(item) > EVIDENCE_TEXT_MAX_LENGTH:
            return "missing[]", item, EVIDENCE_TEXT_MAX_LENGTH
    for evidence in result.evidence:
        if known is not None and id(evidence) in known:
            continue
        for name, field, limit in _EVIDENCE_TEXTS:
            value = getattr(evidence, name)
            if isinstance(value, texts) and len(value) > limit:
                return field, value, limit
        details = evidence.details
        if details:
            if isinstance(details, texts) and len(details) > DETAILS_MAX_ITEMS:
                return "evidence[].details (items)", details, DETAILS_MAX_ITEMS
            for key, detail in details.items():
                if isinstance(key, texts) and len(key) > NAME_MAX_LENGTH:
                    return "evidence[].details{key}", key, NAME_MAX_LENGTH
                if isinstance(detail, texts) and len(detail) > VALUE_TEXT_MAX_LENGTH:
                    return "evidence[].details{}", detail, VALUE_TEXT_MAX_LENGTH
    return None
