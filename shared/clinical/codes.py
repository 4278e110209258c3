"""Code system URIs, and the HL7 v2 coding-system names that map onto them."""

from __future__ import annotations

import re

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


def misspelt_system(system: str) -> str | None:
    """The FHIR URI of a code system TrialWatch reads when ``system`` names it in another
    spelling (its OID as ``urn:oid:``, ``https``, ``www.``, another letter case, a trailing
    slash, a ``|version`` suffix), else None (the URI itself, or any other system)."""
    if system.startswith("urn:oid:"):
        return SYSTEM_OIDS.get(system.removeprefix("urn:oid:").strip())
    key = system.strip().split("|", 1)[0].rstrip("/").lower()
    key = key.removeprefix("https://").removeprefix("http://").removeprefix("www.")
    uri = _CANONICAL.get(key)
    return uri if uri is not None and uri != system else None


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
