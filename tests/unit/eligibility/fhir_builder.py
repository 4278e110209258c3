"""Hand-written FHIR R4 patients for the vignette suite: a small builder of Bundle dicts.

Every vignette starts from ``eligible_patient()`` (a woman of 35 with biopsy-proven class IV
lupus nephritis who meets every criterion at ``AS_OF``) and changes one thing.
"""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
TW = "https://trialwatch.dev/fhir/CodeSystem/eligibility-facts"
TWDRUG = "https://trialwatch.dev/fhir/CodeSystem/local-drugs"
NEGATIVE = {"system": SNOMED, "code": "260385009", "display": "Negative"}
POSITIVE = {"system": SNOMED, "code": "10828004", "display": "Positive"}

AS_OF = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PATIENT_REF = "Patient/vignette"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ago(days: float = 0, *, minutes: float = 0) -> datetime:
    return AS_OF - timedelta(days=days, minutes=minutes)


class PatientBuilder:
    def __init__(
        self, birth_date: str | None = "1990-05-10", gender: str | None = "female"
    ) -> None:
        self.patient: dict[str, Any] = {"resourceType": "Patient", "id": "vignette"}
        if birth_date:
            self.patient["birthDate"] = birth_date
        if gender:
            self.patient["gender"] = gender
        self.resources: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def copy(self) -> PatientBuilder:
        return copy.deepcopy(self)

    def without(self, system: str, code: str) -> PatientBuilder:
        """Drop every resource coded ``system|code`` (observation, condition or medication)."""

        def codes(resource: dict[str, Any]) -> list[tuple[str, str]]:
            concept = resource.get("code") or resource.get("medicationCodeableConcept") or {}
            return [(c.get("system"), c.get("code")) for c in concept.get("coding", [])]

        self.resources = [r for r in self.resources if (system, code) not in codes(r)]
        return self

    def observation(
        self,
        system: str,
        code: str,
        at: datetime,
        *,
        quantity: tuple[float, str] | None = None,
        integer: int | None = None,
        coded: dict[str, str] | None = None,
        boolean: bool | None = None,
        ref_high: float | None = None,
        status: str = "final",
    ) -> PatientBuilder:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self._id("obs"),
            "status": status,
            "code": {"coding": [{"system": system, "code": code}]},
            "subject": {"reference": PATIENT_REF},
            "effectiveDateTime": iso(at),
        }
        if quantity is not None:
            value, unit = quantity
            resource["valueQuantity"] = {
                "value": value,
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            }
            if ref_high is not None:
                resource["referenceRange"] = [
                    {
                        "high": {
                            "value": ref_high,
                            "unit": unit,
                            "system": "http://unitsofmeasure.org",
                            "code": unit,
                        }
                    }
                ]
        if integer is not None:
            resource["valueInteger"] = integer
        if coded is not None:
            resource["valueCodeableConcept"] = {"coding": [coded]}
        if boolean is not None:
            resource["valueBoolean"] = boolean
        self.resources.append(resource)
        return self

    def lab(self, code: str, value: float, unit: str, days: float = 3, **kw: Any) -> PatientBuilder:
        return self.observation(LOINC, code, ago(days), quantity=(value, unit), **kw)

    def fact(self, code: str, value: bool, days: float = 1) -> PatientBuilder:
        return self.observation(TW, code, ago(days), boolean=value)

    def condition(
        self,
        system: str,
        code: str,
        onset_days: float,
        *,
        status: str = "active",
        abated_days: float | None = None,
    ) -> PatientBuilder:
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "id": self._id("cond"),
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": status,
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "code": {"coding": [{"system": system, "code": code}]},
            "subject": {"reference": PATIENT_REF},
            "onsetDateTime": iso(ago(onset_days)),
        }
        if abated_days is not None:
            resource["abatementDateTime"] = iso(ago(abated_days))
        self.resources.append(resource)
        return self

    def medication(
        self,
        code: str,
        start_days: float,
        end_days: float | None = None,
        *,
        system: str = RXNORM,
        status: str | None = None,
        end_at: datetime | None = None,
        dosage: list[dict[str, Any]] | None = None,
    ) -> PatientBuilder:
        """A MedicationStatement over [start, end] (ongoing without end); ``dosage`` is its
        FHIR R4 ``MedicationStatement.dosage`` (Dosage list) when given."""
        end = end_at if end_at is not None else (ago(end_days) if end_days is not None else None)
        period: dict[str, str] = {"start": iso(ago(start_days))}
        if end is not None:
            period["end"] = iso(end)
        resource: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "id": self._id("med"),
            "status": status or ("completed" if end is not None else "active"),
            "medicationCodeableConcept": {"coding": [{"system": system, "code": code}]},
            "subject": {"reference": PATIENT_REF},
            "effectivePeriod": period,
        }
        if dosage is not None:
            resource["dosage"] = dosage
        self.resources.append(resource)
        return self

    def bundle(self, bundle_type: str = "collection") -> dict[str, Any]:
        entries = [
            {"fullUrl": f"urn:uuid:{r['resourceType'].lower()}-{r['id']}", "resource": r}
            for r in [self.patient, *self.resources]
        ]
        if bundle_type == "transaction":
            for entry in entries:
                resource = entry["resource"]
                entry["request"] = {
                    "method": "PUT",
                    "url": f"{resource['resourceType']}/{resource['id']}",
                }
        return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}


CLINICIAN_NO = (
    "severe-drug-allergy-history",
    "uncontrolled-infection",
    "cns-disease",
    "insufficient-cardiac-function",
    "congenital-immunoglobulin-deficiency",
    "malignancy-within-5-years",
    "end-stage-renal-failure",
    "psychiatric-or-cognitive-disorder",
    "planning-pregnancy",
    "investigator-deems-unsuitable",
    "lactating",
)
CLINICIAN_YES = (
    "conventional-treatment-ineffective-6m",
    "childbearing-potential",
    "contraception-commitment",
    "informed-consent-and-compliance",
    "no-other-trial-within-3-months",
    "medication-history-reconciled",
    "eular-joint-involvement",
)


def eligible_patient() -> PatientBuilder:
    """A 35-year-old woman who meets every criterion of NCT06920433 2025-11-14.1 at AS_OF."""
    b = PatientBuilder()
    # EULAR/ACR 2019: ANA 1:160 entry; anti-dsDNA 6 + low C3 and C4 4 + class IV 10 + joints 6
    b.lab("5048-4", 160, "{titer}", days=400)
    b.lab("5130-0", 120, "[IU]/mL", days=60, ref_high=30)
    b.lab("4485-9", 0.5, "g/L", days=10)
    b.lab("4498-2", 0.05, "g/L", days=10)
    b.observation(TW, "isn-rps-2018-class", ago(40), coded={"system": TW, "code": "IV"})
    b.observation(TW, "nih-activity-index", ago(40), integer=8)
    b.observation(TW, "nih-chronicity-index", ago(40), integer=2)
    b.observation(TW, "sledai-2k-total", ago(5), integer=12)
    b.lab("2890-2", 2.1, "g/g", days=5)
    b.lab("8117-4", 12, "%", days=5)
    b.lab("751-8", 2.5, "10*9/L")
    b.lab("718-7", 110, "g/L")
    b.lab("777-3", 180, "10*9/L")
    b.lab("1742-6", 30, "U/L")
    b.lab("1920-8", 28, "U/L")
    b.lab("1975-2", 0.6, "mg/dL")
    b.lab("2160-0", 0.9, "mg/dL")
    b.lab("29463-7", 60, "kg", days=3)
    b.observation(LOINC, "89247-1", ago(3), integer=1)
    b.observation(LOINC, "2106-3", ago(2), coded=NEGATIVE)
    for code in ("5196-1", "13952-7", "16128-1", "56888-1"):
        b.observation(LOINC, code, ago(20), coded=NEGATIVE)
    # conventional treatment: prednisone + hydroxychloroquine for two years; MMF stopped 10 days ago
    b.medication("312617", start_days=730)
    b.medication("979092", start_days=730)
    b.medication("200060", start_days=400, end_days=10)  # mycophenolate mofetil 500 MG Oral Tablet
    for code in CLINICIAN_YES:
        b.fact(code, True)
    for code in CLINICIAN_NO:
        b.fact(code, False)
    return b
