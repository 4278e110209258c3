"""A site's code crosswalk: a sender's local codes read as LOINC or SNOMED CT codes.

Labs and EHRs send results and conditions coded only in their own code lists: an HL7 v2.5.1
OBX-3 CWE ``PLT^Platelets^L`` (CWE-3 from table 0396: ``L`` or ``99zzz`` are local coding
systems whose meaning only the sender's code list gives, 2A.3.13) or a FHIR R4 Observation
whose only coding is in the lab's own CodeSystem (FHIR R4 Coding.system: "the identification of
the code system that defines the meaning of the symbol in the code"). No criterion reads such a
code, so an older LOINC-coded result would decide while the newer local one exists. The text
("Platelets") is never read as a code; the site says, once, what each local code means, as an
integration engine's code crosswalk does: ``CLINICAL_LOCAL_CODES_FILE`` names a YAML file read at
start-up by the composition roots (``shared/infra/local_codes.py``), of this shape::

    codes:
      - source: CITY-LAB        # the sending system (HL7 v2 MSH-4, else MSH-3; FHIR: the
                                # intake client); required for an HL7 v2 name such as L
        system: L               # as sent: HL7 v2 CWE-3 name, or a FHIR Coding.system URI
        code: PLT
        loinc: "777-3"          # or snomed: "84114007" (one of the two)
        by: "A. Chen, laboratory informatics"
        why: "CITY-LAB test catalogue 2026-01: PLT is the automated blood platelet count"

A mapped code is added to the fact's codes (every coding of a CodeableConcept stands for the
same concept, FHIR R4 datatypes; HL7 v2.5.1 2A.3.13), so the LOINC code also decides the unit
catalogue, and the fact carries a ``ReadingNote`` at the code's path naming the entry. A sender
coding the target system itself is read as sent (the crosswalk is not applied; noted). Pure: the
table is installed once (``use_site_crosswalk``) before any input is read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from shared.clinical.codes import HL7V2_SYSTEMS, ICD10CM, LOINC, RXNORM, SNOMED, UCUM
from shared.clinical.facts import Coding, ReadingNote

SETTING = "CLINICAL_LOCAL_CODES_FILE"
_TARGETS = {"loinc": LOINC, "snomed": SNOMED}
_TARGET_NAMES = {LOINC: "LOINC", SNOMED: "SNOMED CT"}
# systems with a meaning of their own everywhere: never "local", never remapped by a site
_STANDARD = frozenset({LOINC, SNOMED, ICD10CM, RXNORM, UCUM, *HL7V2_SYSTEMS})
_LOINC_CODE = re.compile(r"([0-9]{1,7})-([0-9])")
_SCTID = re.compile(r"[1-9][0-9]{5,17}")


@dataclass(frozen=True, slots=True)
class CrosswalkEntry:
    """One local code (``system``, ``code``, from ``source`` or any source when None) and the
    LOINC or SNOMED CT coding it is read as; ``by`` and ``why`` say who mapped it and on what
    grounds (the sender's code list)."""

    source: str | None
    system: str
    code: str
    target: Coding
    by: str
    why: str


Crosswalk = Mapping[tuple[str | None, str, str], CrosswalkEntry]

_SITE: dict[tuple[str | None, str, str], CrosswalkEntry] = {}


def loinc_check_digit(number: str) -> int:
    """The LOINC check digit of the code's number part (LOINC Users' Guide, appendix: the
    mod 10 algorithm, as Luhn: from the right, every other digit doubled, digits summed)."""
    total = 0
    for position, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value // 10 + value % 10
    return (10 - total % 10) % 10


def _target_problem(system: str, code: str) -> str | None:
    if system == LOINC:
        match = _LOINC_CODE.fullmatch(code)
        if match is None:
            return f"LOINC code {code!r} is not a LOINC code (digits, '-', a check digit)"
        if loinc_check_digit(match[1]) != int(match[2]):
            return (f"LOINC code {code!r} has a wrong check digit (LOINC mod 10: expected"
                    f" {match[1]}-{loinc_check_digit(match[1])}): a typing error?")
        return None
    # SNOMED CT identifiers: 6-18 digits; a concept's partition identifier (the two digits
    # before the check digit) is 00 or 10 (SNOMED CT TIG, SCTID partition-identifier)
    if _SCTID.fullmatch(code) is None or code[-3:-1] not in ("00", "10"):
        return (f"SNOMED CT code {code!r} is not a concept identifier (6-18 digits, partition"
                " 00 or 10)")
    return None


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if value is None or not str(value).strip():
        raise ValueError(f"{where}: '{key}' is required")
    return str(value).strip()


def parse_crosswalk(text: str, name: str) -> dict[tuple[str | None, str, str], CrosswalkEntry]:
    """A crosswalk file (module docstring) as entries by (source, system, code).

    Raises ``ValueError`` naming the file and the entry: not YAML of that shape, a required
    field missing (system, code, by, why; source for an HL7 v2 coding-system name), not exactly
    one of ``loinc``/``snomed``, a target code not written as such codes are (LOINC check
    digit, SNOMED CT concept id), a standard system as the local one (LOINC, SNOMED CT,
    ICD-10-CM, RxNorm, UCUM: their codes mean the same everywhere), or one local code twice.
    """
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict) or not isinstance(data.get("codes", []), list):
        raise ValueError(f"{name}: expected a mapping with a 'codes' list")
    table: dict[tuple[str | None, str, str], CrosswalkEntry] = {}
    for index, entry in enumerate(data.get("codes") or ()):
        where = f"{name}: codes[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping")
        system, code = _text(entry, "system", where), _text(entry, "code", where)
        where = f"{where} ({system}|{code})"
        unknown = set(entry) - {"source", "system", "code", "loinc", "snomed", "display", "by",
                                "why"}
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        if system in _STANDARD:
            raise ValueError(f"{where}: {system} is a standard code system, not a local one:"
                             " its codes are read as they are")
        source = str(entry["source"]).strip() if entry.get("source") else None
        if source is None and ":" not in system:
            raise ValueError(f"{where}: 'source' is required: an HL7 v2 coding-system name such"
                             " as L or 99zzz (table 0396) means something only at its sender")
        targets = [(key, entry[key]) for key in _TARGETS if entry.get(key) is not None]
        if len(targets) != 1:
            raise ValueError(f"{where}: give exactly one of 'loinc' or 'snomed'")
        key, target_code = targets[0][0], str(targets[0][1]).strip()
        if (problem := _target_problem(_TARGETS[key], target_code)) is not None:
            raise ValueError(f"{where}: {problem}")
        by, why = _text(entry, "by", where), _text(entry, "why", where)
        if (source, system, code) in table:
            raise ValueError(f"{where}: this local code is mapped twice")
        display = str(entry["display"]).strip() if entry.get("display") else None
        table[(source, system, code)] = CrosswalkEntry(
            source, system, code, Coding(system=_TARGETS[key], code=target_code,
                                         display=display), by, why)
    return table


def use_site_crosswalk(table: Crosswalk) -> None:
    """Install a site's crosswalk (as ``parse_crosswalk`` returns it), replacing any before;
    an empty table removes it. Called once by a composition root at start-up."""
    _SITE.clear()
    _SITE.update(table)


def site_crosswalk() -> tuple[CrosswalkEntry, ...]:
    """The installed entries, in file order (published in the data dictionary)."""
    return tuple(_SITE.values())


def crosswalked(
    codes: tuple[Coding, ...], source_system: str | None, path: str
) -> tuple[tuple[Coding, ...], tuple[ReadingNote, ...]]:
    """``codes`` with the crosswalk's codings added, and a note at ``path`` for each entry used.

    An entry of the same source is used before one for any source. Not applied (noted): when
    the sender coded the target system itself (its own coding is read), or when the local
    codings of one concept map to different codes (which one is meant is unknown).
    """
    if not _SITE:
        return codes, ()
    found: list[tuple[Coding, CrosswalkEntry]] = []
    for coding in codes:
        entry = (_SITE.get((source_system, coding.system, coding.code))
                 or _SITE.get((None, coding.system, coding.code)))
        if entry is not None:
            found.append((coding, entry))
    if not found:
        return codes, ()
    targets = {(entry.target.system, entry.target.code) for _, entry in found}
    if len(targets) > 1:
        named = ", ".join(sorted(f"{s}|{c}" for s, c in targets))
        return codes, (ReadingNote(path=path, reason=(
            f"the site code crosswalk ({SETTING}) maps this concept's local codings to"
            f" different codes ({named}): none is applied")),)
    coding, entry = found[0]
    target_name = _TARGET_NAMES[entry.target.system]
    sent = [c for c in codes if c.system == entry.target.system]
    if sent:
        return codes, (ReadingNote(path=path, reason=(
            f"local code {coding.code!r} ({coding.system}) has a site crosswalk entry"
            f" ({target_name} {entry.target.code}), but the sender coded {target_name}"
            f" {', '.join(c.code for c in sent)} itself: the sender's coding is read")),)
    note = ReadingNote(path=path, reason=(
        f"local code {coding.code!r} ({coding.system}) read as {target_name}"
        f" {entry.target.code} through the site code crosswalk ({SETTING}; mapped by"
        f" {entry.by}: {entry.why})"))
    return (*codes, entry.target), (note,)


def crosswalk_markdown() -> list[str]:
    """The data dictionary section on the site code crosswalk (lines), with the installed
    entries (none in the shipped dictionary: local codes belong to a site)."""
    lines = [
        "## Site code crosswalk (local codes)",
        "",
        "A result, condition or procedure coded only in a sender's own code list (HL7 v2 CWE-3",
        "`L` or `99zzz`, table 0396; a FHIR Coding.system of the lab's own) is read by no",
        f"criterion. A site maps such codes to LOINC or SNOMED CT in `{SETTING}` (YAML:",
        "`codes:` entries of `source`, `system`, `code`, one of `loinc`/`snomed`, `by`, `why`;",
        "see `shared/clinical/local_codes.py`), read at start-up; a wrong entry stops the",
        "start-up naming it. A mapped code carries a note naming the entry; the text of a code",
        "is never read as a code. Intake's receipt names each result, condition and medication",
        "whose codes no active trial reads.",
        "",
    ]
    entries = site_crosswalk()
    if not entries:
        return [*lines, "No site entries are installed in this dictionary.", ""]
    lines += ["| Source | System | Code | Read as | By | Why |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {e.source or 'any'} | `{e.system}` | `{e.code}` |"
        f" {_TARGET_NAMES[e.target.system]} `{e.target.code}` | {_cell(e.by)} | {_cell(e.why)} |"
        for e in entries
    ]
    return [*lines, ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
