"""Reading a result the way every primitive and score does (format-neutral, over facts).

The most recent in-window quantity in a concept's units, a qualitative result read as
positive or negative, a yes/no statement, a censored value judged as the bound it is, and the
reference range that fits the patient. Primitives and scores both read through these, so a
platelet count means the same thing to ``lab`` and to SLEDAI-2K.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime

from shared.clinical.codes import LOINC, SNOMED
from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    Quantity,
    ReadingNote,
    ReferenceRange,
    Sex,
)
from shared.clinical.qualitative import TRIALWATCH_SYSTEMS, coded_answer
from shared.eligibility.context import Context, Trace, as_received
from shared.eligibility.durations import Duration, age_in_years
from shared.eligibility.index import OLDEST
from shared.eligibility.logic import Truth, compare, compare_bounds
from shared.eligibility.reference_tables import Concept

# a received number with its comparator, as the normaliser keeps it (``ReceivedValue.value``)
_SENT_NUMBER = re.compile(r"^\s*(<=|>=|<|>)?\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*$")

# SNOMED CT qualifier values a presence test reads as positive or negative (the normaliser turns
# result words, LOINC answers LA6576-8/LA6577-6/LA11882-0/LA11883-8 and mapped local codes into
# these, ``shared/clinical/qualitative.yaml``): 10828004 Positive, 260373001 Detected, 11214006
# Reactive, 52101004 Present; 260385009 Negative, 260415000 Not detected, 131194007
# Non-reactive, 2667000 Absent. A code is read with its system (FHIR R4 Coding.system: "the code
# system that defines the meaning of the symbol in the code"): "POS" in a lab's own system "L"
# means what that lab's list says, never Positive by its spelling.
POSITIVE_CODES = frozenset({"10828004", "260373001", "11214006", "52101004"})
NEGATIVE_CODES = frozenset({"260385009", "260415000", "131194007", "2667000"})
POSITIVE_FLAGS = frozenset({"POS", "DET", "A", "AA", "H", "HH", "HU", "R"})
NEGATIVE_FLAGS = frozenset({"NEG", "ND", "N", "NR"})


def judge(quantity: Quantity, threshold: float, op: str) -> Truth:
    """``quantity op threshold``, three-valued: a censored result ("<20") is known only as a bound.

    A platelet count reported as "<50" may or may not meet ">= 20", so it is UNKNOWN, never 50.
    A strict bound is open: below "<20" the largest possible float is just under 20.
    """
    comparator, value = quantity.comparator, quantity.value
    if comparator is None:
        return Truth.of(compare(value, threshold, op))
    if comparator == "<":
        return compare_bounds(-math.inf, math.nextafter(value, -math.inf), threshold, op)
    if comparator == "<=":
        return compare_bounds(-math.inf, value, threshold, op)
    if comparator == ">":
        return compare_bounds(math.nextafter(value, math.inf), math.inf, threshold, op)
    if comparator == ">=":
        # a range (``upper`` set) is known to lie in [value, upper]
        return compare_bounds(value, quantity.upper if quantity.upper is not None else math.inf,
                              threshold, op)
    return Truth.UNKNOWN  # the normaliser admits only the four bounds; anything else says nothing


def written(value: float) -> str:
    """A number with every digit it has and no float noise: 150.0 -> "150", 3.834185446722469
    as it is (never ``:g``'s six significant figures, which would differ from the evidence)."""
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e16):
        return str(int(value))
    return repr(value)


def digits(quantity: Quantity, fact: ClinicalFact | None = None) -> str:
    """The number of a result as the sender wrote it, with its comparator: ``"0.50"``, ``"<10"``
    (the received text when it is the same number in the same unit), else :func:`written`."""
    received = fact.received if fact is not None else None
    if received is not None and received.value is not None and (
            received.unit in (None, quantity.unit)):
        match = _SENT_NUMBER.match(received.value)
        if match is not None and float(match.group(2)) == quantity.value:
            return f"{match.group(1) or ''}{match.group(2)}"
    return f"{quantity.comparator or ''}{written(quantity.value)}"


def shown(quantity: Quantity, fact: ClinicalFact | None = None) -> str:
    """``"<20 10*9/L"``, with the digits the sender wrote (:func:`digits`, the same as the
    evidence shows); with ``fact`` keeping a value received in another unit, the canonical value
    at the received precision and the received text: ``"0.502 mg/dL (sent as 44.4 umol/L)"``."""
    if quantity.upper is not None:  # a range: the value lies in [value, upper]
        return f"{written(quantity.value)}-{written(quantity.upper)} {quantity.unit}"
    sent = as_received(fact) if fact is not None and fact.received is not None else None
    if sent is not None:
        return f"{quantity.comparator or ''}{sent[1]} {quantity.unit} (sent as {sent[2]})"
    return f"{digits(quantity, fact)} {quantity.unit}"


def latest_quantity(
    ctx: Context, concept: Concept, lookback: Duration, trace: Trace
) -> ClinicalFact | None:
    """The most recent in-window result with a value in one of the concept's units.

    Windows are half-open: a result taken exactly ``lookback`` before as-of has aged out, so
    the instant it ages out is also the instant a re-evaluation sees the change.

    A result kept unread (``fact.unread``) is returned as it is when it is the most recent:
    an older readable result never stands in for it. The caller says why (``note_unread``).
    """
    as_of = ctx.as_of
    start = ctx.window_start(lookback)
    facts = ctx.facts(concept)
    for at, fact in enumerate(facts):
        moment = fact.effective_start or fact.effective_end or OLDEST
        if moment > as_of:
            continue
        if moment <= start:
            break
        if fact.unread is not None:
            ctx.review_at(lookback.after(moment))
            return fact
        quantity = fact.value_quantity
        if quantity is not None and quantity.unit in concept.units:
            ctx.review_at(lookback.after(moment))
            other = _disagreeing_at_same_time(
                facts, at, moment, lambda f: _quantity_reading(f, concept))
            return fact if other is None else _same_time_conflict(ctx, fact, other, moment)
        unusable = not_a_quantity(fact, concept)
        if unusable is not None:
            # a newer result whose value is no number in the concept's units (a code, a yes/no,
            # another unit): it cannot be judged, and no older result stands in for it
            ctx.review_at(lookback.after(moment))
            return unusable
    return None


def marked_unread(fact: ClinicalFact, reason: str) -> ClinicalFact:
    """``fact`` kept unread with ``reason`` at ``<resource> value`` (``ClinicalFact.unread``):
    a result the engine could not read for a criterion, cited and named like one the
    normaliser kept unread (``context.note_unread``)."""
    note = ReadingNote(path=f"{fact.provenance.resource} value", reason=reason)
    return fact.model_copy(update={"unread": note})


def not_a_quantity(fact: ClinicalFact, concept: Concept) -> ClinicalFact | None:
    """``fact`` marked unread when its value is not a number in one of ``concept.units`` (a
    code, a yes/no, another unit, or only an interpretation flag); None when it is one, or
    when the fact has no value at all (a result without a value is no result: an older one
    stays the latest).

    A flag alone (FHIR R4 Observation.interpretation, "a categorical assessment", e.g. LL
    critically low) is a result without its number: it cannot be judged against a cut-off and
    no older number stands in for it (probe round 3: a platelet count sent as LL alone was
    skipped and an older 180 x10^9/L passed NCT06920433 I6.1)."""
    quantity = fact.value_quantity
    if quantity is not None:
        if quantity.unit in concept.units:
            return None
        reason = f"unit {quantity.unit!r} is not {' or '.join(map(repr, concept.units))}"
    elif fact.value_code is not None:
        code = fact.value_code
        named = f" ({code.display})" if code.display else ""
        reason = f"the coded value {code.code}{named} is not a number in {concept.unit}"
    elif fact.value_boolean is not None:
        reason = f"a yes/no value is not a number in {concept.unit}"
    elif fact.interpretation is not None:
        reason = (f"only a flag (interpretation {fact.interpretation!r}), no number in"
                  f" {concept.unit}: a flag is an assessment, not the value")
    else:
        return None
    return marked_unread(fact, reason)


# FHIR R4 referenceRange.appliesTo: the population a range is for. Sex is the one the engine can
# check against Patient.gender (SNOMED CT 248152002 |Female|, 248153007 |Male|, or the FHIR
# administrative-gender codes); a range for any other population (race, pregnancy) never fits.
_SEX_CODES = {
    ("http://snomed.info/sct", "248152002"): "female",
    ("http://snomed.info/sct", "248153007"): "male",
    ("http://hl7.org/fhir/administrative-gender", "female"): "female",
    ("http://hl7.org/fhir/administrative-gender", "male"): "male",
}
RESULT_RANGE = "result reference range"


def _fits(reference: ReferenceRange, sex: str | None, age: int | None) -> str | None:
    """Why ``reference`` applies to this patient ("" when unrestricted), or None if it does not
    (or cannot be shown to)."""
    why = []
    if reference.type is not None and reference.type.code != "normal":
        # FHIR R4 referenceRange.type (referencerange-meaning): a therapeutic or recommended
        # range is not the limit of normal a "x ULN" criterion means
        return None
    if reference.applies_to:
        sexes = {_SEX_CODES.get((c.system, c.code)) for c in reference.applies_to}
        if None in sexes or sex is None or sex not in sexes:
            return None
        why.append(sex)
    if reference.age_low_years is not None or reference.age_high_years is not None:
        if age is None:
            return None
        low, high = reference.age_low_years, reference.age_high_years
        if (low is not None and age < low) or (high is not None and age > high):
            return None
        why.append(f"age {age}")
    return ", ".join(why)


def _patient_for_range(ctx: Context, fact: ClinicalFact) -> tuple[str | None, int | None]:
    """The patient's sex (female/male, else None) and age on the day ``fact`` was obtained."""
    demographics = ctx.index.demographics
    sex = demographics.sex.value if demographics.sex in (Sex.FEMALE, Sex.MALE) else None
    taken = fact.effective_start or fact.effective_end
    age = (
        age_in_years(demographics.birth_date, taken.date())
        if demographics.birth_date is not None and taken is not None
        else None
    )
    return sex, age


def fitting_range(ctx: Context, fact: ClinicalFact) -> tuple[ReferenceRange | None, str]:
    """The result's own reference range that fits the patient, and the words saying which.

    FHIR R4 ``Observation.referenceRange`` entries are alternatives: the most specific one whose
    ``appliesTo`` (sex) and ``age`` fit the patient is used, in the order sent; an unrestricted
    entry fits everyone. None (with the reason) when no entry fits: the caller then falls back
    to the site's default table. One unrestricted range is used as before.

    The age a range is matched against is the patient's age on the day the result was obtained
    (its ``effective[x]``), not on ``ctx.as_of``: FHIR R4 ``Observation.referenceRange.age`` is
    "the age at which this reference range is applicable", and the laboratory chose it for the
    patient at collection. A result with no time has no such age: an age-restricted range
    does not fit it.
    """
    alternatives = fact.reference_ranges or (
        (fact.reference_range,) if fact.reference_range is not None else ()
    )
    if not alternatives:
        return None, "no reference range sent"
    sex, age = _patient_for_range(ctx, fact)
    fitting = [
        (why, r) for r in alternatives
        if r.unread is None and (why := _fits(r, sex, age)) is not None
    ]
    if not fitting:
        who = f"{sex or 'sex unknown'}, {f'age {age}' if age is not None else 'age unknown'}"
        return None, f"none of the {len(alternatives)} reference ranges sent applies ({who})"
    specific = [(why, r) for why, r in fitting if why]
    why, chosen = (specific or fitting)[0]
    if len(alternatives) == 1 and not why:
        return chosen, RESULT_RANGE
    if why:
        return chosen, f"{RESULT_RANGE} for {why} (of {len(alternatives)} sent)"
    return chosen, f"{RESULT_RANGE} (unrestricted, of {len(alternatives)} sent)"


def _bounds(reference: ReferenceRange) -> tuple[object, ...]:
    return tuple(
        (q.value, q.upper, q.unit, q.comparator) if q is not None else None
        for q in (reference.low, reference.high)
    )


def _rival_range(
    alternatives: tuple[ReferenceRange, ...], sex: str | None, age: int | None
) -> str | None:
    """Why the range ``fitting_range`` would choose has a rival, or None.

    FHIR R4 Observation.referenceRange: "Multiple reference ranges are interpreted as an 'OR'
    ... to represent two distinct target populations, two referenceRange elements would be
    used", the population told by ``appliesTo`` and ``age``. Two entries that fit her for the
    same reason (both unrestricted, both for women, both for her age band) with different
    bounds do not say which is her laboratory's limit of normal: an EHR merging two analysers'
    ranges, a lab's old and new range. Before (probe round 5), the first sent was used: ALT
    150 U/L with highs 56 and 35 met 3 x ULN on 56. The same range sent twice is one range.
    """
    fitting = [
        (why, r) for r in alternatives
        if r.unread is None and (why := _fits(r, sex, age)) is not None
    ]
    if not fitting:
        return None
    specific = [(why, r) for why, r in fitting if why]
    chosen_why, chosen = (specific or fitting)[0]
    rivals = {_bounds(r) for why, r in fitting if why == chosen_why} - {_bounds(chosen)}
    if not rivals:
        return None
    population = chosen_why or "no population restriction"
    return (
        f"{len(rivals) + 1} different reference ranges were sent for the same population"
        f" ({population}; FHIR R4 Observation.referenceRange entries are alternatives for"
        " different populations): which is the lab's limit of normal for her is unknown"
    )


def range_not_read(ctx: Context, fact: ClinicalFact) -> str | None:
    """Why the result's own limit of normal cannot be known although the lab sent a range, or
    None. A range sent but not read (``ReferenceRange.unread``: HL7 v2.5.1 OBX-7, FHIR R4
    referenceRange[i].text) names where and why; ranges that differ by sex (appliesTo) while
    the patient's sex is unknown cannot be chosen between. Either way a criterion relative to
    the limit of normal is unknown: the lab's own range decides, never a site default.
    """
    alternatives = fact.reference_ranges or (
        (fact.reference_range,) if fact.reference_range is not None else ()
    )
    sex_of, age = _patient_for_range(ctx, fact)
    for reference in alternatives:
        # a range not read that could be hers (its type, appliesTo and age do not exclude
        # her): the lab's limit of normal for her is unknown
        if reference.unread is not None and _fits(reference, sex_of, age) is not None:
            return (
                f"the reference range sent at {reference.unread.path} was not read"
                f" ({reference.unread.reason}); the lab's own limit of normal is unknown"
            )
    if (rival := _rival_range(alternatives, sex_of, age)) is not None:
        return rival
    sex = ctx.index.demographics.sex
    if sex not in (Sex.FEMALE, Sex.MALE) and any(r.applies_to for r in alternatives) and (
        fitting_range(ctx, fact)[0] is None
    ):
        return (
            "the reference ranges sent differ by sex (referenceRange.appliesTo, or OBX-7"
            " labelled M/F) and the patient's sex is unknown"
        )
    return None


def read_result(
    fact: ClinicalFact,
    positive_above: float | None,
    units: tuple[str, ...] = (),
    ctx: Context | None = None,
) -> bool | None:
    """True positive, False negative, None unreadable: ``result_reading(...)[0]``."""
    return result_reading(fact, positive_above, units, ctx)[0]


def result_reading(
    fact: ClinicalFact,
    positive_above: float | None,
    units: tuple[str, ...] = (),
    ctx: Context | None = None,
) -> tuple[bool | None, str]:
    """``(True, "")`` positive, ``(False, "")`` negative, ``(None, why)`` unreadable: a
    yes/no value, else a coded value, else a number, else the interpretation flag.

    ``why`` is "" only when the fact carries no value and no flag at all (no result: the caller
    may look at an older one); any other ``None`` names what could not be read, so the caller
    keeps the result unread and no older result decides in its place.

    A coded value is read by (system, code), never by its spelling alone (FHIR R4 Coding.system:
    "the code system that defines the meaning of the symbol in the code"; HL7 v2.5.1 2A.3.13
    CWE-3 names CWE-1's coding system, and table 0396 "L"/"99zzz" are the sender's own): only
    the SNOMED CT qualifiers in ``POSITIVE_CODES``/``NEGATIVE_CODES``, or a code the qualitative
    table reads as one of them (LOINC answers, ``qualitative.yaml`` ``local_codes``), decide.
    ``POS`` in system ``L`` is unread, naming the system. A coded value that is not read is not
    replaced by the flag beside it.

    A number is judged by itself (issue 9 kind 9): against ``positive_above`` when it is in one
    of ``units``, else against the result's own upper reference limit; a number with neither
    is unreadable, never read from its flag. The interpretation flag decides only when there is
    no value: FHIR R4 ``Observation.interpretation`` is "a categorical assessment" of the value,
    and a CD19+ B-cell count of 6.3 % flagged N (normal for the assay's reference population)
    is still 6.3 % of lymphocytes. A censored value ("<20") is only its bound, so ">5" against a
    cut-off of 10 is unreadable.
    """
    if fact.value_boolean is not None:
        return fact.value_boolean, ""
    if fact.value_code is not None:
        return _coded_result(fact.value_code)
    quantity = fact.value_quantity
    if quantity is not None:
        cutoff = None
        if positive_above is not None and quantity.unit in units:
            cutoff = positive_above
        else:
            # with ``ctx``, the reference range that fits the patient (``fitting_range``)
            blocked = range_not_read(ctx, fact) if ctx is not None else None
            if blocked is not None:
                return None, blocked
            reference = fitting_range(ctx, fact)[0] if ctx is not None else fact.reference_range
            high = reference.high if reference else None
            if high is not None and high.unit == quantity.unit:
                cutoff = high.value
        sent = shown(quantity, fact)
        if cutoff is None:
            return None, (
                f"the value {sent} is not in {' or '.join(map(repr, units)) or 'a unit with a'}"
                f" cut-off, and no upper reference limit in {quantity.unit!r} was sent"
            )
        truth = judge(quantity, cutoff, ">")
        if truth is Truth.UNKNOWN:
            return None, f"the value {sent} may lie either side of the cut-off {written(cutoff)}"
        return truth is Truth.TRUE, ""
    if fact.interpretation:
        # table 0078 / ObservationInterpretation codes as written: FHIR R4 "codes defined by
        # FHIR itself are case sensitive"; v2.5.1 2A.3.35 ID values come from the table
        flag = fact.interpretation.strip()
        if flag in POSITIVE_FLAGS:
            return True, ""
        if flag in NEGATIVE_FLAGS:
            return False, ""
        return None, f"interpretation flag {flag!r} says neither positive nor negative"
    return None, ""


def _coded_result(code: Coding) -> tuple[bool | None, str]:
    """A coded result value read by its system and code (``result_reading``)."""
    reading = code
    if code.system != SNOMED:
        answer = coded_answer(code)
        if answer is not None and answer.coding is not None:
            reading = answer.coding
    if reading.system == SNOMED:
        if reading.code.strip() in POSITIVE_CODES:
            return True, ""
        if reading.code.strip() in NEGATIVE_CODES:
            return False, ""
    named = f" ({code.display})" if code.display else ""
    if not code.system.strip():
        return None, (
            f"the coded value {code.code!r}{named} was sent without a code system: a code means"
            " only what its code system says (FHIR R4 Coding.system; HL7 v2.5.1 CWE-3)"
        )
    if code.system not in (SNOMED, LOINC) and not code.system.startswith(TRIALWATCH_SYSTEMS) and (
            reading is code):
        return None, (
            f"the coded value {code.code!r}{named} is in code system {code.system!r}, whose"
            " codes TrialWatch does not know: a local code means only what its own code list"
            " says (FHIR R4 Coding.system; HL7 v2.5.1 CWE-3, table 0396), and no mapping for"
            " that system is configured (qualitative.yaml local_codes)"
        )
    return None, (
        f"the coded value {code.system}|{code.code}{named} is neither a positive nor a"
        " negative result"
    )


def latest_result(
    ctx: Context, concept: Concept, lookback: Duration | None, positive_above: float | None
) -> tuple[ClinicalFact, bool | None] | None:
    """The most recent in-window result read as positive (True) or negative (False).

    ``(fact, None)`` when the most recent in-window result was kept unread (``fact.unread``)
    or cannot be read as positive or negative (a code in a system TrialWatch does not know,
    an Equivocal code, a number without a cut-off, an unknown flag): the fact is returned
    marked unread with the reason (``result_reading``), and no older result is read in its
    place (COMMON rule: a newer result that could not be read never lets an older one decide).
    A fact with no value and no flag at all is no result, and an older one stays the latest.
    None when there is no result.
    """
    as_of = ctx.as_of
    start = ctx.window_start(lookback) if lookback else None
    facts = ctx.facts(concept)
    for at, fact in enumerate(facts):
        moment = fact.effective_start or fact.effective_end or OLDEST
        if moment > as_of:
            continue
        if start is not None and moment <= start:
            break
        if fact.unread is not None:
            if lookback is not None:
                ctx.review_at(lookback.after(moment))
            return fact, None
        result, why = result_reading(fact, positive_above, concept.units, ctx)
        if result is None and not why:
            continue
        if lookback is not None:
            ctx.review_at(lookback.after(moment))
        if result is None:
            return marked_unread(fact, why), None
        other = _disagreeing_at_same_time(
            facts, at, moment,
            lambda f: _result_reading(f, positive_above, concept, ctx))
        if other is not None:
            return _same_time_conflict(ctx, fact, other, moment), None
        return fact, result
    return None


# A reading of another result at the same instant: the value it agrees on, or None when it
# carries no value at all (no result: it neither agrees nor disagrees).
_Reading = Callable[[ClinicalFact], object]


def _quantity_reading(fact: ClinicalFact, concept: Concept) -> object:
    """What a result says for ``latest_quantity``: its number with unit and bound; an unread or
    unusable value says something unknown (a unique object, equal to nothing else)."""
    if fact.unread is not None:
        return object()
    quantity = fact.value_quantity
    if quantity is not None and quantity.unit in concept.units:
        return (quantity.value, quantity.unit, quantity.comparator, quantity.upper)
    return None if not_a_quantity(fact, concept) is None else object()


def _result_reading(fact: ClinicalFact, positive_above: float | None, concept: Concept,
                    ctx: Context) -> object:
    """What a result says for ``latest_result``: positive or negative; unread, or not readable
    as either, says something unknown."""
    if fact.unread is not None:
        return object()
    result, why = result_reading(fact, positive_above, concept.units, ctx)
    if result is None:
        return None if not why else object()
    return result


def _disagreeing_at_same_time(facts: list[ClinicalFact], at: int, moment: datetime,
                              reading: _Reading) -> ClinicalFact | None:
    """Another result taken at the same instant as ``facts[at]`` that says something else.

    ``facts`` is newest first (``index.newest_first``: time, then fact id), so results of one
    instant are adjacent and the fact id, which says nothing clinical, decides only their order.
    FHIR R4 Observation.effective[x] is each result's "clinically relevant time"; HL7 v2.5.1
    7.4.2.4 OBX-4 tells apart OBX segments of one observation id (a test repeated on one draw).
    Neither standard makes one of two results of the same instant replace the other, so when
    they disagree none of them is the latest (the same value twice, one result sent by two
    feeds, is no disagreement).
    """
    mine = reading(facts[at])
    for other in facts[at + 1:]:
        if (other.effective_start or other.effective_end or OLDEST) != moment:
            break
        said = reading(other)
        if said is not None and said != mine:
            return other
    return None


def _same_time_conflict(ctx: Context, fact: ClinicalFact, other: ClinicalFact,
                        moment: datetime) -> ClinicalFact:
    return marked_unread(fact, (
        f"results at the same time ({ctx.when(moment)}) disagree: {fact.provenance.resource}"
        f" and {other.provenance.resource} (FHIR R4 Observation.effective[x], HL7 v2.5.1"
        " 7.4.2.4 OBX-4: neither replaces the other, so neither is the latest)"))


# Coded yes/no answers, by (system, code): SNOMED CT 373066001 |Yes| / 373067005 |No|, LOINC
# answers LA33-6 Yes / LA32-8 No (answer list LL361-7), HL7 table 0136 (Yes/no indicator) Y / N
# under its v2 name "HL70136" (v2.5.1 table 0396) or its FHIR URI. A code in any other system is
# not read by its spelling: "N" in a site's own list is whatever that list says.
V2_0136 = ("HL70136", "http://terminology.hl7.org/CodeSystem/v2-0136")
YES_CODES = frozenset({(SNOMED, "373066001"), (LOINC, "LA33-6"),
                       *((system, "Y") for system in V2_0136)})
NO_CODES = frozenset({(SNOMED, "373067005"), (LOINC, "LA32-8"),
                      *((system, "N") for system in V2_0136)})


def read_boolean(fact: ClinicalFact) -> bool | None:
    """True yes, False no, None not a yes/no answer: ``boolean_reading(fact)[0]``."""
    return boolean_reading(fact)[0]


def boolean_reading(fact: ClinicalFact) -> tuple[bool | None, str]:
    """A statement read as yes/no: ``(value, "")``, or ``(None, why)``.

    ``valueBoolean`` as sent; a coded value only by (system, code) in ``YES_CODES`` /
    ``NO_CODES`` (FHIR R4 Coding.system; HL7 v2.5.1 2A.3.13 CWE-3). ``why`` names what could
    not be read (a code in another system, a code that is no yes/no, a number or a text); it is
    "" only when the fact carries no value at all (no statement: the caller may look at an
    older one). Any other ``None`` keeps the statement unread: no older one decides in its place.
    """
    if fact.value_boolean is not None:
        return fact.value_boolean, ""
    code = fact.value_code
    if code is not None:
        key = (code.system, code.code.strip())
        if key in YES_CODES:
            return True, ""
        if key in NO_CODES:
            return False, ""
        named = f" ({code.display})" if code.display else ""
        if code.system not in (SNOMED, LOINC, *V2_0136):
            return None, (
                f"the coded answer {code.code!r}{named} is in code system {code.system!r}, whose"
                " codes TrialWatch does not read as yes or no (a code means only what its code"
                " system says: FHIR R4 Coding.system; HL7 v2.5.1 CWE-3)"
            )
        return None, f"the coded answer {code.system}|{code.code}{named} is neither yes nor no"
    if fact.value_quantity is not None:
        return None, f"a number ({shown(fact.value_quantity, fact)}) is not a yes/no answer"
    return None, ""


def project_code(fact: ClinicalFact) -> tuple[str | None, str]:
    """The code of a value coded in TrialWatch's own code system (an ISN/RPS 2018 biopsy class,
    a BILAG-2004 grade), upper-cased without spaces, or ``(None, why)``.

    Those answers are defined only by TrialWatch's CodeSystems (``TRIALWATCH_SYSTEMS``): "IV"
    or "A" in any other system means what that system says (FHIR R4 Coding.system), so it is
    not read. ``why`` is "" only when the fact carries no value at all.
    """
    code = fact.value_code
    if code is None:
        if fact.value_boolean is None and fact.value_quantity is None:
            return None, ""
        return None, "the value is not a code of TrialWatch's own code system"
    if not code.system.startswith(TRIALWATCH_SYSTEMS):
        return None, (
            f"the coded value {code.code!r} is in code system {code.system!r}, not TrialWatch's"
            f" own ({TRIALWATCH_SYSTEMS}...): a code means only what its code system says"
            " (FHIR R4 Coding.system)"
        )
    return code.code.strip().upper().replace(" ", ""), ""
