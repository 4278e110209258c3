"""Record primitives: coded conditions, clinician facts, medication use, biopsy class."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from shared.clinical.facts import ClinicalFact, ReadingNote
from shared.eligibility.context import Context, Trace, cite, note_unread
from shared.eligibility.durations import Duration
from shared.eligibility.index import (
    OLDEST,
    UNIDENTIFIED_CONDITIONS,
    fact_time,
    newest_first,
)
from shared.eligibility.logic import Truth
from shared.eligibility.params import IsoDuration, Strict, duration, optional_duration
from shared.eligibility.primitives.base import Node, Requirement
from shared.eligibility.primitives.registry import primitive
from shared.eligibility.reading import boolean_reading, marked_unread, project_code
from shared.eligibility.reference_tables import Concept, Tables


class ConditionArgs(Strict):
    valueset: str
    within: IsoDuration | None = Field(
        default=None, description="onset, abatement or still active within this window"
    )
    active_only: bool = False
    current_within: IsoDuration | None = Field(
        default=None,
        description="an active entry whose onset is older than this, with no end date, is not"
        " read as current: UNKNOWN (needs confirmation), never absent",
    )
    inactive: Literal["present", "unknown"] = Field(
        default="present",
        description="'present' (default): an inactive, remission or resolved entry counts as"
        " on record. 'unknown': for a condition that cannot end (a lifelong trait), such an"
        " entry, one with an abatement, or one whose clinicalStatus is not known contradicts"
        " itself or may: UNKNOWN naming it and its status, never present nor absent",
    )
    inactive_undecided: str | None = Field(
        default=None, max_length=200,
        description="with inactive 'unknown': what such an entry leaves undecided, for the"
        " reason (e.g. 'whether the relaxed bilirubin limit applies')",
    )

    @model_validator(mode="after")
    def _inactive_alone(self) -> ConditionArgs:
        if self.inactive == "unknown" and (self.active_only or self.within is not None):
            raise ValueError("inactive: unknown reads a condition that cannot end; it does not"
                             " combine with active_only or within")
        if self.inactive_undecided is not None and self.inactive != "unknown":
            raise ValueError("inactive_undecided needs inactive: unknown")
        return self


class FactArgs(Strict):
    concept: str
    lookback: IsoDuration | None = Field(default=None, description="how long the fact stays valid")
    absent: Literal["unknown", "false"] = Field(
        default="unknown", description="'false' only for record facts whose absence means no"
    )


class MedUsedArgs(Strict):
    valuesets: list[str]
    started_at_least: IsoDuration | None = None


class BiopsyClassArgs(Strict):
    concept: str
    classes: list[str]
    lookback: IsoDuration


ACTIVE_CONDITION = frozenset({"active", "recurrence", "relapse"})
NOT_A_CONDITION = frozenset({"refuted", "entered-in-error"})
POSSIBLE_CONDITION = frozenset({"unconfirmed", "provisional", "differential"})
"""Condition verificationStatus codes of a possible, unconfirmed diagnosis (FHIR R4 CodeSystem
condition-ver-status: ``unconfirmed`` "there is not sufficient diagnostic and/or clinical
evidence to treat this as a confirmed condition", parent of ``provisional`` and
``differential``). Such an entry is neither the diagnosis nor its absence."""
NOT_TAKEN = frozenset(
    {"not-taken", "not-done", "cancelled", "entered-in-error", "draft", "declined"})
"""Medication statuses that record no exposure (FHIR R4 MedicationStatement ``not-taken``,
MedicationAdministration ``not-done``, MedicationRequest ``cancelled``/``draft``,
MedicationDispense ``cancelled`` "will never be picked up" / ``declined`` "declined and not
performed", medicationdispense-status)."""

USE_NOT_RECORDED = {
    "intended": "'intended' (FHIR R4 medication-statement-status: the medication may be taken"
                " at some time in the future)",
    "unknown": "'unknown' (FHIR R4 medication-statement-status / medicationrequest-status: the"
               " state of the medication use is not currently known; it may be not-taken)",
}
"""Medication statuses that do not record that the drug was used, though it may have been
(or may be): not proof of use for a criterion that needs use (``MedicationUsed``,
``MedicationCount``), where such an entry is kept unread, naming the status; an exposure
(washout) still counts them as possible use. Probe round 3: a prednisone statement
``intended`` since 2024 passed NCT06920433 I2 (use of a glucocorticoid for 6 months)."""


def use_not_recorded(fact: ClinicalFact) -> ClinicalFact | None:
    """``fact`` marked unread when its status records no use (``USE_NOT_RECORDED``), else
    None. The path is the resource's ``status``."""
    why = USE_NOT_RECORDED.get(fact.status or "")
    if why is None:
        return None
    note = ReadingNote(path=f"{fact.provenance.resource} status", reason=(
        f"status {why}: not a record that the drug was taken"))
    return fact.model_copy(update={"unread": note})


ABATED_CONDITION = frozenset({"inactive", "remission", "resolved"})
"""FHIR R4 condition-clinical codes of a condition that is not current (con-4: an abated
condition's clinicalStatus is one of these)."""


def condition_activity(fact: ClinicalFact) -> tuple[bool | None, str]:
    """Whether a condition fact is active: ``(True, "")``, ``(False, "")``, or ``(None, why)``
    when its clinical status is not known (possibly active).

    Only FHIR R4 Condition.clinicalStatus (condition-clinical: active, recurrence, relapse;
    inactive, remission, resolved) says whether a condition is current. A fact with no such
    status (None, or ``confirmed``: a verificationStatus, which says the diagnosis is sure,
    not that it is current; facts published before the normaliser kept such Conditions unread)
    is neither active nor inactive, whatever its dates: con-3 asks for clinicalStatus but is
    only a guideline in R4. An active status with an abatement date contradicts con-4 ("if
    condition is abated, then clinicalStatus must be either inactive, resolved, or
    remission"): not known either. Never guessed from the dates alone.
    """
    status = fact.status
    if status in ABATED_CONDITION:
        return False, ""
    if status in ACTIVE_CONDITION:
        if fact.effective_end is None:
            return True, ""
        return None, (
            f"clinicalStatus {status!r} with an abatement date (FHIR R4 Condition con-4: an"
            " abated condition's clinicalStatus is inactive, resolved or remission): whether"
            " it is active is unknown")
    sent = "" if status is None else (
        f"; {status!r} is not a clinical status (verificationStatus says whether the"
        " diagnosis is sure, not whether it is current)")
    return None, (
        "no clinicalStatus (FHIR R4 Condition.clinicalStatus; con-3, only a guideline in R4:"
        " SHALL be present if verificationStatus is not entered-in-error and category is"
        f" problem-list-item){sent}: whether it is active is unknown")


def coded_as(fact: ClinicalFact) -> str:
    """The codings of ``fact`` as sent, ``system|code`` joined by ``, `` ('no coding' if none)."""
    return ", ".join(f"{c.system}|{c.code}" for c in fact.codes) or "no coding"


def marked_unidentified(fact: ClinicalFact, label: str) -> ClinicalFact:
    """``fact`` (a Condition coded in no system a value set covers: ``index.CONDITION_SYSTEMS``)
    kept unread at its ``code`` with why it cannot be judged against ``label``."""
    return fact.model_copy(update={"unread": ReadingNote(
        path=f"{fact.provenance.resource}.code", reason=(
            f"coded only as {coded_as(fact)}: the value sets list ICD-10-CM and SNOMED CT"
            " codes only, and no code of this system is read as one (WHO ICD-10 and ICD-10-GM"
            " share most, not all, category codes with ICD-10-CM), so whether it is"
            f" {label} is unknown"))})


def marked_unidentified_medication(fact: ClinicalFact, rxnorm_system: str) -> ClinicalFact:
    """``fact`` (a medication no value set or product table identifies:
    ``index.UNIDENTIFIED_MEDICATIONS``) kept unread at its ``medication[x]`` with why: its RxNorm
    code is in neither the product table nor a drug value set, or its systems (NDC, ATC, ...)
    are not read (no shipped map from them to RxNorm; the site's medication crosswalk,
    ``CLINICAL_MEDICATION_CODES_FILE``, maps none of its codes)."""
    rxnorm = [c.code for c in fact.codes if c.system == rxnorm_system]
    systems = ", ".join(dict.fromkeys(c.system for c in fact.codes)) or "none"
    why = (
        f"RxNorm code {', '.join(rxnorm)} is not in the product table"
        " (tables/rxnorm_products.yaml) nor in a drug value set" if rxnorm else
        f"system {systems} not read (no value set lists NDC, ATC or other systems' codes"
        " and the site medication crosswalk maps none of its codes)"
    )
    return fact.model_copy(update={"unread": ReadingNote(
        path=f"{fact.provenance.resource}.medication[x]",
        reason=f"medication coded as {coded_as(fact)} not identified: {why}; which drug it is"
        " is unknown")})


def marked_end_unknown(fact: ClinicalFact, within: Duration | None) -> ClinicalFact:
    """``fact`` (a condition whose clinicalStatus says it ended: inactive, remission, resolved)
    kept unread at its ``abatement[x]`` when no end date was sent (none, or a string, Age or
    Range the normaliser notes but does not date): FHIR R4 Condition.abatement[x] is "the date
    or estimated date that the condition resolved or went into remission", so it ended at some
    instant after its onset, which may lie inside ``within`` (probe round 3: a breast cancer of
    2010 resolved at a time not sent was read as ended in 2010, and NCT06920433 E6, malignancy
    within five years, passed)."""
    onset = (f"onset {fact.effective_start.date().isoformat()}"
             if fact.effective_start is not None else "no onset date")
    scope = f" within {within.words()}" if within is not None else ""
    return fact.model_copy(update={"unread": ReadingNote(
        path=f"{fact.provenance.resource}.abatement[x]", reason=(
            f"clinicalStatus {fact.status!r} ({onset}) with no abatement date (FHIR R4"
            " Condition.abatement[x]: when it resolved or went into remission): it may have"
            f" ended{scope}, which is unknown"))})


def marked_status_unknown(fact: ClinicalFact, why: str) -> ClinicalFact:
    """``fact`` kept unread at its clinicalStatus with ``why`` (``condition_activity``)."""
    return fact.model_copy(update={"unread": ReadingNote(
        path=f"{fact.provenance.resource}.clinicalStatus", reason=why)})


class ConditionOnRecord(Node):
    """The record shows the condition (optionally active, or within a window).

    Closed-world over the record: no matching entry is FALSE. Criteria pair this with a
    clinician attestation so that an incomplete record cannot make an exclusion pass alone.
    A matching entry kept unread (``fact.unread``) is not absence: with no readable entry
    showing the condition, the answer is UNKNOWN and names it.

    ``current_within`` (for conditions of bounded duration, e.g. pregnancy): an entry still
    active with no end date whose onset is at least this long before as-of is implausible as
    current (a record not closed by its sender); it is neither read as current nor as absent:
    with no other entry showing the condition the answer is UNKNOWN, needing confirmation.
    An active entry with no onset date is read as current (the record says so).

    An entry whose clinical status is not known (``condition_activity``: no clinicalStatus, a
    verificationStatus alone, active with an abatement date) is possibly active: it is read
    where either reading gives the same answer (ever on record; recorded within the window);
    where the criterion needs to know whether it is active (``active_only``, or a window its
    dates fall before) it is kept unread at ``clinicalStatus``, so the answer is UNKNOWN naming
    the element (FHIR R4 Condition.clinicalStatus, con-3), never silently active or inactive.

    A possible diagnosis (verificationStatus in ``POSSIBLE_CONDITION``) is neither presence nor
    absence: with no confirmed entry showing the condition, the answer is UNKNOWN, naming the
    entry and its verificationStatus (an exclusion it may meet cannot be checked; an inclusion
    needing it is not met). One that abated (an end date) is not read as active, nor as within
    a window that began after it ended.

    ``inactive_unknown`` (``inactive: unknown``, for a condition that cannot end, e.g. the
    lifelong genetic trait Gilbert syndrome): an entry recorded as not current (FHIR R4
    condition-clinical ``inactive`` "no longer evidence of the condition", ``remission``,
    ``resolved`` "negligible perceived risk of the symptoms returning"; or abated, con-4)
    contradicts what the condition is, and one whose clinicalStatus is not known
    (``condition_activity``) may: reading it as present and reading it as absent are both
    guesses. With no active entry, such an entry makes the answer UNKNOWN, naming it and its
    status, and ``undecided`` (what it leaves undecided) in the finding. Refuted and
    entered-in-error entries stay no evidence; an active entry is TRUE, no entry FALSE.
    """

    __slots__ = ("active_only", "concept", "current_within", "inactive_unknown", "undecided",
                 "within")

    def __init__(
        self, concept: Concept, within: Duration | None, active_only: bool,
        current_within: Duration | None = None, *, inactive_unknown: bool = False,
        undecided: str | None = None,
    ) -> None:
        self.concept, self.within, self.active_only = concept, within, active_only
        self.current_within = current_within
        self.inactive_unknown = inactive_unknown
        self.undecided = undecided or f"whether {concept.label} is present"

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        start = self.within.before(ctx.as_of) if self.within else None
        stale_before = self.current_within.before(ctx.as_of) if self.current_within else None
        unread: list[ClinicalFact] = []
        stale: list[ClinicalFact] = []
        possible: list[ClinicalFact] = []
        unknown_status: list[ClinicalFact] = []
        not_current: list[ClinicalFact] = []
        for fact in ctx.facts(self.concept):
            if fact.status in NOT_A_CONDITION or fact_time(fact) > ctx.as_of:
                continue
            if fact.status in POSSIBLE_CONDITION:
                ended = fact.effective_end
                if ended is None or not (
                        self.active_only or (start is not None and ended <= start)):
                    possible.append(fact)
                continue
            if fact.unread is not None:
                unread.append(fact)
                continue
            active, why = condition_activity(fact)
            if self.inactive_unknown and not active:
                # a condition that cannot end, recorded as ended (or possibly so): neither
                # present nor absent (FHIR R4 Condition.clinicalStatus, con-4)
                if active is None:
                    unknown_status.append(marked_status_unknown(fact, why))
                else:
                    not_current.append(fact)
                continue
            if active is None:
                # possibly active: it decides only where either reading gives the same answer
                # (ever on record; last seen within the window)
                last_seen = fact.effective_end or fact.effective_start
                if self.active_only or (start is not None and (
                        last_seen is None or last_seen <= start)):
                    unknown_status.append(marked_status_unknown(fact, why))
                    continue
                if start is not None:
                    assert self.within is not None
                    assert last_seen is not None
                    ctx.review_at(self.within.after(last_seen))
                moment = ctx.when(last_seen) if last_seen is not None else "undated"
                trace.evidence.append(cite(
                    fact, note=f"{self.concept.label}: recorded ({moment}), clinical status"
                    " unknown"))
                trace.findings.append(
                    f"{self.concept.label} on record (recorded {moment}; whether it is active"
                    " is unknown, which this criterion does not need)")
                return Truth.TRUE
            if self.active_only and not active:
                continue
            if active and stale_before is not None and fact.effective_start is not None:
                if fact.effective_start <= stale_before:
                    stale.append(fact)
                    continue
                assert self.current_within is not None
                ctx.review_at(self.current_within.after(fact.effective_start))
            if start is not None and not active:
                if fact.effective_end is None and (
                        fact.effective_start is None or fact.effective_start <= start):
                    # abated at an instant not sent: it may have ended within the window
                    unknown_status.append(marked_end_unknown(fact, self.within))
                    continue
                last_seen = fact.effective_end or fact.effective_start
                if last_seen is None or last_seen <= start:
                    continue
                assert self.within is not None
                ctx.review_at(self.within.after(last_seen))
            state = (
                "active"
                if active
                else f"recorded, last {ctx.when(fact.effective_end or fact.effective_start)}"
            )
            trace.evidence.append(cite(fact, note=f"{self.concept.label}: {state}"))
            trace.findings.append(f"{self.concept.label} on record ({state})")
            return Truth.TRUE
        unread.extend(self._unidentified(ctx, start))
        if unread or stale or possible or unknown_status or not_current:
            for fact in (*unread, *unknown_status):
                note_unread(trace, self.concept.label, fact)
            for fact in not_current:
                label, status = self.concept.label, fact.status
                abated = (f", abated {ctx.when(fact.effective_end)}"
                          if fact.effective_end is not None else "")
                trace.evidence.append(cite(
                    fact, note=f"{label}: clinicalStatus {status}{abated}"))
                trace.need(f"confirmation whether the {label} recorded as {status} is present")
                trace.findings.append(
                    f"{label} on record but recorded as {status}{abated} (FHIR R4"
                    " Condition.clinicalStatus, condition-clinical: not current), which this"
                    f" lifelong condition cannot be: cannot tell {self.undecided}")
            for fact in possible:
                label, status = self.concept.label, fact.status
                trace.evidence.append(cite(
                    fact, note=f"{label}: {status} diagnosis (verificationStatus)"))
                trace.need(f"confirmation whether the {status} {label} diagnosis on record"
                           " is the diagnosis")
                trace.findings.append(
                    f"{label} on record only as a possible diagnosis (verificationStatus"
                    f" {status!r}, FHIR R4 condition-ver-status: not confirmed): it can be"
                    " neither counted nor ruled out")
            for fact in stale:
                assert self.current_within is not None
                since = ctx.when(fact.effective_start)
                trace.evidence.append(cite(
                    fact, note=f"{self.concept.label}: active since {since}, no end date"))
                trace.need(f"confirmation whether the {self.concept.label} on record since "
                           f"{since} is current")
                trace.findings.append(
                    f"{self.concept.label} on record as active since {since} with no end date:"
                    f" longer than {self.current_within.words()}, so not read as current;"
                    " needs confirmation")
            return Truth.UNKNOWN
        scope = f" within {self.within.words()}" if self.within else ""
        trace.findings.append(f"no {self.concept.label} on record{scope}")
        return Truth.FALSE

    def _unidentified(self, ctx: Context, start: datetime | None) -> list[ClinicalFact]:
        """Conditions no value set can judge (``UNIDENTIFIED_CONDITIONS``) that this criterion
        would count if they were ``self.concept``: kept unread, so the answer is UNKNOWN naming
        them, never absent. One known not active (abated, or last seen before the window) is
        left out where the criterion needs an active one or one within the window."""
        found: list[ClinicalFact] = []
        for fact in ctx.facts(UNIDENTIFIED_CONDITIONS):
            if fact.status in NOT_A_CONDITION or fact_time(fact) > ctx.as_of:
                continue
            active, _ = condition_activity(fact)
            if active is False and fact.status not in POSSIBLE_CONDITION:
                # abated at an instant not sent (no end date): it may have ended in the window
                if self.active_only or (start is not None and fact.effective_end is not None
                                        and fact.effective_end <= start):
                    continue
                if start is not None and fact.effective_end is not None:
                    assert self.within is not None
                    ctx.review_at(self.within.after(fact.effective_end))
            found.append(fact if fact.unread is not None
                         else marked_unidentified(fact, self.concept.label))
        return found

    def requirements(self) -> list[Requirement]:
        scope = (
            "active"
            + (
                f"; an active entry with onset {self.current_within.words()} or more ago and no"
                " end date needs confirmation"
                if self.current_within
                else ""
            )
            if self.active_only
            else (
                f"onset/abatement within {self.within.words()} or active" if self.within else "ever"
            )
        )
        if self.inactive_unknown:
            scope = ("active; an inactive, remission or resolved entry, an abated one or one"
                     " of unknown clinicalStatus is unknown")
        return [
            Requirement(
                self.concept.name,
                f"Condition on record ({scope}); clinicalStatus and onset/abatement",
            )
        ]


class ClinicianFact(Node):
    """A documented yes/no fact; absent (or expired) is UNKNOWN, or FALSE for record facts."""

    __slots__ = ("_absent", "_need", "absent_is_false", "concept", "lookback")

    def __init__(
        self, concept: Concept, lookback: Duration | None, absent_is_false: bool = False
    ) -> None:
        self.concept, self.lookback, self.absent_is_false = concept, lookback, absent_is_false
        scope = f" (documented within {lookback.words()})" if lookback else ""
        self._need = f"{concept.label}{scope}"
        absent = "no record of" if absent_is_false else "not documented:"
        self._absent = f"{absent} {concept.label}"

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        lookback = self.lookback
        as_of = ctx.as_of
        start = ctx.window_start(lookback) if lookback else None
        for fact in ctx.facts(self.concept):
            moment = fact.effective_start or fact.effective_end or OLDEST
            if moment > as_of:
                continue
            if start is not None and moment <= start:
                break
            if fact.unread is not None:
                # the most recent statement could not be read: no older one stands in for it
                if lookback is not None:
                    ctx.review_at(lookback.after(moment))
                note_unread(trace, self.concept.label, fact)
                return Truth.UNKNOWN
            value, why = boolean_reading(fact)
            if value is None and not why:
                continue  # no value at all: no statement, an older one may stand
            if lookback is not None:
                ctx.review_at(lookback.after(moment))
            if value is None:
                # a newer statement that is no yes/no answer: no older one decides for it
                note_unread(trace, self.concept.label, marked_unread(fact, why))
                return Truth.UNKNOWN
            label = self.concept.label
            trace.evidence.append(cite(fact, value=value, note=label))
            trace.findings.append(f"{label}: {'yes' if value else 'no'} ({ctx.when(moment)})")
            return Truth.TRUE if value else Truth.FALSE
        if self.absent_is_false:
            trace.findings.append(self._absent)
            return Truth.FALSE
        trace.need(self._need)
        trace.gap(self._absent)
        return Truth.UNKNOWN

    def requirements(self) -> list[Requirement]:
        scope = f", valid {self.lookback.words()}" if self.lookback else ""
        return [
            Requirement(
                self.concept.name,
                f"yes/no fact (valueBoolean){scope};"
                f" absent = {'no' if self.absent_is_false else 'unknown'}",
            )
        ]


def earliest_start(facts: list[ClinicalFact]) -> datetime | None:
    starts = [f.effective_start for f in facts if f.effective_start is not None]
    return min(starts) if starts else None


class MedicationUsed(Node):
    """The record shows use of a drug in the value sets (started at least ``started_at_least`` ago).

    Absence of a record cannot prove the drug was never used: no match is UNKNOWN. An entry
    kept unread does not prove use; when it is all there is, the answer names it.
    """

    __slots__ = ("_labels", "_need", "concepts", "started_at_least")

    def __init__(self, concepts: list[Concept], started_at_least: Duration | None) -> None:
        self.concepts, self.started_at_least = tuple(concepts), started_at_least
        self._labels = labels = " or ".join(c.label for c in self.concepts)
        duration = f" started at least {started_at_least.words()} ago" if started_at_least else ""
        self._need = f"record of {labels} use{duration}"

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        as_of = ctx.as_of
        facts = [
            f
            for c in self.concepts
            for f in ctx.facts(c)
            if f.status not in NOT_TAKEN and fact_time(f) <= as_of
        ]
        labels = self._labels
        facts = [(use_not_recorded(f) or f) if f.unread is None else f for f in facts]
        unread = [f for f in facts if f.unread is not None]
        if unread:
            facts = [f for f in facts if f.unread is None]
            if not facts:
                for fact in unread:
                    note_unread(trace, labels, fact)
        if not facts:
            trace.need(self._need)
            trace.gap(f"no {labels} on record")
            return Truth.UNKNOWN
        first = earliest_start(facts)
        if self.started_at_least is not None:
            if first is None:
                trace.need(f"start date of {labels}")
                return Truth.UNKNOWN
            since = self.started_at_least.after(first)
            if since > as_of:
                ctx.review_at(since)
                trace.evidence.append(cite(facts[0], note=f"first started {ctx.when(first)}"))
                trace.need(self._need)
                trace.gap(
                    f"{labels} started {ctx.when(first)},"
                    f" less than {self.started_at_least.words()} ago"
                )
                return Truth.UNKNOWN
        newest = facts[0] if len(facts) == 1 else max(facts, key=newest_first)
        trace.evidence.append(cite(newest, note=f"{labels}; first started {ctx.when(first)}"))
        trace.findings.append(f"{labels} on record since {ctx.when(first)}")
        return Truth.TRUE

    def requirements(self) -> list[Requirement]:
        scope = (
            f"started at least {self.started_at_least.words()} before"
            if self.started_at_least
            else "ever"
        )
        return [
            Requirement(c.name, f"medication use ({scope}); RxNorm ingredient or mapped product")
            for c in self.concepts
        ]


class BiopsyClassIn(Node):
    __slots__ = ("classes", "concept", "lookback")

    def __init__(self, concept: Concept, classes: list[str], lookback: Duration) -> None:
        self.concept, self.lookback = concept, lookback
        self.classes = frozenset(c.upper().replace(" ", "") for c in classes)

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        start = self.lookback.before(ctx.as_of)
        for fact in ctx.facts(self.concept):
            moment = fact_time(fact)
            klass, why = project_code(fact)
            if moment > ctx.as_of or (klass is None and not why and fact.unread is None):
                continue
            if moment <= start:
                break
            ctx.review_at(self.lookback.after(moment))
            if fact.unread is not None or klass is None:
                # the newest biopsy's class could not be read: no older biopsy stands in
                note_unread(trace, self.concept.label,
                            fact if fact.unread is not None else marked_unread(fact, why))
                return Truth.UNKNOWN
            ok = klass in self.classes
            trace.evidence.append(cite(fact, note="ISN/RPS 2018 class"))
            trace.findings.append(
                f"renal biopsy {ctx.when(moment)}: class {klass}"
                f" ({'in' if ok else 'not in'} {', '.join(sorted(self.classes))})"
            )
            return Truth.of(ok)
        trace.need(f"{self.concept.label} within {self.lookback.words()}")
        trace.gap(f"no renal biopsy class within {self.lookback.words()}")
        return Truth.UNKNOWN

    def requirements(self) -> list[Requirement]:
        return [
            Requirement(
                self.concept.name,
                f"biopsy within {self.lookback.words()}; class in {sorted(self.classes)}",
            )
        ]


@primitive("condition", ConditionArgs, concept_fields=("valueset",))
def _condition(a: ConditionArgs, tables: Tables) -> Node:
    return ConditionOnRecord(
        tables.concept(a.valueset), optional_duration(a.within), a.active_only,
        optional_duration(a.current_within), inactive_unknown=a.inactive == "unknown",
        undecided=a.inactive_undecided,
    )


@primitive("fact", FactArgs, concept_fields=("concept",))
def _fact(a: FactArgs, tables: Tables) -> Node:
    return ClinicianFact(
        tables.concept(a.concept), optional_duration(a.lookback), a.absent == "false"
    )


@primitive("med_used", MedUsedArgs, concept_fields=("valuesets",))
def _med_used(a: MedUsedArgs, tables: Tables) -> Node:
    return MedicationUsed(
        [tables.concept(v) for v in a.valuesets], optional_duration(a.started_at_least)
    )


@primitive("biopsy_class", BiopsyClassArgs, concept_fields=("concept",))
def _biopsy_class(a: BiopsyClassArgs, tables: Tables) -> Node:
    return BiopsyClassIn(tables.concept(a.concept), a.classes, duration(a.lookback))
