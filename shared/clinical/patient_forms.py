"""Which forms of patient status and identity are read, and how (published in the dictionary)."""

from __future__ import annotations

PATIENT_FORMS: tuple[tuple[str, str, str, str], ...] = (
    ("FHIR `Patient.deceasedBoolean`", "`true` / `false`", "deceased yes / no",
     "FHIR R4 Patient.deceased[x]"),
    ("FHIR `Patient.deceasedDateTime`", "a dateTime with offset", "deceased (bad time refused)",
     "FHIR R4 Patient.deceased[x]"),
    ("HL7 v2 PID-30", "`Y` / `N` (also `YES` / `NO`)", "deceased yes / no; anything else refused",
     "v2.5.1 3.4.2.30, table 0136"),
    ("HL7 v2 PID-29", "a TS", "deceased when PID-30 is empty; with PID-30 `N` refused",
     "v2.5.1 3.4.2.29"),
    ("FHIR reference", "`Patient/<id>`, `https://host/fhir/Patient/<id>[/_history/n]`",
     "the same patient as the Patient resource `<id>` of the same source",
     "FHIR R4 References 2.3.0"),
    ("FHIR reference", "`urn:uuid:` (bundle `fullUrl`)", "the bundle's Patient with that fullUrl",
     "FHIR R4 Bundle.entry.fullUrl"),
    ("FHIR reference", "`urn:uuid:` matching no entry's `fullUrl` (or outside a Bundle)",
     "refused at `subject.reference` (a transaction: whole; a batch: that entry); never a new "
     "patient", "FHIR R4 Bundle, Resolving references in Bundles"),
    ("FHIR reference", "`identifier` {system, value} (logical)",
     "the patient with that identifier at the same source", "FHIR R4 Reference.identifier"),
    ("FHIR `Patient.link`", "type `replaced-by`, `active` false or absent",
     "merged into the linked Patient (its demographics are not used)", "FHIR R4 Patient.link"),
    ("FHIR `Patient.link`", "type `replaces` (on the survivor)",
     "the linked Patient merged into this one; contradicting its own replaced-by refused",
     "FHIR R4 Patient.link"),
    ("FHIR `Patient.link`", "type `refer`, `seealso`", "not a merge (no change of identity)",
     "FHIR R4 Patient.link"),
    ("FHIR `Patient.link`", "type `replaced-by` on an `active: true` record, or two of them",
     "refused at `Patient.active` / `Patient.link`", "FHIR R4 Patient.link"),
    ("HL7 v2 ADT^A40", "PID (survivor) + MRG-1 (prior identifier list)",
     "the MRG-1 MR identifier merged into PID-3's; MRG-1 empty or equal to PID-3 refused",
     "v2.5.1 3.3.40, 3.4.9"),
)


def patient_forms_markdown() -> list[str]:
    """The Markdown section on patient status and identity (lines)."""
    lines = [
        "## How patient status and identity are read",
        "",
        "A deceased patient is never eligible and raises no newly-eligible alert. Every name a",
        "source gives a patient (its identifier, `Patient/<id>`, `identifier:<system>|<value>`)",
        "leads intake to one surrogate key; names of one patient first seen apart are merged into",
        "the oldest key. A record merged away is not screened as a separate patient: intake",
        "publishes `PatientMerged` (surrogate keys only), the evaluator moves its facts to the",
        "survivor and never screens the merged key again; its past decisions stay in audit.",
        "",
        "| Element | Form | Read as | Standard |",
        "|---|---|---|---|",
    ]
    lines += [f"| {e} | {f} | {r} | {s} |" for e, f, r, s in PATIENT_FORMS]
    lines.append("")
    return lines
