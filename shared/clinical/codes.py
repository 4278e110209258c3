"""Code system URIs, and the HL7 v2 coding-system names that map onto them."""

from __future__ import annotations

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
