"""Code system URIs, and the HL7 v2 coding-system names that map onto them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"

# HL7 v2 table 0396 names -> FHIR URIs; any other name is kept as the sender wrote it.
HL7V2_SYSTEMS = {
    "LN": LOINC,
    "SCT": SNOMED,
    "SNM": SNOMED,
    "I10": ICD10CM,
    "I10C": ICD10CM,
    "RXN": RXNORM,
    "RXNORM": RXNORM,
    "UCUM": UCUM,
}

# FHIR R4 terminologies-systems (https://hl7.org/fhir/R4/terminologies-systems.html): "the URI
# SHALL be used" in Coding.system; each system's OID (HL7 OID registry) names the same code
# system but is not its FHIR system. A version goes in Coding.version, never in the system.
SYSTEM_OIDS = {
    "2.16.840.1.113883.6.1": LOINC,
    "2.16.840.1.113883.6.96": SNOMED,
    "2.16.840.1.113883.6.88": RXNORM,
    "2.16.840.1.113883.6.90": ICD10CM,
    "2.16.840.1.113883.6.8": UCUM,
}
_CANONICAL = {
    uri.lower().removeprefix("http://").removeprefix("www."): uri for uri in SYSTEM_OIDS.values()
}
# The same systems written as a name, not a URI (FHIR R4 Coding.system is a uri; "LOINC",
# "RxNorm" are how some senders and converters write them: notes/probe.md item 1): refused
# naming the URI, as the other spellings above
_NAMES = {
    "loinc": LOINC, "lnc": LOINC, "ln": LOINC,
    "rxnorm": RXNORM, "rxn": RXNORM,
    "snomed": SNOMED, "snomedct": SNOMED, "snomed ct": SNOMED, "snomed-ct": SNOMED, "sct": SNOMED,
    "icd-10-cm": ICD10CM, "icd10cm": ICD10CM, "icd10-cm": ICD10CM, "i10": ICD10CM,
    "ucum": UCUM,
}


def misspelt_system(system: str) -> str | None:
    """The FHIR URI of a code system TrialWatch reads when ``system`` names it in another
    spelling (its OID as ``urn:oid:``, ``https``, ``www.``, another letter case, a trailing
    slash, a ``|version`` suffix), else None (the URI itself, or any other system)."""
    if system.startswith("urn:oid:"):
        return SYSTEM_OIDS.get(system.removeprefix("urn:oid:").strip())
    named = _NAMES.get(system.strip().lower())
    if named is not None:
        return named
    key = system.strip().split("|", 1)[0].rstrip("/").lower()
    key = key.removeprefix("https://").removeprefix("http://").removeprefix("www.")
    uri = _CANONICAL.get(key)
    return uri if uri is not None and uri != system else None


@dataclass(frozen=True, slots=True)
class SystemSpelling:
    """An HL7 v2 coding-system name that is not a table 0396 value, read as ``system``
    (``coding_systems.yaml``): ``table_0396`` is the name table 0396 gives it, ``source`` where
    the spelling is used."""

    spelling: str
    system: str
    table_0396: str
    source: str


def _spellings() -> dict[str, SystemSpelling]:
    with (Path(__file__).with_name("coding_systems.yaml")).open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    return {name: SystemSpelling(spelling=name, system=str(spec["system"]),
                                 table_0396=str(spec["table_0396"]),
                                 source=" ".join(str(spec["source"]).split()))
            for name, spec in raw["hl7v2"].items()}


HL7V2_SPELLINGS = _spellings()
"""HL7 v2 coding-system names outside table 0396 that real feeds use, by name."""

SYSTEM_NAMES = {LOINC: "LOINC", SNOMED: "SNOMED CT", RXNORM: "RxNorm", ICD10CM: "ICD-10-CM",
                UCUM: "UCUM"}

# HL7 v2.5.1 table 0396: local code systems ("L", "99zzz" where z is an alphanumeric
# character); their codes are the sender's own (the site code crosswalk, local_codes.py)
_LOCAL_SYSTEM = re.compile(r"L|99[A-Z0-9]{3}", re.IGNORECASE)


def hl7v2_system_problem(system: str) -> tuple[str | None, str | None]:
    """(the URI an HL7 v2 CWE-3/CWE-6 coding-system name is read as, a note) for a coded
    element's ``system`` as sent.

    A table 0396 name TrialWatch maps (``HL7V2_SYSTEMS``): (its URI, None). A local name (``L``,
    ``99zzz``): (None, None), kept as sent for the crosswalk. The ISO OID of a system of
    ``SYSTEM_OIDS`` (bare or ``urn:oid:``): (its URI, a note). A spelling of
    ``coding_systems.yaml``: (its URI, a note naming it and its source). Empty or any other name:
    (None, why its code is not read as a standard code).
    """
    if system in HL7V2_SYSTEMS:
        return HL7V2_SYSTEMS[system], None
    if _LOCAL_SYSTEM.fullmatch(system):
        return None, None
    oid = system.removeprefix("urn:oid:")
    if oid in SYSTEM_OIDS:
        # HL7 v2.5.1 2A.3.8 CE / 2A.3.13 CWE component 3 (6) names the coding system from
        # table 0396 ('LN'); senders write the system's ISO OID there instead (the HL7 OID
        # registry; FHIR R4 terminologies-systems lists LOINC as 2.16.840.1.113883.6.1), as
        # v2.7 gave it a component of its own (CWE-14 "Name of Coding System OID"). An OID
        # names exactly one code system: read as it, noted (probe round 6).
        uri = SYSTEM_OIDS[oid]
        return uri, (
            f"coding system {system!r} is not a v2.5.1 table 0396 value: it is the ISO OID of"
            f" {SYSTEM_NAMES[uri]} (HL7 OID registry; FHIR R4 terminologies-systems), read as"
            f" {SYSTEM_NAMES[uri]} ({uri}); senders write it so, e.g. '29553-5^Calculated"
            " Patient Age^2.16.840.1.113883.6.1' (Net_HL7 sample ORU), CDC malaria case"
            " notifications (v2.7 CWE-14 carries the OID)")
    spelling = HL7V2_SPELLINGS.get(system)
    if spelling is not None:
        return spelling.system, (
            f"coding system {system!r} is not a v2.5.1 table 0396 value (its name there is"
            f" {spelling.table_0396!r}); read as {SYSTEM_NAMES[spelling.system]}"
            f" ({spelling.system}), a spelling senders"
            f" use: {spelling.source}")
    if not system:
        return None, (
            "no coding system (CWE-3 empty; HL7 v2.5.1 2A.3.13: the coding system names what"
            " the code means): the code is not read as LOINC or any other standard code, and"
            " no criterion reads it")
    return None, (
        f"coding system {system!r} is not a v2.5.1 table 0396 value TrialWatch reads (LOINC"
        " is 'LN', SNOMED CT 'SCT'): not identified, the code is not read as LOINC or any"
        " other standard code, and no criterion reads it")


# ICD-10-CM as FHIR R4 uses it (http://hl7.org/fhir/sid/icd-10-cm; CMS ICD-10-CM tabular list):
# a letter, a digit, a digit or letter (the category), then optionally "." and 1-4 characters.
_ICD10CM_CODE = re.compile(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?")


def code_form_problem(system: str, code: str) -> str | None:
    """Why ``code`` is not written as codes of ``system`` are, else None.

    Only ICD-10-CM is checked (FHIR R4 ``http://hl7.org/fhir/sid/icd-10-cm``: codes carry the
    dot after the 3rd character, e.g. ``N18.6``): ``N186`` would match no concept and an
    exclusion it meets would pass silently, so it is refused, never rewritten. Other systems:
    None.
    """
    if system != ICD10CM or _ICD10CM_CODE.fullmatch(code):
        return None
    return (
        f"ICD-10-CM code {code!r} is not in ICD-10-CM form: a letter, a digit, a digit or"
        " letter, then optionally '.' and 1-4 characters, with the dot after the 3rd character"
        " (e.g. 'N18.6'; FHIR R4 http://hl7.org/fhir/sid/icd-10-cm, CMS ICD-10-CM tabular"
        " list): which code was meant is unknown"
    )
