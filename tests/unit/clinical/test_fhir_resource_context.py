"""Who and what a FHIR resource is about: resource-level elements that change whose value it is.

Found by the ``probe`` review (/work/notes/probe.md items 2, 3, 7, 8): each shape is built as a
real sender writes it and run through ``normalise_fhir`` (each entry's outcome and warnings)
and end to end through the engine against NCT06920433 with the eligible vignette
(``tests/fixtures/vignettes/eligible.json``, as of 2026-03-01T09:00:00Z; ``decide`` of
``tests/unit/test_real_feed_examples``). I6.1 is "platelets >= 20 x 10^9/L".
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.fhir import Outcome as EntryOutcome
from shared.clinical.fhir import normalise_fhir, parse_fhir
from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import (
    UCUM,
    Json,
    _add,
    _bundle,
    _observation,
    decide,
    outcome,
)

PLATELETS = "I6.1"
WHEN = "2026-02-28T09:00:00Z"
EARLIER = "2026-02-27T09:00:00Z"


def _count(value: int) -> Json:
    return {"value": value, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}


def _own_low_count() -> Json:
    """Her own platelet count of 8 x 10^9/L the day before: alone, I6.1 fails."""
    return _observation("plt-own", "777-3", EARLIER, valueQuantity=_count(8))


def _batch(*entries: Json) -> Json:
    return {"resourceType": "Bundle", "type": "batch", "entry": [copy.deepcopy(e) for e in entries]}


def _patient_entry() -> Json:
    return copy.deepcopy(_bundle()["entry"][0])


def _problems(call: Any) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        call()
    return [str(problem) for problem in refused.value.problems]


# --- 1. Observation.focus ---------------------------------------------------------------------
# FHIR R4 Observation.focus (0..*, Reference(Any)): "The actual focus of an observation when it
# is not the patient of record representing something or someone associated with the patient
# such as a spouse, parent, fetus, or donor. For example, fetus observations in a mother's
# record." A donor's or a fetus's platelet count is not hers: it must not decide her criteria.

def _donor_count(focus: list[Json] | None = None) -> Json:
    entry = _observation("plt-donor", "777-3", WHEN, valueQuantity=_count(180))
    entry["resource"]["focus"] = focus or [{"reference": "Patient/donor-7"}]
    return entry


def test_her_own_low_count_alone_makes_her_ineligible() -> None:
    decision = decide(_bundle(_add(_own_low_count())))
    assert outcome(decision, PLATELETS) == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


@pytest.mark.parametrize("focus", [
    [{"reference": "Patient/donor-7"}],
    [{"reference": "RelatedPerson/mother"}],
    [{"display": "fetus 1"}],  # a focus named only by display is still not the patient
    [{"reference": "Patient/vignette"}, {"reference": "Patient/donor-7"}],
])
def test_a_newer_donor_or_fetus_count_never_decides_her_platelets(focus: list[Json]) -> None:
    # before: the donor's 180 was read as hers and I6.1 passed: ELIGIBLE
    decision = decide(_bundle(_add(_own_low_count(), _donor_count(focus))))
    assert outcome(decision, PLATELETS) == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


def test_a_result_about_another_focus_is_accepted_without_a_fact_and_with_a_warning() -> None:
    result = normalise_fhir(_batch(_patient_entry(), _donor_count()), source_system="test-ehr")
    (update,) = result.updates
    assert update.facts == ()
    donor = result.entries[1]
    assert donor.outcome is EntryOutcome.ACCEPTED
    (warning,) = donor.warnings
    assert warning.path == "Bundle.entry[1].resource.focus"
    assert "Patient/donor-7" in warning.reason
    assert "Observation.focus" in warning.reason


def test_a_focus_naming_the_patient_of_record_is_her_own_result() -> None:
    for focus in ([{"reference": "Patient/vignette"}],
                  [{"reference": "urn:uuid:patient-vignette"}]):
        own = _observation("plt-focus-own", "777-3", WHEN, valueQuantity=_count(8))
        own["resource"]["focus"] = focus
        result = normalise_fhir(_batch(_patient_entry(), own), source_system="test-ehr")
        (update,) = result.updates
        (fact,) = update.facts
        assert fact.value_quantity is not None
        assert fact.value_quantity.value == 8
        assert result.entries[1].warnings == ()


def test_the_other_resources_read_have_no_focus_element() -> None:
    """FHIR R4 has ``focus`` on Observation only among the resources read (Condition,
    DiagnosticReport, Procedure, MedicationStatement/Request/Administration have none;
    DiagnosticReport.focus and Procedure.focus are R5): the validator refuses it there."""
    from fhir.resources.R4B import get_fhir_model_class

    for name in ("Condition", "DiagnosticReport", "Procedure", "MedicationStatement",
                 "MedicationRequest", "MedicationAdministration"):
        assert "focus" not in get_fhir_model_class(name).model_fields, name
    assert "focus" in get_fhir_model_class("Observation").model_fields
    condition = {"resourceType": "Condition", "id": "c1",
                 "subject": {"reference": "Patient/vignette"},
                 "code": {"coding": [{"system": "http://snomed.info/sct", "code": "84757009"}]},
                 "focus": [{"reference": "Patient/donor-7"}]}
    assert any("Condition.focus" in p for p in _problems(
        lambda: parse_fhir(condition, source_system="test-ehr")))

