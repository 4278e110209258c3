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
    LOINC,
    UCUM,
    Json,
    _add,
    _bundle,
    _observation,
    _problems,
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



# --- 2. contained results ----------------------------------------------------------------------
# FHIR R4 References, contained resources: a reference '#o1' names the resource with id o1 in
# the container's ``contained``; contained resources "do not have an independent existence
# apart from the resource that contains them" (DomainResource.contained), carry no
# meta.versionId (dom-4) and must be referenced from the container (dom-3). Real senders put a
# report's results there (inferno-framework/inferno-core#217: a vendor's US Core
# DiagnosticReport with a contained Observation referenced from ``result``).

def _contained_count(value: int = 8, **extra: Any) -> Json:
    return {"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "777-3"}]},
            "subject": {"reference": "Patient/vignette"}, "effectiveDateTime": WHEN,
            "valueQuantity": _count(value), **extra}


def _report(*contained: Json, result: list[Json] | None = None, **extra: Any) -> Json:
    return {"fullUrl": "urn:uuid:dr1", "resource": {
        "resourceType": "DiagnosticReport", "id": "dr1", "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "58410-2"}]},
        "subject": {"reference": "Patient/vignette"}, "effectiveDateTime": WHEN,
        "contained": list(contained) or [_contained_count()],
        "result": result if result is not None else [{"reference": "#o1"}], **extra},
        "request": {"method": "PUT", "url": "DiagnosticReport/dr1"}}


def test_a_newer_count_contained_in_a_report_decides_her_platelets() -> None:
    # before: the contained 8 was dropped (zero facts, no warning) and the vignette's 180
    # decided: I6.1 PASS, ELIGIBLE
    decision = decide(_bundle(_add(_report())))
    assert outcome(decision, PLATELETS) == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


def test_a_contained_result_is_a_fact_of_the_report_keyed_by_the_report() -> None:
    result = normalise_fhir(_batch(_patient_entry(), _report()), source_system="test-ehr")
    (update,) = result.updates
    (fact,) = update.facts
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 8
    assert fact.codes[0].code == "777-3"
    assert fact.provenance.resource == "DiagnosticReport/dr1#o1"
    assert result.entries[1].outcome is EntryOutcome.ACCEPTED


def test_a_contained_result_without_a_subject_takes_the_reports() -> None:
    contained = _contained_count()
    del contained["subject"]
    decision = decide(_bundle(_add(_report(contained))))
    assert outcome(decision, PLATELETS) == Outcome.FAIL


def test_a_contained_result_about_another_patient_is_refused_at_its_subject() -> None:
    contained = _contained_count(subject={"reference": "Patient/other"})
    problems = _problems(lambda: parse_fhir(_batch(_patient_entry(), _report(contained)),
                                            source_system="test-ehr"))
    assert any(p.startswith("Bundle.entry[1].resource.contained[0].subject") for p in problems)


def test_a_result_reference_to_no_contained_resource_is_refused() -> None:
    problems = _problems(lambda: parse_fhir(
        _batch(_patient_entry(), _report(result=[{"reference": "#missing"}])),
        source_system="test-ehr"))
    assert any(p.startswith("Bundle.entry[1].resource.result[0].reference") for p in problems)


def test_a_contained_donor_result_is_not_hers_and_is_named() -> None:
    donor = _contained_count(180, focus=[{"reference": "Patient/donor-7"}])
    decision = decide(_bundle(_add(_own_low_count(), _report(donor))))
    assert outcome(decision, PLATELETS) == Outcome.FAIL
    result = normalise_fhir(_batch(_patient_entry(), _report(donor)), source_system="test-ehr")
    assert result.updates[0].facts == ()
    assert [w.path for w in result.entries[1].warnings] == [
        "Bundle.entry[1].resource.contained[0].focus"]


def test_a_report_withdrawn_withdraws_its_contained_results() -> None:
    # FHIR R4 DiagnosticReport.status entered-in-error: the report (and so what it contains,
    # which has no existence apart from it) was withdrawn
    decision = decide(_bundle(_add(_report(status="entered-in-error"))))
    assert outcome(decision, PLATELETS) == Outcome.PASS


def test_a_contained_observation_not_referenced_as_a_result_is_named_not_dropped() -> None:
    result = normalise_fhir(_batch(_patient_entry(), _report(result=[])),
                            source_system="test-ehr")
    assert result.updates[0].facts == ()
    (warning,) = result.entries[1].warnings
    assert warning.path == "Bundle.entry[1].resource.contained[0]"


def test_a_panel_observation_with_contained_members_reads_each_member() -> None:
    panel = _observation("cbc-panel", "58410-2", WHEN, hasMember=[{"reference": "#o1"}],
                         contained=[_contained_count()])
    decision = decide(_bundle(_add(panel)))
    assert outcome(decision, PLATELETS) == Outcome.FAIL


@pytest.mark.parametrize(("kind", "when"), [
    ("MedicationAdministration", {"status": "completed",
                                  "effectiveDateTime": "2026-02-20T09:00:00Z"}),
    ("MedicationRequest", {"status": "active", "intent": "order",
                           "authoredOn": "2026-02-20T09:00:00Z"}),
])
def test_a_contained_medication_is_read_for_the_washout(kind: str, when: Json) -> None:
    """Already read before this change (kept as a guard): rituximab (RxNorm 121191) in a
    contained Medication (medicationReference '#m1'), given or ordered 2026-02-20, is inside
    NCT06920433 E11's washout."""
    rituximab = {"fullUrl": "urn:uuid:m-use", "resource": {
        "resourceType": kind, "id": "m-use", **when,
        "subject": {"reference": "Patient/vignette"},
        "contained": [{"resourceType": "Medication", "id": "m1", "code": {"coding": [
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "121191"}]}}],
        "medicationReference": {"reference": "#m1"}},
        "request": {"method": "PUT", "url": f"{kind}/m-use"}}
    assert outcome(decide(_bundle(_add(rituximab))), "E11") == Outcome.FAIL


# --- 3. urn:uuid references --------------------------------------------------------------------
# FHIR R4 Bundle, "Resolving references in Bundles": a reference that is a URN (urn:uuid,
# urn:oid) is resolved by finding the entry whose fullUrl is that URN; it has no meaning
# outside the Bundle, so one that matches no entry cannot be resolved (a sender's typo or a
# mismatched fullUrl). Before, it became a new patient keyed by the uuid, holding the result.

UNRESOLVED = "urn:uuid:6f1c2e6a-0000-4000-8000-000000000001"


def _count_for(subject: str, resource_id: str = "plt-u") -> Json:
    entry = _observation(resource_id, "777-3", WHEN, valueQuantity=_count(8))
    entry["resource"]["subject"] = {"reference": subject}
    return entry


def test_an_unresolved_urn_uuid_subject_refuses_the_transaction_at_its_path() -> None:
    # before: accepted; a second PatientUpdate '6f1c2e6a-...' held the 8 and her record (the
    # vignette, I6.1 PASS on the 180) stayed ELIGIBLE with no word of it
    bundle = _bundle(_add(_count_for(UNRESOLVED)))
    index = len(bundle["entry"]) - 1
    problems = _problems(lambda: decide(bundle))
    assert any(p.startswith(f"Bundle.entry[{index}].resource.subject.reference")
               and "urn:uuid" in p and "fullUrl" in p for p in problems)


def test_an_unresolved_urn_uuid_subject_refuses_only_its_entry_of_a_batch() -> None:
    result = normalise_fhir(_batch(_patient_entry(), _count_for(UNRESOLVED)),
                            source_system="test-ehr")
    assert [e.outcome for e in result.entries] == [EntryOutcome.ACCEPTED, EntryOutcome.REFUSED]
    (problem,) = result.entries[1].problems
    assert problem.path == "Bundle.entry[1].resource.subject.reference"
    assert [u.source_patient_id for u in result.updates] == ["vignette"]  # no phantom patient


def test_an_urn_uuid_subject_outside_any_bundle_is_refused() -> None:
    single = _count_for(UNRESOLVED)["resource"]
    assert any(p.startswith("Observation.subject.reference") for p in _problems(
        lambda: parse_fhir(single, source_system="test-ehr")))


def test_an_urn_uuid_subject_naming_the_patient_entry_is_hers() -> None:
    decision = decide(_bundle(_add(_count_for("urn:uuid:patient-vignette"))))
    assert outcome(decision, PLATELETS) == Outcome.FAIL


# --- 4. modifier extensions and implicitRules --------------------------------------------------
# FHIR R4 Extensibility (2.4 "Modifier Extensions"): "Implementations processing the data in
# resources SHALL check for modifier extensions ... SHALL NOT process the element/resource if a
# modifier extension it does not understand is present"; Resource.implicitRules: "A reference to
# a set of rules that were followed when the resource was constructed, and which must be
# understood when processing the content". TrialWatch understands no modifier extension and no
# implicit rules: the resource is refused at the element's path (a transaction whole, a batch
# entry alone), never read as if the modifier were not there.

UNCERTAIN = {  # ehrbase/fhir-bridge#288: GECCO Condition "uncertainty of presence"
    "url": "https://www.netzwerk-universitaetsmedizin.de/fhir/StructureDefinition/"
           "uncertainty-of-presence",
    "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct",
                                         "code": "261665006"}]}}
FOCAL_SUBJECT = {  # FHIR STU3 observation-focal-subject, a donor's result in her record
    "url": "http://hl7.org/fhir/StructureDefinition/observation-focal-subject",
    "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct",
                                         "code": "105455006"}]}}


def _epilepsy(**extra: Any) -> Json:
    return {"fullUrl": "urn:uuid:c1", "resource": {
        "resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/vignette"},
        "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "84757009"}]},
        **extra}, "request": {"method": "PUT", "url": "Condition/c1"}}


def test_a_donor_count_marked_by_a_modifier_extension_is_refused_not_read_as_hers() -> None:
    # before: the 180 was read as hers (modifier ignored): I6.1 PASS, ELIGIBLE
    donor = _observation("plt-mod", "777-3", WHEN, valueQuantity=_count(180),
                         modifierExtension=[FOCAL_SUBJECT])
    bundle = _bundle(_add(_own_low_count(), donor))
    index = len(bundle["entry"]) - 1
    problems = _problems(lambda: decide(bundle))
    assert any(p.startswith(f"Bundle.entry[{index}].resource.modifierExtension")
               and "observation-focal-subject" in p for p in problems)


def test_an_uncertain_condition_is_refused_not_read_as_active_epilepsy() -> None:
    # before: read as active epilepsy, E3 FAIL, the entry accepted with no warning
    result = normalise_fhir(_batch(_patient_entry(), _epilepsy(modifierExtension=[UNCERTAIN])),
                            source_system="test-ehr")
    assert [e.outcome for e in result.entries] == [EntryOutcome.ACCEPTED, EntryOutcome.REFUSED]
    (problem,) = result.entries[1].problems
    assert problem.path == "Bundle.entry[1].resource.modifierExtension"
    assert "uncertainty-of-presence" in problem.reason
    assert result.updates[0].facts == ()


def test_an_ordinary_extension_is_no_modifier() -> None:
    result = normalise_fhir(_batch(_patient_entry(), _epilepsy(extension=[UNCERTAIN])),
                            source_system="test-ehr")
    assert result.entries[1].outcome is EntryOutcome.ACCEPTED
    assert len(result.updates[0].facts) == 1


MODIFIED = {"url": "http://example.org/fhir/StructureDefinition/not-applicable",
            "valueBoolean": True}


def _with_component_modifier() -> Json:
    entry = _observation("cbc-m", "58410-2", WHEN, component=[{
        "code": {"coding": [{"system": LOINC, "code": "777-3"}]}, "valueQuantity": _count(180),
        "modifierExtension": [MODIFIED]}])
    return entry


def _with_range_modifier() -> Json:
    return _observation("alt-m", "1742-6", WHEN, valueQuantity={
        "value": 30, "unit": "U/L", "system": UCUM, "code": "U/L"}, referenceRange=[{
            "high": {"value": 35, "unit": "U/L", "system": UCUM, "code": "U/L"},
            "modifierExtension": [MODIFIED]}])


def _with_dosage_modifier() -> Json:
    return {"fullUrl": "urn:uuid:ms1", "resource": {
        "resourceType": "MedicationStatement", "id": "ms1", "status": "active",
        "subject": {"reference": "Patient/vignette"},
        "medicationCodeableConcept": {"coding": [{
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "5521"}]},
        "effectiveDateTime": "2026-01-01",
        "dosage": [{"text": "200 mg twice a day", "modifierExtension": [MODIFIED]}]},
        "request": {"method": "PUT", "url": "MedicationStatement/ms1"}}


def _with_contained_modifier() -> Json:
    return _report(_contained_count(modifierExtension=[MODIFIED]))


def _with_implicit_rules() -> Json:
    entry = _observation("plt-ir", "777-3", WHEN, valueQuantity=_count(180))
    entry["resource"]["implicitRules"] = "http://example.org/fhir/rules/local-lab"
    return entry


def _with_contained_implicit_rules() -> Json:
    entry = _report(_contained_count())
    entry["resource"]["contained"][0]["implicitRules"] = "http://example.org/fhir/rules/x"
    return entry


def _patient_with_modifier() -> Json:
    entry = _patient_entry()
    entry["resource"]["modifierExtension"] = [MODIFIED]
    return entry


@pytest.mark.parametrize(("build", "where"), [
    (_with_component_modifier, "component[0].modifierExtension"),
    (_with_range_modifier, "referenceRange[0].modifierExtension"),
    (_with_dosage_modifier, "dosage[0].modifierExtension"),
    (_with_contained_modifier, "contained[0].modifierExtension"),
    (_with_implicit_rules, "implicitRules"),
    (_with_contained_implicit_rules, "contained[0].implicitRules"),
])
def test_a_modifier_on_any_element_of_a_resource_read_refuses_it_at_that_path(
    build: Any, where: str,
) -> None:
    result = normalise_fhir(_batch(_patient_entry(), build()), source_system="test-ehr")
    assert result.entries[1].outcome is EntryOutcome.REFUSED
    assert [p.path for p in result.entries[1].problems] == [f"Bundle.entry[1].resource.{where}"]


def test_a_patient_with_a_modifier_extension_is_refused_with_its_results() -> None:
    with pytest.raises(InvalidInput) as refused:
        normalise_fhir(_batch(_patient_with_modifier(), _own_low_count()),
                       source_system="test-ehr")
    paths = [p.path for p in refused.value.problems]
    assert "Bundle.entry[0].resource.modifierExtension" in paths


def test_implicit_rules_on_the_bundle_or_a_modifier_on_an_entry_are_refused() -> None:
    bundle = _batch(_patient_entry(), _own_low_count())
    bundle["implicitRules"] = "http://example.org/fhir/rules/x"
    assert "Bundle.implicitRules" in [p.split(":")[0] for p in _problems(
        lambda: normalise_fhir(bundle, source_system="test-ehr"))]
    bundle = _batch(_patient_entry(), _own_low_count())
    bundle["entry"][1]["request"]["modifierExtension"] = [MODIFIED]
    result = normalise_fhir(bundle, source_system="test-ehr")
    assert [p.path for p in result.entries[1].problems] == [
        "Bundle.entry[1].request.modifierExtension"]


@pytest.mark.parametrize("encode", [
    lambda text: text.replace("modifierExtension", "modifier\\u0045xtension").encode(),
    lambda text: text.encode("utf-16"),
    lambda text: text.encode("utf-32-le"),
    lambda text: text,
])
def test_a_modifier_is_found_in_json_text_however_the_key_is_encoded(encode: Any) -> None:
    """JSON text is not walked when no modifier can be in it (``fhir_modifiers.may_hold``):
    a key spelt with a \\u escape (RFC 8259 section 7) or text in UTF-16/32 is still walked."""
    import json

    text = json.dumps(_batch(_patient_entry(), _epilepsy(modifierExtension=[UNCERTAIN])))
    result = normalise_fhir(encode(text), source_system="test-ehr")
    assert [p.path for p in result.entries[1].problems] == [
        "Bundle.entry[1].resource.modifierExtension"]
