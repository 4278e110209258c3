"""Code systems as real senders spell them, through the normaliser and the engine.

FHIR R4 terminologies-systems (https://hl7.org/fhir/R4/terminologies-systems.html): LOINC is
``http://loinc.org``, SNOMED CT ``http://snomed.info/sct``, RxNorm
``http://www.nlm.nih.gov/research/umls/rxnorm``, ICD-10-CM ``http://hl7.org/fhir/sid/icd-10-cm``,
UCUM ``http://unitsofmeasure.org``; "the URI SHALL be used" in ``Coding.system``, and a version
goes in ``Coding.version``, never in the system (FHIR R4 Coding.system: "the identification of
the code system"). Senders also write the OID (``urn:oid:2.16.840.1.113883.6.1``), a trailing
slash, ``https``, or ``http://loinc.org|2.77``. Before, such a coding was kept as a code of an
unknown system: a newer platelet count of 8 was not seen by I6.1, so the older count of 180
decided (pass); a heart-failure Condition or a rituximab infusion coded that way was not seen
by E4/E11, so the exclusion did not apply. Now each is refused at its ``coding[i].system``,
naming the URI to send.
"""

from __future__ import annotations

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.fhir import parse_fhir
from shared.eligibility.decision import Outcome
from tests.unit.test_real_feed_examples import (
    LOINC,
    SNOMED,
    UCUM,
    Json,
    _add,
    _bundle,
    _observation,
    decide,
    outcome,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
WHEN = "2026-02-28T09:00:00Z"
EIGHT = {"value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}


def _platelets(*codings: Json) -> Json:
    bundle = _bundle(_add(_observation("plt-new", "777-3", WHEN, valueQuantity=EIGHT)))
    bundle["entry"][-1]["resource"]["code"] = {"coding": list(codings)}
    return bundle


def _entry(resource: Json) -> Json:
    return {"fullUrl": f"urn:uuid:{resource['id']}",
            "resource": {**resource, "subject": {"reference": "Patient/vignette"}}}


def _heart_failure(system: str) -> Json:
    return _bundle(_add(_entry({
        "resourceType": "Condition", "id": "cond-new",
        "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "active"}]},
        "code": {"coding": [{"system": system, "code": "84114007"}]},
        "onsetDateTime": "2025-06-01T00:00:00Z",
    })))


def _rituximab(system: str) -> Json:
    return _bundle(_add(_entry({
        "resourceType": "MedicationAdministration", "id": "ma-new", "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": system, "code": "121191"}]},
        "effectiveDateTime": "2026-02-19T09:00:00Z",
    })))


def _problems(bundle: Json) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        decide(bundle)
    return [str(problem) for problem in refused.value.problems]


LOINC_SPELLINGS = [
    "urn:oid:2.16.840.1.113883.6.1",
    "http://loinc.org/",
    "https://loinc.org",
    "http://loinc.org|2.77",
    "http://LOINC.org",
    "http://www.loinc.org",
]


@pytest.mark.parametrize("system", LOINC_SPELLINGS)
def test_a_newer_platelet_count_coded_in_a_loinc_look_alike_is_refused_at_its_system(
    system: str,
) -> None:
    problems = _problems(_platelets({"system": system, "code": "777-3"}))
    assert problems[0].startswith("Bundle.entry[46].resource.code.coding[0].system: ")
    assert f"'{LOINC}'" in problems[0]


def test_the_older_count_never_decides_in_place_of_the_refused_one_as_before() -> None:
    # the count itself, coded in LOINC's own URI, fails I6.1 (the vignette's 180 would pass)
    assert outcome(decide(_platelets({"system": LOINC, "code": "777-3"})), "I6.1") == Outcome.FAIL


def test_a_loinc_oid_beside_the_loinc_uri_is_named_and_the_uri_decides() -> None:
    bundle = _platelets(
        {"system": "urn:oid:2.16.840.1.113883.6.1", "code": "777-3"},
        {"system": LOINC, "code": "777-3"},
    )
    assert outcome(decide(bundle), "I6.1") == Outcome.FAIL
    (fact,) = [f for u in parse_fhir(bundle, source_system="x") for f in u.facts
               if f.provenance.resource == "Observation/plt-new"]
    assert [note.path for note in fact.notes] == ["Bundle.entry[46].resource.code.coding[0].system"]


@pytest.mark.parametrize(
    "system", ["urn:oid:2.16.840.1.113883.6.96", "http://snomed.info/sct/", "https://snomed.info/sct"]
)
def test_a_heart_failure_coded_in_a_snomed_look_alike_is_refused_not_missed(system: str) -> None:
    problems = _problems(_heart_failure(system))
    assert problems[0].startswith("Bundle.entry[46].resource.code.coding[0].system: ")
    assert f"'{SNOMED}'" in problems[0]


@pytest.mark.parametrize("system", ["urn:oid:2.16.840.1.113883.6.88", f"{RXNORM}/"])
def test_rituximab_coded_in_an_rxnorm_look_alike_is_refused_not_missed(system: str) -> None:
    problems = _problems(_rituximab(system))
    assert problems[0].startswith(
        "Bundle.entry[46].resource.medicationCodeableConcept.coding[0].system: ")
    assert f"'{RXNORM}'" in problems[0]


def test_a_local_code_system_is_kept_as_sent() -> None:
    # an Epic local system (urn:oid:1.2.840.114350...) is no look-alike: kept, LOINC decides
    bundle = _platelets(
        {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.123", "code": "1234"},
        {"system": LOINC, "code": "777-3"},
    )
    assert outcome(decide(bundle), "I6.1") == Outcome.FAIL


# FHIR R4 Observation.status is bound (required) to observation-status: registered |
# preliminary | final | amended | corrected | cancelled | entered-in-error | unknown. Before,
# any other code ("pending", "Final", "F") was read as if final: a pending count decided I6.1.
@pytest.mark.parametrize("status", ["pending", "Final", "F", "complete"])
def test_an_observation_status_outside_observation_status_is_refused_at_its_path(
    status: str,
) -> None:
    bundle = _platelets({"system": LOINC, "code": "777-3"})
    bundle["entry"][-1]["resource"]["status"] = status
    problems = _problems(bundle)
    assert problems[0].startswith("Bundle.entry[46].resource.status: ")
