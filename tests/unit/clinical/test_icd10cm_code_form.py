"""ICD-10-CM codes in FHIR are written with their dot; one without it is refused, not missed.

FHIR R4 terminologies (http://hl7.org/fhir/sid/icd-10-cm) and the CMS ICD-10-CM tabular list
write a code as a letter, a digit, a digit or letter, then optionally ``.`` and 1-4 more
characters (``N18.6``, ``E80.4``, ``C4A.0``, ``S72.001A``). Before, ``N186`` in that system
matched no concept (the trial tables carry ``N18.6``): an active end-stage renal disease
Condition did not meet NCT06920433 E7 and the patient stayed eligible. Now such a coding is
refused at its ``coding[i].code``, naming the expected form; nothing is normalised silently.
"""

from __future__ import annotations

import pytest

from shared.clinical.errors import InvalidInput
from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import Json, _add, _bundle, decide, outcome

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def _esrd(code: str) -> Json:
    return _bundle(_add({
        "fullUrl": "urn:uuid:cond-new",
        "resource": {
            "resourceType": "Condition", "id": "cond-new",
            "subject": {"reference": "Patient/vignette"},
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]},
            "verificationStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "code": "confirmed"}]},
            "code": {"coding": [{"system": ICD10CM, "code": code,
                                 "display": "End stage renal disease"}]},
            "onsetDateTime": "2025-06-01T00:00:00Z",
        },
    }))


def test_n18_6_with_its_dot_fails_e7() -> None:
    decision = decide(_esrd("N18.6"))
    assert outcome(decision, "E7") == Outcome.FAIL
    assert decision.status is not Status.ELIGIBLE


@pytest.mark.parametrize("code", ["N186", "n18.6", "N18.", "N18.60000", "N 18.6", "186"])
def test_an_icd10cm_code_not_in_its_written_form_is_refused_at_its_code(code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        decide(_esrd(code))
    problems = [str(problem) for problem in refused.value.problems]
    assert problems[0].startswith("Bundle.entry[46].resource.code.coding[0].code: "), problems
    assert repr(code) in problems[0]
    assert "N18.6" in problems[0]  # names the expected form


@pytest.mark.parametrize("code", ["N18", "Z99.2", "C4A.0", "S72.001A"])
def test_icd10cm_codes_in_their_written_form_are_read(code: str) -> None:
    decide(_esrd(code))  # no refusal
