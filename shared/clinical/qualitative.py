"""Qualitative result words and coded answers as canonical codings (or ordinal scores).

The table is data (``qualitative.yaml``, with its sources). A coded answer is read through
any of a CodeableConcept's codings (FHIR R4 datatypes: every coding of a CodeableConcept
represents the same concept): SNOMED CT qualifier values are kept, LOINC answer codes (LA...)
become the SNOMED qualifier they stand for, LOINC ordinal answers (the ECOG list LL529-9)
become a score. A code in any other system (a lab's own code list: HL7 v2 "L", a site URI) is
not known, however it is spelt ("POS" in system "L" is not Positive), unless the table's
``local_codes`` maps that system's code. Free text other than a listed word is never copied:
it may hold names or notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from shared.clinical.codes import LOINC, SNOMED
from shared.clinical.facts import Coding

TRIALWATCH_SYSTEMS = "https://trialwatch.dev/fhir/CodeSystem/"


@dataclass(frozen=True, slots=True)
class Answer:
    """What one coding means: a canonical qualitative coding, or a score from an answer list."""

    coding: Coding | None = None
    score: float | None = None


@dataclass(frozen=True, slots=True)
class _Tables:
    words: dict[str, Coding]
    codes: dict[tuple[str, str], Answer]


@cache
def _tables() -> _Tables:
    text = resources.files("shared.clinical").joinpath("qualitative.yaml").read_text("utf-8")
    return build_tables(yaml.safe_load(text))


def build_tables(data: dict[str, Any]) -> _Tables:
    """The lookup tables of one qualitative table (``qualitative.yaml``'s shape).

    ``local_codes`` maps a code system TrialWatch does not know (a lab's own FHIR CodeSystem
    URI, an HL7 v2 table 0396 "L" / "99zzz" name as the feed sends it in CWE-3) code by code to
    a SNOMED CT qualifier listed under ``results``: a local code means only what its own code
    list says (FHIR R4 Coding.system; HL7 v2.5.1 2A.3.13 CWE-3), so it is read only through
    such an entry, which names the code list it was taken from (``source``). Raises
    ``ValueError`` for an entry without a source or mapping to an unlisted qualifier.
    """
    words: dict[str, Coding] = {}
    codes: dict[tuple[str, str], Answer] = {}
    for entry in data["results"]:
        coding = Coding(system=SNOMED, code=str(entry["snomed"]), display=entry["display"])
        for word in entry["words"]:
            words[_key(word)] = coding
        codes[(SNOMED, coding.code)] = Answer(coding=coding)
        for answer in entry["loinc"]:
            codes[(LOINC, str(answer))] = Answer(coding=coding)
    for answer_list in data["scores"]:
        for answer, score in answer_list["answers"].items():
            codes[(LOINC, str(answer))] = Answer(score=float(score))
    for local in data.get("local_codes") or ():
        system = str(local["system"])
        if not local.get("source"):
            raise ValueError(f"local_codes for system {system!r}: name the code list (source)")
        if system in (SNOMED, LOINC):
            raise ValueError(f"local_codes may not redefine {system}")
        for code, snomed in local["codes"].items():
            answer = codes.get((SNOMED, str(snomed)))
            if answer is None:
                raise ValueError(
                    f"local_codes {system}|{code}: SNOMED CT {snomed} is not a listed result"
                )
            codes[(system, str(code))] = answer
    return _Tables(words=words, codes=codes)


def _key(text: str) -> str:
    # real feeds pad, vary case and hyphenation, and hide zero-width spaces in result words
    text = re.sub(r"[\u200b-\u200d\ufeff]", "", text).strip().lower()
    return re.sub(r"[\s_-]+", " ", text)


def qualitative_coding(text: str) -> Coding | None:
    """The SNOMED coding for a recognised result word, else ``None``."""
    return _tables().words.get(_key(text))


def coded_answer(coding: Coding) -> Answer | None:
    """What TrialWatch reads a coding as, or ``None`` when it does not know the code.

    Looked up by (system, code): a code is never read without its system (FHIR R4 Coding).

    A coding in TrialWatch's own CodeSystem (``https://trialwatch.dev/fhir/CodeSystem/...``,
    e.g. the ISN/RPS biopsy classes) is known as itself.
    """
    if coding.system.startswith(TRIALWATCH_SYSTEMS):
        return Answer(coding=coding)
    return _tables().codes.get((coding.system, coding.code.strip()))
