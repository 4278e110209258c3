"""A decision as a person reads it: what to send next, values in human units, what changed.

Pure presentation over a :class:`Decision` (no I/O, no clock: the caller passes the zone and
every instant). Used by the coordinator app, the worklist API, alerts and ``trialwatch
evaluate``; the stored decision itself is unchanged.

- ``needs``: the de-duplicated "what to send next" list, each item with the criteria it
  unblocks (only criteria still ``unknown`` can be unblocked by new data).
- ``human_unit`` / ``human_value``: UCUM as written on a lab report (``10*9/L`` -> ``x10^9/L``,
  UCUM 2.1 section 2.3.4 writes the power of ten as ``10*``), SNOMED CT qualifier values as
  words (260385009 |Negative|, 10828004 |Positive|), booleans as yes/no.
- ``evidence_value``: a received value exactly as the sender wrote it ("0.50", "<10": never
  altered) unless it has more figures than any laboratory reports ("≈3.59 x10^9/L (rounded;
  received as 3.5936828072853593 x10^9/L)"), a converted one at the precision it was sent
  with and its received text beside it ("110 g/L (sent as 11.0 g/dL)"); a value the engine
  computed at a stated clinical precision and marked "computed" ("83 mL/min, computed").
- ``plain_words``: internal identifiers the engine writes in its sentences (``blood_cell_count``,
  ``sle_specific_antibodies``, value-set lists such as "(valueCode I, II, ...)") in clinical
  wording.
- ``headline``: what changed between the previous decision and this one, in one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.clinical.codes import ICD10CM, LOINC, RXNORM, SNOMED
from shared.eligibility.context import round_to, significant_figures
from shared.eligibility.decision import (
    EVIDENCE_TEXT_MAX_LENGTH,
    MAX_CRITERIA,
    CriterionId,
    CriterionResult,
    Decision,
    Evidence,
    Outcome,
    Scalar,
)
from shared.eligibility.durations import age_in_years, birthday, parse_duration
from shared.eligibility.engine import DECEASED_ID, permanent_failures, waiting_failures

# SNOMED CT qualifier values a result is commonly sent as (valueCodeableConcept / OBX-5 CWE).
_SNOMED_WORDS = {
    "260385009": "negative",
    "10828004": "positive",
    "52101004": "present",
    "2667000": "absent",
    "260415000": "not detected",
    "260373001": "detected",
}
_UNIT_WORDS = {
    "1": "",
    "%": "%",
    "[IU]/mL": "IU/mL",
    "g/(24.h)": "g/24 h",
    "/[HPF]": "/HPF",
    "{titer}": "",
}
_POWER = re.compile(r"10\*(\d+)")
# UCUM's unity "1" written after a count or score ("ECOG ... 1 1 on 27 Nov"): said once
_UNITY = re.compile(r"(\d) 1(?= on \d)")
_MICRO = re.compile(r"(?<![A-Za-z])u(?=(mol|g|L|l|IU)\b)")
# Internal file names the engine cites as a source (e.g. "default table (tables/x.yaml)").
_INSTANT = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})")
# a calendar date alone (ISO 8601 YYYY-MM-DD), not part of an instant, a version or a number
_DAY = re.compile(r"(?<![\w.:+-])\d{4}-\d{2}-\d{2}(?![\w+-]|\.\d)")
_FILE_REFERENCE = re.compile(r"\s*\((?:[\w.-]+/)*[\w.-]+\.(?:yaml|yml|json|py)\)")
# "(valueCode I, II, III, ...)": the value set a coded result is read against, not a wording
_VALUE_SET = re.compile(r"\s*\(valueCode [^)]*\)")
_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_RECEIVED = re.compile(r"^\s*(<=|>=|<|>|=)?\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*$")
# Internal names (analyte catalogue shared/clinical/analytes.yaml, score domains
# shared/trials/tables/scores.yaml) as a coordinator says them; any other snake_case name is
# written with spaces.
_INTERNAL_NAMES = {
    "blood_cell_count": "blood cell count",
    "sle_specific_antibodies": "SLE-specific antibodies",
    "anti_dsdna_or_anti_smith": "anti-dsDNA or anti-Smith antibody",
    "bilirubin_total": "total bilirubin",
    "urine_protein_creatinine_ratio": "urine protein/creatinine ratio",
    "urine_protein_24h": "24-hour urine protein",
    "cd19_percent": "CD19+ B cells (%)",
    "ana_titer": "ANA titer",
    "urine_sediment_per_hpf": "urine sediment (per high-power field)",
}
_WORDS = ((re.compile(r"\bcva\b"), "CVA"), (re.compile(r"\bdna\b"), "DNA"),
          (re.compile(r"\bneutrophils karyorrhexis\b"), "neutrophils/karyorrhexis"),
          (re.compile(r"\bcellular fibrocellular\b"), "cellular/fibrocellular"),
          (re.compile(r"\bglobal segmental\b"), "global/segmental"))
# Values the engine computes, shown at a stated precision and marked as computed: (name,
# decimals, how the precision is said). Cockcroft-Gault CrCl is shown to 0.1 mL/min, as the
# engine's reasoning says it: whole mL/min (Cockcroft & Gault, Nephron 1976;16:31-41) would
# show a clearance of 29.6 that fails the protocol's ">= 30 mL/min" as "30"; the stored
# decision keeps the value to 0.1 too (cockcroft_gault.py), so evidence and reasoning agree.
_COMPUTED = {
    "trialwatch|crcl-cockcroft-gault": ("Cockcroft-Gault creatinine clearance", 1,
                                        "to 0.1 mL/min"),
}
_COMPUTED_FIGURES = 3  # any other computed number: three significant figures
# A received number with more significant figures than any laboratory reports (analysers
# report 2-4; Synthea sends white cell counts such as 3.5936828072853593) is float output,
# not a measurement's precision: shown rounded to _ROUNDED_FIGURES, marked "≈", with the
# number exactly as received beside it. What the engine decided on is that exact number.
_MAX_SENT_FIGURES = 6
_ROUNDED_FIGURES = 3


PLAIN_WORDS_GROWTH = 2
"""How many times longer ``plain_words`` / ``clean_reason`` may make an engine text: an internal
name becomes at most 1.7 times its length ("urine_sediment_per_hpf" -> "urine sediment (per
high-power field)"), a UCUM power 1.25 ("10*9" -> "x10^9"), a day 1.1 ("2026-02-28" ->
"28 Feb 2026"); checked over ``_INTERNAL_NAMES`` by tests/unit/eligibility/
test_decision_text_bounds.py."""
NEED_MAX_LENGTH = PLAIN_WORDS_GROWTH * EVIDENCE_TEXT_MAX_LENGTH
"""A need in people's words: a needed item (``decision.EVIDENCE_TEXT_MAX_LENGTH``) or a
reason cut of its file names, through ``plain_words``; real 366."""


class Need(BaseModel):
    """One data item that would let undetermined criteria be decided.

    ``item`` is the engine's wording ("platelet count within 30 days"); ``unblocks`` the ids of
    the criteria waiting for it, in protocol order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    item: str = Field(max_length=NEED_MAX_LENGTH)
    unblocks: tuple[CriterionId, ...] = Field(max_length=MAX_CRITERIA)


_UNCOMPUTABLE = re.compile(r"\b(\S+) cannot be computed\b")


def asked_too_early(item: str, reason: str) -> bool:
    """True when ``item`` is a statement about a low value of a score the criterion's
    ``reason`` says cannot be computed yet ("clinician: low CrCl is an acute decline caused by
    the disease itself" while "CrCl cannot be computed: missing body weight within 90 days",
    NCT06920433 I6.3, parameter ``i6_3_acute_decline_override``): no one can say whether a
    clearance nobody knows is low, so what computes it is asked first and the statement only
    once the score is known and low. Presentation only: the decision keeps every item."""
    return any(f"low {m.group(1)}" in item for m in _UNCOMPUTABLE.finditer(reason))


def asked_now(criterion: CriterionResult) -> tuple[str, ...]:
    """The criterion's missing items without those asked too early (``asked_too_early``)."""
    return tuple(m for m in criterion.missing if not asked_too_early(m, criterion.reason))


def needs(decision: Decision) -> tuple[Need, ...]:
    """Every missing item once, in the order the criteria first ask for it; none when the
    patient fails a criterion for good (deceased, or an age above the trial's upper limit:
    ``engine.permanent_failures``) or fails until a known instant on data nothing sent can
    change (an age under the lower limit: ``engine.waiting_failures``), since no data sent
    can then make them eligible."""
    if permanent_failures(decision) or waiting_failures(decision):
        return ()
    found: dict[str, list[str]] = {}
    for criterion in decision.criteria:
        if criterion.outcome is not Outcome.UNKNOWN:
            continue
        for item in asked_now(criterion) or (_without_files(criterion.reason),):
            waiting = found.setdefault(plain_words(item), [])
            if criterion.id not in waiting:
                waiting.append(criterion.id)
    # an item another item says with more words ("record of X use" and "record of X use
    # started at least 6 months ago") is one need: the longer one, which settles both
    merged: dict[str, list[str]] = {}
    for item, ids in found.items():
        longer = _settled_by(item, found)
        target = merged.setdefault(longer or item, [])
        target.extend(i for i in ids if i not in target)
    order = list(dict.fromkeys(i for ids in found.values() for i in ids))
    return tuple(Need(item=item, unblocks=tuple(sorted(merged[item], key=order.index)))
                 for item in found if item in merged)


def _settled_by(item: str, items: Iterable[str]) -> str | None:
    """The item that says ``item`` with more words, which settles it, else None."""
    return next((o for o in items if o != item and o.startswith(item + " ")), None)


def said_once(items: Iterable[str]) -> list[str]:
    """``items`` in their order without those another item says with more words ("record of
    X use" beside "record of X use started at least 6 months ago"), as :func:`needs` lists
    them: for one criterion's missing items."""
    listed = list(dict.fromkeys(items))
    return [item for item in listed if _settled_by(item, listed) is None]


# A need's per-patient part: the list of what this patient lacks ("... or descriptors: fever,
# leukopenia", "... for: renal, ...") and the instant or day of one record ("... of
# 2024-12-02T13:39:50Z", "... of 2 Dec 2024")
_NEED_LIST = re.compile(r"(?<=\S)(?: for)?: [^:]*$")
_NEED_WHEN = re.compile(
    r" (?:of|since|on) (?:\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2}))?"
    r"|\d{1,2} [A-Z][a-z]{2}(?: \d{4})?)(?=\W|$)")


def need_key(item: str) -> str:
    """The stable id of a need, the same for every patient who needs it: ``item`` without its
    per-patient list or record date ("SLEDAI-2K total within 30 days or descriptors: fever,
    leukopenia" -> "SLEDAI-2K total within 30 days or descriptors"; "structured daily dose of
    predniSONE 5 MG Oral Tablet of 2 Dec 2024" -> "structured daily dose of predniSONE 5 MG
    Oral Tablet"). What the worklist filters and counts patients by; an item without such a
    part is its own key. A clinician statement ("clinician: ...") and the birth-date item
    ("age: ...") keep their text: what follows their colon is the need itself."""
    if item.startswith(("clinician:", "investigator:")):
        return item
    key = _NEED_WHEN.sub("", item)
    head = _NEED_LIST.sub("", key)
    if head.count("(") > head.count(")"):
        # the list sits inside parentheses ("index (or lesion scores: a, b) from a biopsy"):
        # dropped up to its closing parenthesis, the rest of the item kept
        colon = key.index(": ", len(head) - 1)
        closing = key.find(")", colon)
        head = key[:colon] + key[closing:] if closing != -1 else head + ")"
    return head if len(head.split()) > 1 else key


# A statement the engine asks for (records.ClinicianFact's need): "investigator: <label>"
# or "clinician: <label>", with " (documented within <look-back>)" when it ages out
_STATEMENT = re.compile(r"^(clinician|investigator): (.+?)(?: \(documented within ([^)]+)\))?$")


_UNIDENTIFIED_MEDICATION = re.compile(
    r"^medication(?: of (.+?))? could not be read: medication coded as (\S+)\|(\S+)"
    r" not identified")

# FHIR R4 code system URIs (terminologies-systems) by the name a coordinator knows them by
SYSTEM_NAMES = {RXNORM: "RxNorm", LOINC: "LOINC", SNOMED: "SNOMED CT", ICD10CM: "ICD-10-CM"}
_CODED = re.compile(r"(?<![\w/])(?P<system>[a-z][a-z0-9+.-]*:[^\s|,;()]+)\|(?P<code>[^\s,;()|]+)")
# records.marked_unidentified_medication's reason, as note_unread and unread_text say it
# ("medication of <day> could not be read: medication coded as <system|code, ...> not
# identified: <why>; which drug it is is unknown"); <why> holds no "; "
_UNIDENTIFIED_CLAUSE = re.compile(
    r"(?:medication(?: of (?P<day>[^;]+?))? could not be read: |could not be read: )?"
    r"medication coded as (?P<codes>.+?) not identified: [^;]*; which drug it is is unknown")

UNIDENTIFIED_MEDICATION_HINT = (
    "A medication whose code is not in TrialWatch's drug tables (even a correct RxNorm code"
    " for a common drug, when its product is not listed) keeps the criteria about recent drugs"
    " open, since it could be one of the drugs they name, until the site's informatics team"
    " adds it, with its source, to the RxNorm product table or the site medication crosswalk."
    " Nothing recorded on this page settles it.")
"""What settles an unidentified medication, said once per list (the patient page's "What to
send next" kind, a criterion's missing line, the worklist filter), not once per code."""


# a score's bounds (scores/sledai_2k.py, scores/nih_indices.py, scores/eular_acr_2019.py:
# "<score> computed[ over <window>]: <low> sure[ (<domain> <weight>, ...)], up to <high>"): what
# is documented counts, what is not could still count; primitives/score.py's verdict right after
# it ("<label> meets|does not meet|cannot yet decide <op> <value>") is the criterion's threshold
_SCORE_BOUNDS = re.compile(
    r"(?P<score>[^;]+?) computed(?: over (?P<window>[^:;]+))?: (?P<low>[\d.]+) sure"
    r"(?: \((?P<items>[^()]*)\))?, up to (?P<high>[\d.]+)"
    r"(?:; [^;]+? (?P<verdict>meets|does not meet|cannot yet decide)"
    r" (?P<op>>=|>|<=|<) (?P<value>[\d.]+)(?=;|$))?")
_VERDICT_WORDS = {"meets": "met", "does not meet": "not met",
                  "cannot yet decide": "cannot be decided yet"}
_THRESHOLD_WORDS = {">=": "{} or more", ">": "more than {}", "<=": "{} or less",
                    "<": "less than {}"}


def score_bounds_words(text: str) -> str:
    """A score known only between bounds, in words a coordinator reads, with the threshold the
    criterion applies when the engine states it next: "SLEDAI-2K computed over 30 days: 0 sure,
    up to 105; SLEDAI-2K cannot yet decide >= 8" -> "SLEDAI-2K over 30 days: 0 from what is
    documented; up to 105 if every item not yet documented were present; the criterion needs 8
    or more: cannot be decided yet"; the items counted stay beside the lower bound ("EULAR/ACR
    2019: 26 from what is documented (musculoskeletal 6, renal 10, ...); up to 51 ...; the
    criterion needs 10 or more: met"); equal bounds: "no item not yet documented could raise
    it". The bounds are the engine's (the lower counts only documented items, the upper counts
    every undocumented one too); only the wording changes."""
    def said(m: re.Match[str]) -> str:
        window = f" over {m['window']}" if m["window"] else ""
        items = f" ({m['items']})" if m["items"] else ""
        reach = ("no item not yet documented could raise it" if m["low"] == m["high"] else
                 f"up to {m['high']} if every item not yet documented were present")
        needs = ""
        if m["verdict"]:
            needs = (f"; the criterion needs {_THRESHOLD_WORDS[m['op']].format(m['value'])}:"
                     f" {_VERDICT_WORDS[m['verdict']]}")
        return f"{m['score']}{window}: {m['low']} from what is documented{items}; {reach}{needs}"
    return _SCORE_BOUNDS.sub(said, text)


def short_codes(text: str) -> str:
    """Every ``system|code`` in ``text`` with the system's short name: ``http://www.nlm.nih.gov/
    research/umls/rxnorm|316672`` -> ``RxNorm 316672`` (``SYSTEM_NAMES``); a system without one
    -> ``<system> code <code>``. The code itself is never altered."""
    def said(m: re.Match[str]) -> str:
        name = SYSTEM_NAMES.get(m["system"])
        return f"{name} {m['code']}" if name else f"{m['system']} code {m['code']}"
    return _CODED.sub(said, text)


def medication_words(text: str) -> str:
    """The engine's sentence for a medication no value set or product table identifies
    (``records.marked_unidentified_medication``) as "unidentified medication RxNorm 316672"
    ("... of 17 Nov 2020" when it names the day), and every ``system|code`` by its short name
    (:func:`short_codes`): the coordinator page's evidence and reasons. Presentation only: the
    stored reason is unchanged."""
    def said(m: re.Match[str]) -> str:
        day = f" of {m['day']}" if m["day"] else ""
        return f"unidentified medication {short_codes(m['codes'])}{day}"
    return short_codes(_UNIDENTIFIED_CLAUSE.sub(said, text))


def is_unidentified_medication(item: str) -> bool:
    """Whether a need item (as the engine or ``need_key`` words it) is an unidentified
    medication (``records.marked_unidentified_medication``)."""
    return _UNIDENTIFIED_MEDICATION.match(item) is not None


def need_words(item: str) -> str:
    """What a coordinator does for one item to send, in plain words, for the pages.

    A statement item is no result to send but a yes/no question a person answers: the
    engine's "investigator: patient unsuitable for the trial (documented within 30 days)"
    reads as a finding (the investigator found the patient unsuitable), so it is said as the
    task, "ask the investigator, then record yes or no: patient unsuitable for the trial (an
    answer dated within the last 30 days)"; "clinician: ..." asks a clinician. Either answer
    settles the criterion (records.ClinicianFact: absent is unknown). An unidentified
    medication (``records.marked_unidentified_medication``) is named by its short code system
    and day, "a medication TrialWatch cannot identify (RxNorm 316672, recorded 17 Nov 2020)";
    what settles it is ``UNIDENTIFIED_MEDICATION_HINT``, said once beside the list
    (:func:`fold_unidentified`). Any other item is returned with its codes by their short
    names. The stored and API items keep the engine's text (``need_key`` and the worklist
    filter read that)."""
    unidentified = _UNIDENTIFIED_MEDICATION.match(item)
    if unidentified is not None:
        # Nothing a coordinator records can settle it (no attestation reads it): the drug is
        # identified only by a sourced entry in the product table or the site's medication
        # crosswalk (CLINICAL_MEDICATION_CODES_FILE), or a resend coded in RxNorm with a
        # product the table lists (docs/criteria.md, washout and med_within).
        return f"a medication TrialWatch cannot identify ({_unidentified_named(unidentified)})"
    said = _STATEMENT.match(item)
    if said is None:
        return dose_words(short_codes(item))
    who = "the investigator" if said[1] == "investigator" else "a clinician"
    within = f" (an answer dated within the last {said[3]})" if said[3] else ""
    return f"ask {who}, then record yes or no: {said[2]}{within}{_yes_means(said[2])}"


def _unidentified_named(match: re.Match[str]) -> str:
    day = f", recorded {match[1]}" if match[1] else ""
    return f"{short_codes(f'{match[2]}|{match[3]}')}{day}"


def fold_unidentified(items: Iterable[str]) -> list[str]:
    """A criterion's missing items with every unidentified medication said in one item, at
    the place of the first, with what settles them once: "medications TrialWatch cannot
    identify (RxNorm 316672, recorded 17 Nov 2020; RxNorm 198014, recorded 11 Oct 1987): ...".
    Each code and day stays listed: none is dropped. Any other item is unchanged."""
    listed = list(items)
    named = [_unidentified_named(m) for i in listed
             if (m := _UNIDENTIFIED_MEDICATION.match(i)) is not None]
    if not named:
        return listed
    one = len(named) == 1
    what = ("a medication TrialWatch cannot identify" if one
            else f"{len(named)} medications TrialWatch cannot identify")
    it, its = ("it", "its") if one else ("them", "their")
    folded = (f"{what} ({'; '.join(named)}): the criteria about recent drugs stay open until"
              f" the sender codes {it} in RxNorm with a product TrialWatch lists, or the site's"
              f" informatics team maps {it}, with {its} source, in the site medication"
              " crosswalk or the RxNorm product table")
    out: list[str] = []
    for item in listed:
        if _UNIDENTIFIED_MEDICATION.match(item) is None:
            out.append(item)
        elif folded not in out:
            out.append(folded)
    return out


def _yes_means(statement: str) -> str:
    """For a statement worded as a negation ("no other clinical-trial participation in the
    last 3 months"), what a yes records: the attestation is true when the statement holds, so
    yes means there was none, the opposite of a yes to the natural question ("did the patient
    take part?"); "" for any other statement."""
    return "; yes means there was none" if statement.startswith("no ") else ""


# What to send, by kind: the kinds are read
# from the engine's own wording of each item (``trace.need`` in shared/eligibility), first
# match wins; anything else is a result to send.
NEED_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Patient details", ("birth date", "administrative sex")),
    ("Investigator or clinician statements", ("clinician:", "investigator:", "(documented ")),
    ("Medication history", ("could not be read: medication coded as ", "record of ", " use ",
                            " use with ", "distinct drugs", "daily dose",
                            " dose of ", "dose equivalence", "half-life of ", "last dose")),
    ("Biopsy", ("biopsy",)),
    ("Disease activity and classification scores", ("SLEDAI", "BILAG", "EULAR", "ECOG")),
)
LAB_KIND = "Lab results and measurements"
KIND_ORDER = ("Patient details", LAB_KIND, "Medication history", "Biopsy",
              "Disease activity and classification scores",
              "Investigator or clinician statements")
"""The kinds in the order shown when they are as useful: what the site's systems can send
first, what needs a clinician's statement last."""


def need_kind(item: str) -> str:
    """The kind of one item to send (``NEED_KINDS``), else lab results and measurements."""
    for kind, marks in NEED_KINDS:
        if any(mark in item for mark in marks):
            return kind
    return LAB_KIND


def need_groups(wanted: Iterable[Need]) -> list[tuple[str, list[Need]]]:
    """``needs`` grouped by kind, most useful first.

    An item that another item contains with more words ("record of X use" and "record of X
    use started at least 6 months ago") is said once, as the longer one, which settles both.
    Within a kind the items that settle the most criteria come first (ties in protocol
    order); kinds come in the order of their most useful item, then ``KIND_ORDER``.
    """
    items = list(wanted)
    merged: dict[str, list[str]] = {}
    for need in items:
        longer = next((o.item for o in items if o.item != need.item
                       and o.item.startswith(need.item + " ")), None)
        target = merged.setdefault(longer or need.item, [])
        target.extend(i for i in need.unblocks if i not in target)
    order = [n.item for n in items]
    kept = [Need(item=item, unblocks=tuple(sorted(ids, key=_criterion_order(items))))
            for item, ids in sorted(merged.items(), key=lambda kv: order.index(kv[0]))]
    groups: dict[str, list[Need]] = {}
    for need in sorted(kept, key=lambda n: -len(n.unblocks)):
        groups.setdefault(need_kind(need.item), []).append(need)
    return sorted(groups.items(), key=lambda kv: (-len(kv[1][0].unblocks),
                                                 KIND_ORDER.index(kv[0])))


def _criterion_order(items: list[Need]) -> Any:
    seen = list(dict.fromkeys(i for n in items for i in n.unblocks))
    return lambda criterion_id: seen.index(criterion_id)


def clean_reason(reason: str, zone: tzinfo = UTC) -> str:
    """The engine's reason with repeated clauses said once, internal file names removed, UCUM
    units, internal names (:func:`plain_words`) and ISO-8601 instants written for people
    (dates in ``zone``).

    The engine joins its findings with "; " after a " — "; a finding shared by two branches
    (e.g. the same drug for two "refractory" paths) is kept at its first place only.
    """
    head, dash, body = dose_words(score_bounds_words(medication_words(
        plain_words(_dates_in_text(reason, zone))))).partition(" — ")
    if not dash:
        return head
    body, needs_dot, wanted = body.partition(". needs: ")
    seen: dict[str, None] = {}
    for clause in body.split("; "):
        seen.setdefault(clause.strip(), None)
    text = f"{head} — {'; '.join(c for c in seen if c)}"
    return f"{text}. needs: {wanted}" if needs_dot else text


def human_unit(unit: str | None) -> str:
    """A UCUM unit as a person writes it: ``10*9/L`` -> ``x10^9/L``, ``umol/L`` -> ``µmol/L``."""
    if not unit:
        return ""
    if unit in _UNIT_WORDS:
        return _UNIT_WORDS[unit]
    written = _POWER.sub(lambda m: f"x10^{m.group(1)}", unit)
    return _MICRO.sub("µ", written).replace("[", "").replace("]", "")


def human_number(value: float | int) -> str:
    """A number without float noise: 150.0 -> "150", 0.5 -> "0.5". The digits a lab sent
    ("0.50") are in the evidence's ``received_value`` (see :func:`evidence_value`)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def human_value(value: Scalar, unit: str | None = None) -> str:
    """A value and unit in clinical wording ("150 x10^9/L", "negative", "yes")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        shown = human_unit(unit)
        return f"{human_number(value)} {shown}".strip()
    return _SNOMED_WORDS.get(value, value)


def evidence_value(evidence: Evidence) -> str:
    """The value of one piece of evidence as a person reads it, never altering what was sent.

    - received in the unit it is kept in: the sender's text as is ("0.50 g/L", "<10 x10^9/L");
    - received with more than ``_MAX_SENT_FIGURES`` significant figures (float output, not a
      laboratory's precision): "≈" and the value at ``_ROUNDED_FIGURES``, then the number
      exactly as received ("≈3.59 x10^9/L (rounded; received as 3.5936828072853593 x10^3/uL)");
    - received in another unit: the canonical value at the received number's significant
      figures, then the received text ("110 g/L (sent as 11.0 g/dL)");
    - computed by the engine (no source fact): rounded to the precision in ``_COMPUTED`` (else
      three significant figures) and said to be computed ("83 mL/min (computed, whole
      mL/min)");
    - anything else: :func:`human_value`.
    """
    value, unit, details = evidence.value, evidence.unit, evidence.details
    if isinstance(value, float | int) and not isinstance(value, bool):
        if _is_computed(evidence):
            number, precision = _computed(evidence.code or "", float(value), unit)
            return f"{number} (computed, {precision})"
        sent = details.get("received_value")
        if isinstance(sent, str) and sent.strip():
            return _received(float(value), unit, sent.strip(), details.get("received_unit"))
    return human_value(value, unit)


def _is_computed(evidence: Evidence) -> bool:
    """A number the engine derived (a score, a clearance), not one a sender wrote."""
    return evidence.fact_id is None and isinstance(evidence.value, float | int) and (
        not isinstance(evidence.value, bool)) and evidence.code != "Patient.birthDate" and (
        evidence.code in _COMPUTED or isinstance(evidence.value, float))


def _computed(code: str, value: float, unit: str | None) -> tuple[str, str]:
    """(the rounded value with its unit, how it was rounded)."""
    if code in _COMPUTED:
        decimals, precision = _COMPUTED[code][1], _COMPUTED[code][2]
        number = f"{round(value, decimals):.{decimals}f}"
    else:
        precision = f"{_COMPUTED_FIGURES} significant figures"
        number = human_number(round_to(value, _COMPUTED_FIGURES))
    return f"{number} {human_unit(unit)}".strip(), precision


def _received(value: float, unit: str | None, sent: str, sent_unit: Scalar) -> str:
    shown_unit = human_unit(unit)
    sent_as = f"{sent} {human_unit(str(sent_unit))}".strip() if sent_unit else sent
    match = _RECEIVED.match(sent)
    if match is None:  # a titer or a word: the canonical value, and what was sent beside it
        return f"{human_value(value, unit)} (sent as {sent_as})"
    comparator, number = match.group(1) or "", match.group(2)
    figures = significant_figures(number) or 1
    if figures > _MAX_SENT_FIGURES:
        # float noise, not precision: rounded, marked, and the received number kept beside it
        rounded = human_number(round_to(value, _ROUNDED_FIGURES))
        return (f"≈{comparator}{rounded} {shown_unit}".strip()
                + f" (rounded; received as {comparator}{number} "
                  f"{human_unit(str(sent_unit or unit or ''))})".replace(" )", ")"))
    if sent_unit is None and float(number) != value:
        # no unit sent and another number kept (the bound that holds in every accepted unit):
        # the sent number is never shown as if it were in the canonical unit
        sent_as = f"{sent} with no unit"
    elif sent_unit == unit or float(number) == value:
        # kept as it was sent: the sender's digits, never re-rendered ("0.50", "<10")
        return f"{comparator}{number} {shown_unit}".strip()
    written = f"{round_to(value, figures):#.{figures}g}".rstrip(".")
    if "e" in written:
        written = human_number(round_to(value, figures))
    return f"{comparator}{written} {shown_unit} (sent as {sent_as})".replace("  ", " ")


# dose.py's need for a use whose daily dose cannot be read ("structured daily dose of <drug> of
# <day or instant>"; "<drug> of unknown time" when undated) and for no use at all ("<class> use
# with a structured daily dose within <look-back>"): "structured" is the FHIR R4 Dosage's
# (doseAndRate and timing, not the free-text sig), which a coordinator reads as the
# prescription's dose and how often it is taken
_DOSE_ASKED = re.compile(
    r"\bstructured daily dose of (?P<drug>.+?)(?: of (?P<when>\d{1,2} [A-Z][a-z]{2}(?: \d{4})?"
    r"|\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2}))?|unknown time))?(?=$|[;,.)] ?)")
_DOSE_HOW = "(the prescription's dose and how often it is taken)"
_DOSE_ANY_USE = re.compile(r"\buse with a structured daily dose within\b")


def dose_words(text: str) -> str:
    """The engine's ask for a daily dose (primitives/dose.py) as a coordinator says it:
    "structured daily dose of predniSONE 5 MG Oral Tablet of 5 May 2025" -> "daily dose of
    predniSONE 5 MG Oral Tablet started 5 May 2025 (the prescription's dose and how often it is
    taken)"; "glucocorticoid use with a structured daily dose within 12 months" ->
    "glucocorticoid use with its daily dose (...) within 12 months". The drug keeps its RxNorm
    display (the name is needed); only the wording changes, the stored text does not."""
    def asked(m: re.Match[str]) -> str:
        when = m["when"]
        started = ("" if when is None else " (start not recorded)" if when == "unknown time"
                   else f" started {when}")
        return f"daily dose of {m['drug']}{started} {_DOSE_HOW}"
    text = _DOSE_ASKED.sub(asked, text)
    return _DOSE_ANY_USE.sub(f"use with its daily dose {_DOSE_HOW} within", text)


def plain_words(text: str) -> str:
    """Internal identifiers, file names, UCUM and value-set lists in the engine's text as
    clinical wording: ``sle_specific_antibodies 6`` -> ``SLE-specific antibodies 6``,
    ``renal biopsy ... class (valueCode I, II, ...)`` -> ``renal biopsy ... class``, ``cva`` ->
    ``CVA``, ``0.5 10*9/L`` -> ``0.5 x10^9/L``."""
    text = _VALUE_SET.sub("", _without_files(text))
    text = _SNAKE.sub(lambda m: _INTERNAL_NAMES.get(m.group(0), m.group(0).replace("_", " ")),
                      text)
    for pattern, words in _WORDS:
        text = pattern.sub(words, text)
    return text


def human_date(instant: datetime, zone: tzinfo, *, year: bool = True) -> str:
    """A day as coordinators write it, in the site's zone: "28 Feb 2026" (or "28 Feb")."""
    local = instant.astimezone(zone)
    return f"{local.day} {local:%b}" + (f" {local.year}" if year else "")


def human_time(instant: datetime, zone: tzinfo) -> str:
    """An instant in the site's zone to the minute, the zone named: "28 Feb 2026, 09:00 CET".

    The one way every page, card, alert and the terminal write a moment (``human_date`` for
    a day). A zone without an abbreviation is named by its UTC offset ("+0530")."""
    local = instant.astimezone(zone)
    name = local.tzname() or local.strftime("%z")
    if name and name[0] in "+-" and name[1:].replace(":", "").isdigit():
        name = "UTC" + name  # "+05" (a zone without an abbreviation) -> "UTC+05"
    return f"{human_date(local, zone)}, {local:%H:%M} {name}".strip()


STATUS_WORDS = {"eligible": "Eligible", "ineligible": "Not eligible",
                "undetermined": "Not yet decided: data missing"}
"""A decision's status as the app, cards and the terminal say it (never the enum value)."""


def status_words(status: object) -> str:
    """``Status.UNDETERMINED`` or "undetermined" -> "Not yet decided: data missing"; a value
    not in ``STATUS_WORDS`` is returned as it is."""
    value = str(getattr(status, "value", status))
    return STATUS_WORDS.get(value, value)


def machine_time(instant: datetime) -> str:
    """The instant as RFC 3339 in UTC to the second, for ``<time datetime=...>``:
    "2024-12-01T08:26:15Z"."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def times_in_text(text: str, zone: tzinfo) -> str:
    """``text`` with every ISO-8601 instant written as :func:`human_time` writes it (to the
    minute, the zone named): for text where the time of day matters, such as an alert."""

    def moment(match: re.Match[str]) -> str:
        at = _instant(match.group(0))
        return human_time(at, zone) if at is not None else match.group(0)

    return _INSTANT.sub(moment, text)


def evidence_phrase(
    evidence: Evidence, labels: dict[str, str], zone: tzinfo, now_year: int | None = None,
    as_of: datetime | None = None,
) -> str:
    """One piece of evidence in a line: "platelet count 150 x10^9/L on 28 Feb".

    ``labels`` maps ``system|code`` to a clinical name (from the trial's concept tables);
    the engine's note stands in for an unlabelled code. A yes/no answer reads "label: yes";
    a washout that ended before ``as_of`` says so.
    """
    details = evidence.details
    if "washout_end" in details and "drug" in details:
        last = _instant(details.get("last_dose"))
        end = _instant(details.get("washout_end"))
        parts = [str(details["drug"])]
        if last is not None:
            parts.append(human_date(last, zone, year=last.astimezone(zone).year != now_year))
        text = " ".join(parts)
        if end is None:
            return text
        ended = as_of is not None and end <= as_of
        return f"{text}, washout {'ended' if ended else 'until'} {human_date(end, zone)}"
    if evidence.code == "Patient.birthDate":  # the age is the evidence, not the birth date
        return (evidence.note or "age").replace(" at as-of", "")
    if evidence.code == "Patient.deceased":
        return _death(evidence)
    if evidence.code in _COMPUTED:
        name = _COMPUTED[evidence.code][0]
    else:
        note = medication_words(plain_words(_dates_in_text(evidence.note or "", zone)))
        name = plain_words(labels.get(evidence.code or "") or note or "record")
    computed = ""
    if _is_computed(evidence):
        assert isinstance(evidence.value, float | int)
        value, precision = _computed(evidence.code or "", float(evidence.value), evidence.unit)
        computed = f" (computed, {precision})"
    else:
        value = evidence_value(evidence)
    on = evidence.effective.astimezone(zone) if evidence.effective is not None else None
    said_when = on is not None and "first started" in name  # "...; first started 1 Mar 2024"
    name = name.replace("; first started", ", first started")
    if isinstance(evidence.value, bool):
        text = f"{name}: {value}"
    else:
        text = f"{name} {value}".strip() if value and value != name else name
    if on is not None and not said_when:
        text += f" on {human_date(on, zone, year=on.year != now_year)}"
    return text + computed


def evidence_line(
    evidence: Evidence, labels: dict[str, str], zone: tzinfo, now_year: int | None,
    as_of: datetime,
) -> str:
    """:func:`evidence_phrase` and, for a result two months or more before ``as_of``, how old
    it was then: "white blood cell count 3.0 x10^9/L on 13 Sep 2023 (2 years ago)". A score
    counts items that ever occurred (EULAR/ACR 2019, Aringer 2019) and a history criterion
    reads any date: a fresh user read such an old result as a current one. "ago", not "old":
    "epilepsy on 18 Feb 2014 (12 years old)" beside a patient born in 1968 read as her age.

    A drug history line ("systemic glucocorticoids, first started 1 Mar 2024") shows the first
    start of the class, while the engine cites its newest record (``records.py``, the
    started-at-least rule): no age is added, since it would be that other record's ("first
    started 1 Mar 2024 (13 months ago)" beside the same date "(2 years ago)" misled)."""
    phrase = evidence_phrase(evidence, labels, zone, now_year, as_of)
    if (evidence.effective is None or "washout_end" in evidence.details
            or "first started" in phrase):
        return phrase
    age = result_age(evidence.effective, as_of)
    return f"{phrase} ({age} ago)" if age else phrase


def result_age(effective: datetime, as_of: datetime) -> str | None:
    """Whole calendar months or years from ``effective`` to ``as_of`` in UTC ("5 months",
    "2 years"); None under two months (the date says it) or for a time after ``as_of``."""
    start, end = effective.astimezone(UTC), as_of.astimezone(UTC)
    months = (end.year - start.year) * 12 + end.month - start.month
    if (end.day, end.time()) < (start.day, start.time()):
        months -= 1
    if months < 2:
        return None
    if months < 24:
        return f"{months} months"
    return f"{months // 12} years"


def review_reasons(decision: Decision, labels: dict[str, str], zone: tzinfo) -> list[str]:
    """Why the decision's next automatic review happens then, one phrase per cause found in
    the evidence ("when the rituximab washout ends (E11)", "18th birthday (I1)", "when the
    platelet count 150 x10^9/L on 28 Feb is more than 30 days old (I6.1)"); empty when
    there is no review or no evidence explains its instant (the caller then says so plainly).

    The engine's review instant is the earliest of: a washout's end (``washout_end``), the
    birthday at which an age comparison's answer flips (00:00 UTC, ``AgeAtLeast``) and a
    result's time plus a look-back window (a trial parameter, ``Duration.after``); each is
    matched exactly here.
    """
    at = decision.next_review_at
    if at is None:
        return []
    year = decision.as_of.astimezone(zone).year
    windows = []
    for value in decision.parameters.values():
        if isinstance(value, str) and value.startswith("P"):
            try:
                windows.append(parse_duration(value))
            except ValueError:
                continue
    found: dict[str, list[str]] = {}
    for criterion in decision.criteria:
        for e in criterion.evidence:
            said = None
            end = _instant(e.details.get("washout_end"))
            age = e.details.get("age_years")
            if end is not None and end == at and "drug" in e.details:
                said = f"when the {e.details['drug']} washout ends"
            elif e.code == "Patient.birthDate" and isinstance(age, int) and isinstance(
                    e.value, str) and not e.details.get("age_at_death"):
                # the birthday at which the criterion's answer flips: not always the next
                # one (``next_flip`` in primitives/demographic.py), so the age turned at the
                # review instant is named
                born = date.fromisoformat(e.value)
                turned = age_in_years(born, at.astimezone(UTC).date())
                turns = birthday(born, turned)
                if turned > age and datetime.combine(turns, time.min, tzinfo=UTC) == at:
                    said = f"{_ordinal(turned)} birthday: from then {_age_turn(criterion)}"
            elif e.effective is not None:
                window = next((w for w in windows if w.after(e.effective) == at), None)
                if window is not None:
                    phrase = evidence_phrase(e, labels, zone, year, decision.as_of)
                    said = f"when the {phrase} is more than {window.words()} old"
            if said is not None:
                ids = found.setdefault(said, [])
                if criterion.id not in ids:
                    ids.append(criterion.id)
    return [f"{said} ({', '.join(ids)})" for said, ids in found.items()]


def _age_turn(criterion: CriterionResult) -> str:
    """What the birthday does to an age criterion, from its outcome now: ageing only raises the
    age, so a met inclusion that flips is an upper limit ("too old ... no longer met") and an
    unmet one a lower limit ("old enough"). A coordinator read a bare "66th birthday (I5)" as
    the day the patient could become eligible (fresh user)."""
    inclusion = criterion.kind.value == "inclusion"
    if criterion.outcome is Outcome.PASS:
        return ("too old for the age limit, no longer met" if inclusion
                else "in the excluded ages")
    if criterion.outcome is Outcome.FAIL:
        return "old enough for the age limit" if inclusion else "out of the excluded ages"
    return "the age limit's answer changes"


def waiting_until(decision: Decision) -> list[tuple[str, str]]:
    """Each criterion failed until a known instant (``engine.waiting_failures``), by id, with
    when it can next pass in words: "the 18th birthday on 12 Mar 2034" when the instant is a
    birthday of the patient (00:00 UTC, dated in UTC as birth dates are), else "12 Mar 2034"."""
    said = []
    for criterion, at in waiting_failures(decision):
        when = human_date(at, UTC)
        born = next((e.value for e in criterion.evidence if e.code == "Patient.birthDate"
                     and isinstance(e.value, str)), None)
        if born is not None:
            birth = date.fromisoformat(born)
            turned = age_in_years(birth, at.date())
            if datetime.combine(birthday(birth, turned), time.min, tzinfo=UTC) == at:
                when = f"the {_ordinal(turned)} birthday on {when}"
        said.append((criterion.id, when))
    return said


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def deceased(decision: Decision) -> str | None:
    """The one statement shown for a patient recorded as deceased ("Deceased on 4 Mar 2021: not
    screened"), or None for a living patient. Nothing else of such a decision is for a
    coordinator: no data to send, no automatic review, no age at screening."""
    for criterion in decision.criteria:
        if criterion.id == DECEASED_ID:
            death = next((e for e in criterion.evidence if e.code == "Patient.deceased"), None)
            said = _death(death) if death is not None else "recorded as deceased"
            return f"{said[0].upper()}{said[1:]}: not screened"
    return None


def _death(evidence: Evidence) -> str:
    day = evidence.details.get("deceased_on")
    if isinstance(day, str):
        try:
            on = date.fromisoformat(day)
        except ValueError:
            return "recorded as deceased"
        return f"deceased on {on.day} {on:%b} {on.year}"
    return "recorded as deceased"


def headline(
    previous: Decision | None, current: Decision, labels: dict[str, str], zone: tzinfo,
    limit: int = 3,
) -> str:
    """What changed, in one line, from the criteria whose outcome moved.

    Newly eligible: the criteria that now pass and did not before ("now eligible: I6.1 met,
    platelet count 150 x10^9/L on 28 Feb"). No longer eligible: the criteria that now fail or
    cannot be decided ("no longer eligible: E11 rituximab 2 Dec, washout until 19 Aug 2027").
    Without a previous decision an eligible patient is "now eligible: at first screening, all 9
    inclusion criteria met (12 checks: I6 in parts I6.1–I6.3); none of the 13 exclusions
    applies" (:func:`_all_met`: protocol criteria, and the rows the patient page shows);
    otherwise every criterion counts as changed. Not eligible or
    undetermined: the failing criteria first, then those that cannot be checked; at a first
    screening with more of these than ``limit``, they are counted with their ids ("23 criteria
    cannot be checked yet (I2, I3, ...)").
    """
    before = {c.id: c.outcome for c in previous.criteria} if previous else {}
    died = deceased(current)
    if died is not None:
        lead = ("no longer eligible" if previous and previous.status.value == "eligible"
                else current.status.value)
        return f"{lead}: {died[0].lower()}{died[1:]}"
    year = current.as_of.astimezone(zone).year
    earlier = _earlier_values(previous)
    if current.status.value == "eligible" and previous is None:
        # naming every criterion would read as if the first one (age) decided it
        return f"now eligible: at first screening, {_all_met(current.criteria)}"
    if current.status.value == "eligible":
        moved = [c for c in current.criteria if before.get(c.id) is not Outcome.PASS]
        clauses = _grouped((c.id, _met(c, labels, zone, year, earlier)) for c in moved)
        prefix = "now eligible"
    else:
        moved = [c for c in current.criteria
                 if c.outcome is not Outcome.PASS and before.get(c.id) is not c.outcome]
        # what excludes first (a fresh user found E3, the reason, in "(+20 more)"); at a first
        # screening, more open criteria than the line holds are counted, not spelt out
        failed = [c for c in moved if c.outcome is Outcome.FAIL]
        unknown = [c for c in moved if c.outcome is Outcome.UNKNOWN]
        clauses = _grouped((c.id, _blocked(c, labels, zone, year, earlier)) for c in failed)
        if previous is None and len(unknown) > limit:
            clauses.append(f"{len(unknown)} criteria cannot be checked yet"
                           f" ({', '.join(c.id for c in unknown)})")
        else:
            clauses += _grouped((c.id, _blocked(c, labels, zone, year, earlier))
                                for c in unknown)
        prefix = ("no longer eligible" if previous and previous.status.value == "eligible"
                  else current.status.value)
    if not clauses:
        return prefix
    more = f" (+{len(clauses) - limit} more)" if len(clauses) > limit else ""
    return f"{prefix}: {'; '.join(clauses[:limit])}{more}"


def _all_met(criteria: tuple[CriterionResult, ...]) -> str:
    """Every criterion of an eligible decision, as a coordinator counts them: the protocol's
    inclusion criteria met and its exclusions not applying, each kind counted apart, a
    sub-criterion ("I6.1" under "I6") not counted again; when a kind has sub-criteria, the
    checks the patient page shows as rows (criteria and their parts) are counted too, naming
    the parts, so the alert and the page's rows agree: "all 9 inclusion criteria met (12
    checks: I6 in parts I6.1–I6.3); none of the 13 exclusions applies"."""
    ids = {c.id for c in criteria}
    said = []
    for kind, one, many in (
        ("inclusion", "the one inclusion criterion met",
         "all {n} inclusion criteria met"),
        ("exclusion", "the one exclusion does not apply",
         "none of the {n} exclusions applies"),
    ):
        rows = [c.id for c in criteria if c.kind.value == kind]
        top = [i for i in rows if i.rpartition(".")[0] not in ids]
        if not top:
            continue
        text = one if len(top) == 1 else many.format(n=len(top))
        if len(rows) > len(top):
            text += f" ({len(rows)} checks: {_parts(rows, top)})"
        said.append(text)
    return "; ".join(said) or "no criteria"


def _parts(rows: list[str], top: list[str]) -> str:
    """Which criteria are checked in parts: "I6 in parts I6.1–I6.3" (three or more parts as
    a range, in the decision's order), "I4 in parts I4.1 and I4.2"; several joined by ", "."""
    said = []
    for head in top:
        parts = [r for r in rows if r.startswith(f"{head}.")]
        if not parts:
            continue
        named = (f"{parts[0]}–{parts[-1]}" if len(parts) > 2
                 else " and ".join(parts))
        said.append(f"{head} in parts {named}")
    return ", ".join(said)


def _grouped(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """Criteria that changed for the same reason said once: "I6, I6.1 met, platelet count..."."""
    ids_by_text: dict[str, list[str]] = {}
    for criterion_id, text in pairs:
        ids_by_text.setdefault(text, []).append(criterion_id)
    return [", ".join(ids) + " " + text for text, ids in ids_by_text.items()]


def concept_labels(concepts: Iterable[tuple[str, Iterable[str]]]) -> dict[str, str]:
    """``system|code`` -> label, from (label, keys) pairs of a trial's concept table."""
    return {key: label for label, keys in concepts for key in keys}


def _earlier_values(previous: Decision | None) -> dict[str, str]:
    """The value each fact had in the previous decision's evidence, by ``fact_id``. A fact
    keeps its id across versions (``facts.ClinicalFact``: a corrected or amended resource,
    FHIR R4 observation-status ``corrected``/``amended``, HL7 v2.5.1 table 0085 ``C``,
    replaces the earlier version), so a different value under the same id is a correction."""
    if previous is None:
        return {}
    return {e.fact_id: evidence_value(e) for c in previous.criteria for e in c.evidence
            if e.fact_id and e.value is not None}


def _correcting(evidence: Evidence, earlier: dict[str, str]) -> str:
    """", correcting the earlier 15 x10^9/L" when this evidence replaced another value of the
    same fact (a fresh user read a corrected count as a new one), else ""."""
    if not evidence.fact_id or evidence.fact_id not in earlier or evidence.value is None:
        return ""
    before = earlier[evidence.fact_id]
    return "" if before == evidence_value(evidence) else f", correcting the earlier {before}"


def _met(criterion: CriterionResult, labels: dict[str, str], zone: tzinfo, year: int,
         earlier: dict[str, str] | None = None) -> str:
    latest = _latest(criterion.evidence)
    if latest is None:
        return "met"
    return (f"met, {evidence_phrase(latest, labels, zone, year)}"
            f"{_correcting(latest, earlier or {})}")


def _needed(item: str, zone: tzinfo = UTC) -> str:
    """One missing item in a headline: a statement as the answer it needs ("the investigator's
    yes or no: patient unsuitable for the trial"), not the engine's "investigator: patient
    unsuitable for the trial (documented within 30 days)", which reads as a finding (either
    answer settles it, ``need_words``); anything else in plain words, its instants as days in
    ``zone`` (:func:`dates_in_text`) and a missing dose as :func:`dose_words` says it."""
    said = _STATEMENT.match(item)
    if said is None:
        return dose_words(plain_words(dates_in_text(item, zone)))
    who = "the investigator's" if said[1] == "investigator" else "a clinician's"
    return f"{who} yes or no: {said[2]}{_yes_means(said[2])}"


def _blocked(criterion: CriterionResult, labels: dict[str, str], zone: tzinfo, year: int,
             earlier: dict[str, str] | None = None) -> str:
    if criterion.outcome is Outcome.UNKNOWN:
        wanted = ", ".join(_needed(m, zone) for m in asked_now(criterion)[:2])
        return "cannot be checked" + (f" (needs {wanted})" if wanted else "")
    # what excluded the patient: a drug still in washout, else a recorded finding rather than
    # an attestation that merely let the criterion be judged
    washouts = tuple(e for e in criterion.evidence if "washout_end" in e.details)
    findings = tuple(e for e in criterion.evidence if not isinstance(e.value, bool))
    latest = _latest(washouts or findings or criterion.evidence)
    if latest is None:
        return "not met"
    return f"{evidence_phrase(latest, labels, zone, year)}{_correcting(latest, earlier or {})}"


def _latest(evidence: tuple[Evidence, ...]) -> Evidence | None:
    dated = [e for e in evidence if e.effective is not None or e.details.get("washout_end")]
    if not dated:
        return evidence[0] if evidence else None
    earliest = datetime.min.replace(tzinfo=UTC)
    return max(dated, key=lambda e: e.effective or _instant(e.details.get("last_dose"))
               or earliest)


def _instant(value: Scalar) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _without_files(text: str) -> str:
    return _units_in_text(_FILE_REFERENCE.sub("", text))


def dates_in_text(text: str, zone: tzinfo) -> str:
    """``text`` with every ISO-8601 instant the engine wrote in it as a day in ``zone``, as
    :func:`human_date` writes evidence dates: "since 2020-10-18T23:36:43Z" -> "since 18 Oct
    2020" (UTC); a calendar date alone ("platelet count of 2026-02-28 could not be read") as
    that day, unconverted ("28 Feb 2026": a date has no zone). A version such as
    "2025-11-14.2" is left as it is."""
    return _dates_in_text(text, zone)


def _dates_in_text(text: str, zone: tzinfo) -> str:
    """ISO-8601 instants inside the engine's sentences as days in the site's zone."""

    def day(match: re.Match[str]) -> str:
        moment = _instant(match.group(0))
        return human_date(moment, zone) if moment is not None else match.group(0)

    def calendar_day(match: re.Match[str]) -> str:
        try:
            found = date.fromisoformat(match.group(0))
        except ValueError:
            return match.group(0)
        return f"{found.day} {found:%b} {found.year}"

    return _DAY.sub(calendar_day, _INSTANT.sub(day, text))


def _units_in_text(text: str) -> str:
    """UCUM written inside the engine's sentences ("0.5 10*9/L", "[IU]/mL"), as people write it."""
    text = _UNITY.sub(r"\1", _POWER.sub(lambda m: f"x10^{m.group(1)}", text))
    for ucum, human in (("g/(24.h)", "g/24 h"), ("[IU]", "IU"), ("/[HPF]", "/HPF")):
        text = text.replace(ucum, human)
    return text
