"""A site's medication crosswalk: NDC, ATC and local drug codes read as RxNorm and ingredients.

Real feeds code a drug by its National Drug Code (FHIR R4 ``http://hl7.org/fhir/sid/ndc``; HL7
v2.5.1 table 0396 ``NDC``), by its WHO ATC code (FHIR R4 terminologies-systems
``http://www.whocc.no/atc``), by a pharmacy's own code, or by an RxNorm clinical/branded drug
(SCD/SBD) the shipped product table (``shared/trials/tables/rxnorm_products.yaml``) does not
list. No criterion can say such a drug is no immunosuppressant, so every closed-world drug
criterion reading it is ``unknown``. A site says once, with who and why, what each code is:
``CLINICAL_MEDICATION_CODES_FILE`` names a YAML file read at start-up by the composition roots
(``shared/infra/medication_codes.py``), of this shape::

    medications:
      - system: http://hl7.org/fhir/sid/ndc        # NDC -> an RxNorm drug (SCD/SBD)
        code: "0093-7214-01"
        rxnorm: "979092"
        by: "P. Ruiz, pharmacy informatics"
        why: "FDA NDC directory / RxNav ndcstatus: 0093-7214-01 is RxCUI 979092"
      - system: http://www.whocc.no/atc             # ATC chemical substance -> ingredient(s)
        code: P01BA02
        ingredients: ["5521"]
        by: ...
        why: ...
      - source: CITY-PHARM                          # a local code -> RxNorm drug or ingredients
        system: L
        code: HCQ200
        rxnorm: "979092"
        by: ...
        why: ...
      - system: http://www.nlm.nih.gov/research/umls/rxnorm   # RxNorm drug -> its ingredients
        code: "979092"
        ingredients: ["5521"]
        by: ...
        why: ...

A mapped RxNorm drug is added to the fact's codes (every coding of a CodeableConcept stands
for the same drug, FHIR R4 datatypes); an ingredient list is added as codings of
``INGREDIENT_SYSTEM`` (TrialWatch's own system: "this drug's active ingredients are exactly
these RxNorm ingredients"), which the engine reads as it reads the product table's roll-up, so
the drug is identified even when no criterion reads its ingredients. Each entry used is noted on
the fact at the code's path. A sender coding RxNorm itself is read as sent, and an NDC/local
entry naming another RxNorm code adds it beside the sender's (noted): codings that then name
different drugs keep the medication unread (``shared.eligibility.index.drugs_disagree``).
Codes are matched exactly as written (an NDC's hyphens included): an unhyphenated 10-digit NDC
can be any of three segmentations, so none is guessed. Pure: the
table is installed once (``use_medication_crosswalk``) before any input is read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from shared.clinical.codes import HL7V2_SYSTEMS, ICD10CM, LOINC, RXNORM, SNOMED, UCUM
from shared.clinical.facts import Coding, ReadingNote

SETTING = "CLINICAL_MEDICATION_CODES_FILE"
NDC = "http://hl7.org/fhir/sid/ndc"
"""FHIR R4 terminologies-systems: the National Drug Code (HL7 v2.5.1 table 0396 ``NDC``)."""
ATC = "http://www.whocc.no/atc"
"""FHIR R4 terminologies-systems: WHO Anatomical Therapeutic Chemical classification."""
INGREDIENT_SYSTEM = "https://trialwatch.dev/fhir/CodeSystem/rxnorm-ingredients-of-drug"
"""TrialWatch's system for "the drug's active ingredients are exactly these RxNorm ingredients"
(codes are RxNorm ingredient RxCUIs), added only from a site crosswalk entry."""
# other spellings of the systems a row may name, refused naming the URI (FHIR R4 Coding.system
# is the URI; HL7 OID registry: 2.16.840.1.113883.6.69 NDC, 2.16.840.1.113883.6.73 WHO ATC)
_SPELLINGS = {
    "ndc": NDC, "urn:oid:2.16.840.1.113883.6.69": NDC, "https://hl7.org/fhir/sid/ndc": NDC,
    "atc": ATC, "whoatc": ATC, "urn:oid:2.16.840.1.113883.6.73": ATC, "https://www.whocc.no/atc":
    ATC, "http://whocc.no/atc": ATC, "rxnorm": RXNORM, "rxn": RXNORM,
    "urn:oid:2.16.840.1.113883.6.88": RXNORM, "https://www.nlm.nih.gov/research/umls/rxnorm":
    RXNORM, "http://nlm.nih.gov/research/umls/rxnorm": RXNORM,
}
# not drug code systems: a drug is never coded in them
_NOT_DRUGS = frozenset({LOINC, SNOMED, ICD10CM, UCUM, *HL7V2_SYSTEMS.values()}) - {RXNORM}
# FDA National Drug Code Directory: a 10-digit, 3-segment number (labeler-product-package) in
# one of the configurations 4-4-2, 5-3-2 or 5-4-1, or its 2-segment product code (4-4, 5-3,
# 5-4); the HIPAA 11-digit form is 5-4-2 (with or without hyphens)
_NDC = re.compile(
    r"[0-9]{4}-[0-9]{4}(-[0-9]{2})?|[0-9]{5}-[0-9]{3}(-[0-9]{2})?|[0-9]{5}-[0-9]{4}(-[0-9]{1,2})?"
    r"|[0-9]{11}"
)
# WHO ATC/DDD Index, structure: 5th level (chemical substance) = letter, 2 digits, 2 letters,
# 2 digits (e.g. P01BA02 hydroxychloroquine); levels 1-4 are groups of several substances
_ATC_SUBSTANCE = re.compile(r"[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}")
# RxNorm concept unique identifiers (RXCUI) are positive integers
_RXCUI = re.compile(r"[1-9][0-9]{0,9}")
_FIELDS = frozenset({"source", "system", "code", "rxnorm", "ingredients", "display", "by", "why"})


@dataclass(frozen=True, slots=True)
class MedicationEntry:
    """One drug code (``system``, ``code``, from ``source`` or any when None), the RxNorm drug
    (``rxnorm``) and/or the RxNorm ingredients it is read as; ``line`` is its line in the file;
    ``by`` and ``why`` say who mapped it and on what grounds."""

    source: str | None
    system: str
    code: str
    rxnorm: str | None
    ingredients: tuple[str, ...]
    by: str
    why: str
    line: int
    display: str | None = None


MedicationCrosswalk = Mapping[tuple[str | None, str, str], MedicationEntry]

_SITE: dict[tuple[str | None, str, str], MedicationEntry] = {}


def _text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    if value is None or not str(value).strip():
        raise ValueError(f"'{key}' is required")
    return str(value).strip()


def _rxcui(value: Any, what: str) -> str:
    code = str(value).strip()
    if _RXCUI.fullmatch(code) is None:
        raise ValueError(f"{what} {code!r} is not an RxNorm concept id (RXCUI: digits)")
    return code


def _entry(entry: Any, line: int) -> MedicationEntry:
    """One row as an entry; raises ``ValueError`` with the reason (the caller adds where)."""
    if not isinstance(entry, dict):
        raise ValueError("expected a mapping")
    if unknown := set(entry) - _FIELDS:
        raise ValueError(f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    system, code = _text(entry, "system"), _text(entry, "code")
    if (uri := _SPELLINGS.get(system.lower())) is not None and uri != system:
        raise ValueError(f"system {system!r}: write it as {uri} (FHIR R4 Coding.system URI)")
    if system in _NOT_DRUGS:
        raise ValueError(f"system {system} is not a drug code system")
    source = str(entry["source"]).strip() if entry.get("source") else None
    rxnorm = _rxcui(entry["rxnorm"], "rxnorm") if entry.get("rxnorm") is not None else None
    raw = entry.get("ingredients")
    if raw is not None and (not isinstance(raw, list) or not raw):
        raise ValueError("'ingredients' must be a non-empty list of RxNorm ingredient ids")
    ingredients = tuple(dict.fromkeys(_rxcui(i, "ingredient") for i in raw or ()))
    if system == NDC:
        if _NDC.fullmatch(code) is None:
            raise ValueError(
                f"NDC {code!r} is not written as an NDC (FDA NDC directory: 4-4-2, 5-3-2 or"
                " 5-4-1 with hyphens, a 2-segment product code, or the 11-digit 5-4-2 form)")
        if rxnorm is None or ingredients:
            raise ValueError("an NDC names a drug product: give 'rxnorm' (its RxNorm SCD/SBD),"
                             " not 'ingredients'")
    elif system == ATC:
        if _ATC_SUBSTANCE.fullmatch(code) is None:
            raise ValueError(
                f"ATC code {code!r} is not a 5th-level (chemical substance) code (letter, 2"
                " digits, 2 letters, 2 digits; WHO ATC structure): a group names several drugs")
        if not ingredients or rxnorm is not None:
            raise ValueError("an ATC substance names ingredients: give 'ingredients' (RxNorm"
                             " ingredient ids), not 'rxnorm'")
    elif system == RXNORM:
        _rxcui(code, "code")
        if not ingredients or rxnorm is not None:
            raise ValueError("an RxNorm drug row gives its 'ingredients' (all its active"
                             " ingredients), not 'rxnorm'")
        if code in ingredients:
            raise ValueError(f"RxNorm {code} is listed as its own ingredient")
    else:
        if source is None and ":" not in system:
            raise ValueError("'source' is required: an HL7 v2 coding-system name such as L or"
                             " 99zzz (table 0396) means something only at its sender")
        if (rxnorm is None) == (not ingredients):
            raise ValueError("give exactly one of 'rxnorm' or 'ingredients'")
    display = str(entry["display"]).strip() if entry.get("display") else None
    return MedicationEntry(source, system, code, rxnorm, ingredients, _text(entry, "by"),
                           _text(entry, "why"), line, display)


def parse_medication_crosswalk(
    text: str, name: str
) -> dict[tuple[str | None, str, str], MedicationEntry]:
    """A medication crosswalk file (module docstring) as entries by (source, system, code).

    Raises ``ValueError`` naming the file, the row's line and the reason: not YAML of that
    shape, an unknown or missing field (system, code, by, why; source for an HL7 v2 name such
    as L), a system spelt other than its FHIR URI or not a drug code system, an NDC not written
    as one, an ATC code that is not a chemical substance, an RxCUI that is not digits, a target
    of the wrong kind for the system (NDC -> rxnorm, ATC -> ingredients, RxNorm -> ingredients),
    or one code twice.
    """
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{name}: not YAML: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("medications", []), list):
        raise ValueError(f"{name}: expected a mapping with a 'medications' list")
    lines = _row_lines(root)
    table: dict[tuple[str | None, str, str], MedicationEntry] = {}
    for index, row in enumerate(data.get("medications") or ()):
        line = lines[index] if index < len(lines) else 0
        where = f"{name}: line {line} (medications[{index}])"
        try:
            entry = _entry(row, line)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        key = (entry.source, entry.system, entry.code)
        if key in table:
            raise ValueError(f"{where} ({entry.system}|{entry.code}): this code is mapped"
                             f" twice (first at line {table[key].line})")
        table[key] = entry
    return table


def _row_lines(root: yaml.Node | None) -> list[int]:
    """The 1-based line of each row of the ``medications`` list."""
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) == "medications" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def use_medication_crosswalk(table: MedicationCrosswalk) -> None:
    """Install a site's medication crosswalk (as ``parse_medication_crosswalk`` returns it),
    replacing any before; an empty table removes it. Called once by a composition root."""
    _SITE.clear()
    _SITE.update(table)


def medication_crosswalk() -> tuple[MedicationEntry, ...]:
    """The installed entries, in file order (published in the data dictionary)."""
    return tuple(_SITE.values())


def _find(source: str | None, coding: Coding) -> MedicationEntry | None:
    return _SITE.get((source, coding.system, coding.code)) or _SITE.get(
        (None, coding.system, coding.code))


def _described(entry: MedicationEntry) -> str:
    return f"{SETTING} line {entry.line}; mapped by {entry.by}: {entry.why}"


def identified_medication(
    codes: tuple[Coding, ...], source_system: str | None, path: str
) -> tuple[tuple[Coding, ...], tuple[ReadingNote, ...]]:
    """A drug's ``codes`` with the crosswalk's RxNorm drug and ingredient codings added, and a
    note at ``path`` for each entry used.

    An entry of the same source is used before one for any source. When the sender coded
    RxNorm itself, an NDC/local -> RxNorm entry's drug is added beside it (noted) only when it
    is another code: the engine then reads the medication only if both are the same drug.
    Not applied (noted): any step whose entries disagree (two RxNorm drugs, two ingredient
    lists): which drug is meant is then unknown.
    """
    if not _SITE:
        return codes, ()
    notes: list[ReadingNote] = []
    drug_rows = [(c, e) for c in codes if c.system != RXNORM
                 and (e := _find(source_system, c)) is not None and e.rxnorm is not None]
    sent_rxnorm = [c for c in codes if c.system == RXNORM]
    added: list[Coding] = []
    if drug_rows and sent_rxnorm:
        # every coding of a CodeableConcept is the same drug (FHIR R4 datatypes; HL7 v2.5.1
        # 2A.3.13 CWE-4..6): the site's drug for the NDC/local code is kept beside the sender's
        # RxNorm, so the engine (``shared.eligibility.index.drugs_disagree``) finds it when
        # they name different drugs; before, the row was dropped and an NDC of rituximab beside
        # RxNorm prednisone read as prednisone only
        sent = {c.code for c in sent_rxnorm}
        extra = sorted({e.rxnorm or "" for _, e in drug_rows} - sent)
        added.extend(Coding(system=RXNORM, code=code) for code in extra)
        notes.append(ReadingNote(path=path, reason=(
            f"{_named(drug_rows[0][0])} has a medication crosswalk entry (RxNorm"
            f" {drug_rows[0][1].rxnorm}) and the sender coded RxNorm"
            f" {', '.join(c.code for c in sent_rxnorm)} itself: the sender's coding is read"
            + (f", with RxNorm {', '.join(extra)} beside it (the same drug, or the medication"
               " is not read)" if extra else ""))))
    elif drug_rows:
        targets = sorted({e.rxnorm or "" for _, e in drug_rows})
        if len(targets) > 1:
            notes.append(ReadingNote(path=path, reason=(
                f"the medication crosswalk ({SETTING}) maps this drug's codes to different"
                f" RxNorm drugs ({', '.join(targets)}): none is applied")))
        else:
            coding, entry = drug_rows[0]
            added.append(Coding(system=RXNORM, code=targets[0], display=entry.display))
            notes.append(ReadingNote(path=path, reason=(
                f"{_named(coding)} read as RxNorm {targets[0]} through the medication"
                f" crosswalk ({_described(entry)})")))
    lists = [(c, e) for c in (*codes, *added)
             if (e := _find(source_system, c)) is not None and e.ingredients]
    ingredient_sets = {e.ingredients for _, e in lists}
    if len(ingredient_sets) > 1:
        notes.append(ReadingNote(path=path, reason=(
            f"the medication crosswalk ({SETTING}) gives this drug different ingredient lists"
            f" ({'; '.join(', '.join(s) for s in sorted(ingredient_sets))}): none is applied")))
    elif lists:
        coding, entry = lists[0]
        added.extend(Coding(system=INGREDIENT_SYSTEM, code=i) for i in entry.ingredients)
        notes.append(ReadingNote(path=path, reason=(
            f"{_named(coding)} has the RxNorm ingredient(s) {', '.join(entry.ingredients)}"
            f" through the medication crosswalk ({_described(entry)})")))
    return (*codes, *added), tuple(notes)


def _named(coding: Coding) -> str:
    names = {NDC: "NDC", ATC: "ATC", RXNORM: "RxNorm"}
    name = names.get(coding.system)
    return f"{name} {coding.code}" if name else f"local code {coding.code!r} ({coding.system})"


def medication_crosswalk_markdown() -> list[str]:
    """The data dictionary section on the site medication crosswalk (lines), with the installed
    entries (none in the shipped dictionary: a site's drug codes belong to the site)."""
    lines = [
        "## Site medication crosswalk (NDC, ATC, local drug codes)",
        "",
        "A medication coded only by NDC, ATC, a pharmacy's own code, or an RxNorm drug the",
        "product table does not list cannot be identified, so every criterion asking whether",
        f"the patient took a listed drug is unknown. A site maps such codes in `{SETTING}`",
        "(YAML `medications:` rows of `system`, `code`, `rxnorm` or `ingredients`, `by`, `why`,",
        "optionally `source`; see `shared/clinical/medication_codes.py`): NDC -> RxNorm drug,",
        "ATC substance -> RxNorm ingredients, local code -> either, RxNorm drug -> all its",
        "ingredients. A wrong row stops the start-up naming its line; a mapped drug carries a",
        "note naming the row.",
        "",
    ]
    entries = medication_crosswalk()
    if not entries:
        return [*lines, "No site entries are installed in this dictionary.", ""]
    lines += ["| Source | System | Code | Read as | By | Why |", "|---|---|---|---|---|---|"]
    for e in entries:
        target = (f"RxNorm `{e.rxnorm}`" if e.rxnorm else
                  "ingredients " + ", ".join(f"`{i}`" for i in e.ingredients))
        lines.append(f"| {e.source or 'any'} | `{e.system}` | `{e.code}` | {target} |"
                     f" {_cell(e.by)} | {_cell(e.why)} |")
    return [*lines, ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
