"""A decision as a person reads it: what to send next, values in human units, what changed.

Pure presentation over a :class:`Decision` (no I/O, no clock: the caller passes the zone and
every instant). Used by the coordinator app, the worklist API, alerts and ``trialwatch
evaluate``; the stored decision itself is unchanged.

- ``needs``: the de-duplicated "what to send next" list, each item with the criteria it
  unblocks (only criteria still ``unknown`` can be unblocked by new data).
- ``human_unit`` / ``human_value``: UCUM as written on a lab report (``10*9/L`` -> ``x10^9/L``,
  UCUM 2.1 section 2.3.4 writes the power of ten as ``10*``), SNOMED CT qualifier values as
  words (260385009 |Negative|, 10828004 |Positive|), booleans as yes/no, numbers with the
  digits received (no float noise added, no trailing ``.0``).
- ``headline``: what changed between the previous decision and this one, in one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo

from pydantic import BaseModel, ConfigDict

from shared.eligibility.decision import CriterionResult, Decision, Evidence, Outcome, Scalar

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
_MICRO = re.compile(r"(?<![A-Za-z])u(?=(mol|g|L|l|IU)\b)")
# Internal file names the engine cites as a source (e.g. "default table (tables/x.yaml)").
_INSTANT = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})")
_FILE_REFERENCE = re.compile(r"\s*\((?:[\w.-]+/)*[\w.-]+\.(?:yaml|yml|json|py)\)")


class Need(BaseModel):
    """One data item that would let undetermined criteria be decided.

    ``item`` is the engine's wording ("platelet count within 30 days"); ``unblocks`` the ids of
    the criteria waiting for it, in protocol order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    item: str
    unblocks: tuple[str, ...]


def needs(decision: Decision) -> tuple[Need, ...]:
    """Every missing item once, in the order the criteria first ask for it."""
    found: dict[str, list[str]] = {}
    for criterion in decision.criteria:
        if criterion.outcome is not Outcome.UNKNOWN:
            continue
        for item in criterion.missing or (_without_files(criterion.reason),):
            waiting = found.setdefault(_without_files(item).replace("_", " "), [])
            if criterion.id not in waiting:
                waiting.append(criterion.id)
    return tuple(Need(item=item, unblocks=tuple(ids)) for item, ids in found.items())


def clean_reason(reason: str, zone: tzinfo = UTC) -> str:
    """The engine's reason with repeated clauses said once, internal file names removed, UCUM
    units and ISO-8601 instants written for people (dates in ``zone``).

    The engine joins its findings with "; " after a " — "; a finding shared by two branches
    (e.g. the same drug for two "refractory" paths) is kept at its first place only.
    """
    head, dash, body = _dates_in_text(_without_files(reason), zone).partition(" — ")
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
    """The number with the digits it arrived with: 150.0 -> "150", 0.5 -> "0.5"."""
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


def human_date(instant: datetime, zone: tzinfo, *, year: bool = True) -> str:
    """A day as coordinators write it, in the site's zone: "28 Feb 2026" (or "28 Feb")."""
    local = instant.astimezone(zone)
    return f"{local.day} {local:%b}" + (f" {local.year}" if year else "")


def human_time(instant: datetime, zone: tzinfo) -> str:
    """An instant in the site's zone to the minute: "28 Feb 2026 09:00 CET"."""
    local = instant.astimezone(zone)
    return f"{human_date(local, zone)} {local:%H:%M} {local.tzname() or ''}".strip()


def evidence_phrase(
    evidence: Evidence, labels: dict[str, str], zone: tzinfo, now_year: int | None = None
) -> str:
    """One piece of evidence in a line: "platelet count 150 x10^9/L on 28 Feb".

    ``labels`` maps ``system|code`` to a clinical name (from the trial's concept tables);
    the engine's note stands in for an unlabelled code.
    """
    details = evidence.details
    if "washout_end" in details and "drug" in details:
        last = _instant(details.get("last_dose"))
        end = _instant(details.get("washout_end"))
        parts = [str(details["drug"])]
        if last is not None:
            parts.append(human_date(last, zone, year=last.astimezone(zone).year != now_year))
        text = " ".join(parts)
        return f"{text}, washout until {human_date(end, zone)}" if end is not None else text
    if evidence.code == "Patient.birthDate":  # the age is the evidence, not the birth date
        return (evidence.note or "age").replace(" at as-of", "")
    note = _dates_in_text(_without_files(evidence.note or ""), zone)
    name = (labels.get(evidence.code or "") or note or "record").replace("_", " ")
    value = human_value(evidence.value, evidence.unit)
    text = f"{name} {value}".strip() if value and value != name else name
    if evidence.effective is not None:
        on = evidence.effective.astimezone(zone)
        text += f" on {human_date(on, zone, year=on.year != now_year)}"
    return text


def headline(
    previous: Decision | None, current: Decision, labels: dict[str, str], zone: tzinfo,
    limit: int = 3,
) -> str:
    """What changed, in one line, from the criteria whose outcome moved.

    Newly eligible: the criteria that now pass and did not before ("now eligible: I6.1 met,
    platelet count 150 x10^9/L on 28 Feb"). No longer eligible: the criteria that now fail or
    cannot be decided ("no longer eligible: E11 rituximab 2 Dec, washout until 19 Aug 2027").
    Without a previous decision every criterion counts as changed.
    """
    before = {c.id: c.outcome for c in previous.criteria} if previous else {}
    year = current.as_of.astimezone(zone).year
    if current.status.value == "eligible":
        moved = [c for c in current.criteria if before.get(c.id) is not Outcome.PASS]
        clauses = _grouped((c.id, _met(c, labels, zone, year)) for c in moved)
        prefix = "now eligible"
    else:
        moved = [c for c in current.criteria
                 if c.outcome is not Outcome.PASS and before.get(c.id) is not c.outcome]
        clauses = _grouped((c.id, _blocked(c, labels, zone, year)) for c in moved)
        prefix = ("no longer eligible" if previous and previous.status.value == "eligible"
                  else current.status.value)
    if not clauses:
        return prefix
    more = f" (+{len(clauses) - limit} more)" if len(clauses) > limit else ""
    return f"{prefix}: {'; '.join(clauses[:limit])}{more}"


def _grouped(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """Criteria that changed for the same reason said once: "I6, I6.1 met, platelet count..."."""
    ids_by_text: dict[str, list[str]] = {}
    for criterion_id, text in pairs:
        ids_by_text.setdefault(text, []).append(criterion_id)
    return [", ".join(ids) + " " + text for text, ids in ids_by_text.items()]


def concept_labels(concepts: Iterable[tuple[str, Iterable[str]]]) -> dict[str, str]:
    """``system|code`` -> label, from (label, keys) pairs of a trial's concept table."""
    return {key: label for label, keys in concepts for key in keys}


def _met(criterion: CriterionResult, labels: dict[str, str], zone: tzinfo, year: int) -> str:
    latest = _latest(criterion.evidence)
    if latest is None:
        return "met"
    return f"met, {evidence_phrase(latest, labels, zone, year)}"


def _blocked(criterion: CriterionResult, labels: dict[str, str], zone: tzinfo, year: int) -> str:
    if criterion.outcome is Outcome.UNKNOWN:
        wanted = ", ".join(_without_files(m) for m in criterion.missing[:2])
        return "cannot be checked" + (f" (needs {wanted})" if wanted else "")
    # what excluded the patient: a drug still in washout, else a recorded finding rather than
    # an attestation that merely let the criterion be judged
    washouts = tuple(e for e in criterion.evidence if "washout_end" in e.details)
    findings = tuple(e for e in criterion.evidence if not isinstance(e.value, bool))
    latest = _latest(washouts or findings or criterion.evidence)
    if latest is None:
        return "not met"
    return evidence_phrase(latest, labels, zone, year)


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


def _dates_in_text(text: str, zone: tzinfo) -> str:
    """ISO-8601 instants inside the engine's sentences as days in the site's zone."""

    def day(match: re.Match[str]) -> str:
        moment = _instant(match.group(0))
        return human_date(moment, zone) if moment is not None else match.group(0)

    return _INSTANT.sub(day, text)


def _units_in_text(text: str) -> str:
    """UCUM written inside the engine's sentences ("0.5 10*9/L", "[IU]/mL"), as people write it."""
    text = _POWER.sub(lambda m: f"x10^{m.group(1)}", text)
    for ucum, human in (("g/(24.h)", "g/24 h"), ("[IU]", "IU"), ("/[HPF]", "/HPF")):
        text = text.replace(ucum, human)
    return text
