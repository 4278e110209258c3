"""Request examples shown at /docs (synthetic: no real patient)."""

from __future__ import annotations

from typing import Any

OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "hb-1",
    "meta": {"versionId": "1"},
    "status": "final",
    "category": [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "laboratory"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "718-7",
                         "display": "Hemoglobin [Mass/volume] in Blood"}]},
    "subject": {"reference": "Patient/example-1"},
    "effectiveDateTime": "2026-11-20T08:30:00Z",
    "valueQuantity": {"value": 12.9, "unit": "g/dL", "system": "http://unitsofmeasure.org",
                      "code": "g/dL"},
}

BUNDLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {"fullUrl": "urn:uuid:6f1c4a7e-0000-4000-8000-000000000001",
         "resource": {"resourceType": "Patient", "id": "example-1", "gender": "female",
                      "birthDate": "1990-04-02"},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:6f1c4a7e-0000-4000-8000-000000000002",
         "resource": {**OBSERVATION,
                      "subject": {"reference": "urn:uuid:6f1c4a7e-0000-4000-8000-000000000001"}},
         "request": {"method": "POST", "url": "Observation"}},
    ],
}

HL7V2_ORU = "\r".join([
    "MSH|^~\\&|LAB|HOSP|TRIALWATCH|HOSP|20261120083000+0000||ORU^R01|MSG0001|P|2.5.1",
    "PID|1||MRN-EXAMPLE-1^^^HOSP^MR||DOE^JANE||19900402|F",
    "OBR|1||ORD-1|24317-0^Hemogram and platelet count^LN|||20261120080000+0000",
    "OBX|1|NM|718-7^Hemoglobin^LN||12.9|g/dL|12.0-16.0|N|||F|||20261120080000+0000",
]) + "\r"
