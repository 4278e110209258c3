from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.facts import ClinicalFact, FactKind, PatientUpdate, Sex
from shared.clinical.fhir import normalise_fhir, parse_fhir
from tests.unit.clinical.conftest import load_fhir_fixture

RECEIVED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def _bundle() -> dict[str, Any]:
    return load_fhir_fixture("lupus_bundle.json")


def _update(payload: Any = None) -> PatientUpdate:
    updates = parse_fhir(payload or _bundle(), source_system="ehr-a", received_at=RECEIVED)
    assert len(updates) == 1
    return updates[0]


def _fact(update: PatientUpdate, resource: str) -> ClinicalFact:
    return next(fact for fact in update.facts if fact.provenance.resource == resource)


def _entry(bundle: dict[str, Any], resource_id: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == resource_id)


def _problems(payload: Any) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_fhir(payload, source_system="ehr-a")
    return [str(problem) for problem in caught.value.problems]


def test_a_bundle_becomes_one_update_per_patient_keyed_by_the_mr_identifier() -> None:
    update = _update()
    assert update.source_system == "ehr-a"
    assert update.source_patient_id == "MRN-0042"
    assert update.demographics is not None
    assert update.demographics.birth_date == date(1990, 4, 12)
    assert update.demographics.sex is Sex.FEMALE
    assert update.demographics.deceased is False


def test_the_payload_may_be_bytes_text_or_a_mapping() -> None:
    text = json.dumps(_bundle())
    assert _update(text) == _update(text.encode()) == _update(_bundle())


def test_references_by_urn_uuid_and_by_patient_id_reach_the_same_patient() -> None:
    update = _update()
    assert {fact.provenance.resource for fact in update.facts} >= {
        "Observation/creat-1",
        "Observation/hgb-1",
    }


def test_creatinine_in_umol_per_litre_is_converted_to_mg_per_dl_with_its_range() -> None:
    fact = _fact(_update(), "Observation/creat-1")
    assert fact.kind is FactKind.OBSERVATION
    assert fact.value_quantity is not None
    assert fact.value_quantity.unit == "mg/dL"
    assert fact.value_quantity.value == pytest.approx(1.0, rel=1e-4)
    assert fact.reference_range is not None
    assert fact.reference_range.high is not None
    assert fact.reference_range.high.value == pytest.approx(90 / 88.4, rel=1e-4)
    assert fact.interpretation == "N"
    assert fact.status == "final"
    assert fact.effective_start == datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
    assert fact.provenance.version == "2"
    assert fact.provenance.received_at == RECEIVED


def test_hemoglobin_in_g_per_dl_becomes_g_per_litre_with_its_period() -> None:
    fact = _fact(_update(), "Observation/hgb-1")
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (pytest.approx(112.0), "g/L")
    assert fact.effective_end == datetime(2026, 11, 20, 9, tzinfo=UTC)


def test_an_ana_titer_string_becomes_a_titer_quantity() -> None:
    fact = _fact(_update(), "Observation/ana-1")
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (160.0, "{titer}")
    assert fact.effective_start == datetime(2026, 11, 19, 10, 15, 0, 123000, tzinfo=UTC)


def test_a_qualitative_word_becomes_a_snomed_code_and_a_date_means_midnight_utc() -> None:
    fact = _fact(_update(), "Observation/dsdna-1")
    assert fact.value_code is not None
    assert (fact.value_code.system, fact.value_code.code) == ("http://snomed.info/sct", "10828004")
    assert fact.effective_start == datetime(2026, 11, 19, tzinfo=UTC)


def test_other_free_text_is_kept_unread_never_copied() -> None:
    update = _update()
    fact = _fact(update, "Observation/note-1")
    assert (fact.value_quantity, fact.value_code, fact.value_boolean) == (None, None, None)
    assert fact.unread is not None
    assert fact.unread.path == "Bundle.entry[5].resource.valueString"
    assert "Jane" not in update.model_dump_json()


def test_coded_boolean_and_integer_values_are_kept() -> None:
    update = _update()
    hcg = _fact(update, "Observation/hcg-1")
    assert hcg.value_code is not None
    assert hcg.value_code.code == "260385009"
    assert _fact(update, "Observation/smoker-1").value_boolean is True
    ecog = _fact(update, "Observation/ecog-1").value_quantity
    assert ecog is not None
    assert (ecog.value, ecog.unit) == (1.0, "1")


def test_components_are_facts_of_their_own_sharing_the_parent_time_and_status() -> None:
    fact = _fact(_update(), "Observation/bp-1")
    assert [c.codes[0].code for c in fact.components] == ["8480-6", "8462-4"]
    systolic = fact.components[0]
    assert systolic.value_quantity is not None
    assert (systolic.value_quantity.value, systolic.value_quantity.unit) == (128.0, "mm[Hg]")
    assert systolic.effective_start == fact.effective_start
    assert systolic.status == "final"
    assert len({fact.fact_id, *(c.fact_id for c in fact.components)}) == 3


def test_upcr_in_mg_per_mmol_is_converted_to_g_per_g() -> None:
    quantity = _fact(_update(), "Observation/upcr-1").value_quantity
    assert quantity is not None
    assert quantity.unit == "g/g"
    assert quantity.value == pytest.approx(150 * 0.00884, rel=1e-3)


def test_a_confirmed_active_condition_keeps_its_codes_and_onset() -> None:
    fact = _fact(_update(), "Condition/sle-1")
    assert fact.kind is FactKind.CONDITION
    assert fact.status == "active"
    assert {(c.system, c.code) for c in fact.codes} == {
        ("http://hl7.org/fhir/sid/icd-10-cm", "M32.14"),
        ("http://snomed.info/sct", "68815009"),
    }
    assert fact.effective_start == datetime(2024, 3, 1, tzinfo=UTC)


def test_a_refuted_condition_is_never_recorded_as_active() -> None:
    fact = _fact(_update(), "Condition/hep-b-1")
    assert fact.status == "refuted"
    assert fact.effective_end == datetime(2025, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize("verification", ["entered-in-error", "unconfirmed", "provisional"])
def test_an_unconfirmed_or_erroneous_condition_carries_its_verification_status(
    verification: str,
) -> None:
    bundle = _bundle()
    condition = _entry(bundle, "sle-1")
    condition["verificationStatus"]["coding"][0]["code"] = verification
    if verification == "entered-in-error":
        # FHIR R4 con-5: clinicalStatus SHALL NOT be present if verificationStatus is
        # entered-in-error (both sent: refused, test_fhir_fidelity)
        del condition["clinicalStatus"]
    assert _fact(_update(bundle), "Condition/sle-1").status == verification


def test_medications_come_from_a_referenced_a_contained_or_an_inline_code() -> None:
    update = _update()
    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    expected = {
        "MedicationStatement/ms-hcq": ("5521", datetime(2025, 2, 1, tzinfo=UTC)),
        "MedicationRequest/mr-mmf": ("68149", datetime(2025, 3, 1, 14, tzinfo=UTC)),
        "MedicationAdministration/ma-rtx": ("121191", datetime(2026, 6, 1, 8, tzinfo=UTC)),
    }
    for resource, (code, start) in expected.items():
        fact = _fact(update, resource)
        assert fact.kind is FactKind.MEDICATION
        assert (fact.codes[0].system, fact.codes[0].code) == (rxnorm, code)
        assert fact.effective_start == start


def test_procedures_and_report_conclusions_become_facts() -> None:
    update = _update()
    procedure = _fact(update, "Procedure/biopsy-1")
    assert procedure.kind is FactKind.PROCEDURE
    assert procedure.effective_end == datetime(2026, 10, 1, 9, tzinfo=UTC)
    report = _fact(update, "DiagnosticReport/biopsy-report-1")
    assert report.kind is FactKind.OBSERVATION
    assert report.value_code is not None
    assert report.value_code.code == "36402006"


def test_resource_types_without_patient_facts_are_skipped_and_counted() -> None:
    result = normalise_fhir(_bundle(), source_system="ehr-a")
    assert result.skipped == {"Encounter": 1}


def test_a_single_resource_outside_a_bundle_is_accepted() -> None:
    observation = _entry(_bundle(), "hgb-1")
    (update,) = parse_fhir(observation, source_system="ehr-a")
    assert update.source_patient_id == "pat-1"
    assert update.demographics is None
    assert len(update.facts) == 1


def test_resending_a_resource_keeps_its_fact_id_whatever_the_version() -> None:
    first = _fact(_update(), "Observation/creat-1")
    bundle = _bundle()
    resent = _entry(bundle, "creat-1")
    resent["meta"]["versionId"] = "3"
    resent["valueQuantity"]["value"] = 100
    again = _fact(_update(bundle), "Observation/creat-1")
    assert again.fact_id == first.fact_id
    assert again.value_quantity != first.value_quantity
    other_source = parse_fhir(_bundle(), source_system="ehr-b")[0]
    assert _fact(other_source, "Observation/creat-1").fact_id != first.fact_id


def test_two_patients_in_one_bundle_give_two_updates() -> None:
    bundle = _bundle()
    second = copy.deepcopy(_entry(bundle, "hgb-1"))
    second["id"] = "hgb-other"
    second["subject"] = {"reference": "Patient/someone-else"}
    bundle["entry"].append({"resource": second})
    updates = parse_fhir(bundle, source_system="ehr-a")
    assert [u.source_patient_id for u in updates] == ["MRN-0042", "someone-else"]
    assert len(updates[1].facts) == 1


def test_malformed_json_is_refused() -> None:
    assert _problems(b'{"resourceType": "Bundle", ') == [
        next(p for p in _problems(b'{"resourceType": "Bundle", ') if p.startswith("$"))
    ]
    assert "malformed JSON" in _problems("{not json")[0]


def test_a_resource_type_that_carries_no_patient_facts_is_refused_alone() -> None:
    assert _problems({"resourceType": "Encounter", "status": "finished"})[0].startswith(
        "resourceType:"
    )


def test_an_unknown_resource_type_in_a_bundle_is_refused_with_its_path() -> None:
    bundle = _bundle()
    bundle["entry"].append({"resource": {"resourceType": "Spaceship"}})
    problems = _problems(bundle)
    assert problems == [
        f"Bundle.entry[{len(bundle['entry']) - 1}].resource.resourceType: "
        "not a FHIR R4 resource type: 'Spaceship'"
    ]


def test_an_unsupported_bundle_type_is_refused() -> None:
    bundle = _bundle()
    bundle["type"] = "history"
    assert _problems(bundle)[0].startswith("Bundle.type:")


def test_a_resource_failing_r4b_validation_is_refused_with_the_element_path() -> None:
    bundle = _bundle()
    _entry(bundle, "hgb-1")["status"] = 42
    problems = _problems(bundle)
    assert any(p.startswith("Bundle.entry[2].resource.status") for p in problems), problems


def test_a_time_without_offset_is_refused_never_guessed() -> None:
    bundle = _bundle()
    _entry(bundle, "hgb-1")["effectivePeriod"]["end"] = "2026-11-20T09:00:00"
    problems = _problems(bundle)
    assert len(problems) == 1
    assert problems[0].startswith("Bundle.entry[2].resource.effectivePeriod.end:")
    assert "dateTime" in problems[0]
    assert "time zone SHALL be populated" in problems[0]


def test_hemoglobin_in_g_per_ml_is_refused_and_every_problem_is_named() -> None:
    bundle = _bundle()
    _entry(bundle, "hgb-1")["valueQuantity"].update(unit="g/mL", code="g/mL")
    _entry(bundle, "creat-1")["effectiveDateTime"] = "2026-11-20T08:30"
    problems = _problems(bundle)
    assert len(problems) == 2
    assert any(
        p.startswith("Bundle.entry[2].resource.valueQuantity.code:")
        and "'g/mL' is implausible for hemoglobin" in p
        for p in problems
    ), problems


def test_a_fact_without_a_patient_reference_is_refused() -> None:
    bundle = _bundle()
    del _entry(bundle, "hgb-1")["subject"]
    assert _problems(bundle) == [
        "Bundle.entry[2].resource.subject.reference: no patient reference: the fact cannot be"
        " attributed"
    ]


def test_an_unresolvable_medication_reference_is_refused() -> None:
    bundle = _bundle()
    _entry(bundle, "ms-hcq")["medicationReference"]["reference"] = "Medication/missing"
    assert _problems(bundle)[0].startswith("Bundle.entry[14].resource.medicationReference:")


def test_an_unknown_analyte_keeps_a_readable_unit_as_given_and_an_unreadable_one_unread() -> None:
    bundle = _bundle()
    glucose = copy.deepcopy(_entry(bundle, "hgb-1"))
    glucose.update(id="glu-1", code={"coding": [{"system": "http://loinc.org", "code": "2345-7"}]})
    glucose["valueQuantity"] = {"value": 5.5, "unit": "mmol/L"}
    odd = copy.deepcopy(glucose)
    odd.update(id="odd-1")
    odd["valueQuantity"] = {"value": 3, "unit": "(score)"}
    bundle["entry"] += [{"resource": glucose}, {"resource": odd}]
    update = _update(bundle)
    kept = _fact(update, "Observation/glu-1").value_quantity
    assert kept is not None
    assert (kept.value, kept.unit) == (5.5, "mmol/L")
    odd_fact = _fact(update, "Observation/odd-1")
    assert odd_fact.value_quantity is None
    assert odd_fact.unread is not None


def test_a_comparator_is_kept_with_the_value() -> None:
    bundle = _bundle()
    _entry(bundle, "creat-1")["valueQuantity"]["comparator"] = "<"
    quantity = _fact(_update(bundle), "Observation/creat-1").value_quantity
    assert quantity is not None
    assert quantity.comparator == "<"


def test_a_comparator_other_than_a_bound_is_refused_never_read_as_the_number() -> None:
    bundle = _bundle()
    _entry(bundle, "creat-1")["valueQuantity"]["comparator"] = "ad"
    problems = _problems(bundle)
    assert any(p.endswith("valueQuantity.comparator: not one of <, <=, >=, >") for p in problems), (
        problems
    )


def test_a_titer_sent_as_a_ratio_becomes_a_titer_quantity() -> None:
    bundle = _bundle()
    ana = _entry(bundle, "ana-1")
    del ana["valueString"]
    ana["valueRatio"] = {"numerator": {"value": 1}, "denominator": {"value": 640}}
    quantity = _fact(_update(bundle), "Observation/ana-1").value_quantity
    assert quantity is not None
    assert (quantity.value, quantity.unit) == (640.0, "{titer}")


def test_a_titer_for_an_analyte_measured_in_mass_units_is_refused() -> None:
    bundle = _bundle()
    hgb = _entry(bundle, "hgb-1")
    del hgb["valueQuantity"]
    hgb["valueString"] = "1:160"
    problems = _problems(bundle)
    assert problems[0].startswith("Bundle.entry[2].resource.valueString:")


def test_a_reference_range_without_units_is_read_in_the_unit_the_result_was_sent_in() -> None:
    bundle = _bundle()
    creatinine = _entry(bundle, "creat-1")
    creatinine["referenceRange"] = [{"high": {"value": 90}}]
    fact = _fact(_update(bundle), "Observation/creat-1")
    assert fact.reference_range is not None
    assert fact.reference_range.high is not None
    assert fact.reference_range.high.value == pytest.approx(90 / 88.4, rel=1e-4)


# FHIR R4 JSON (https://hl7.org/fhir/R4/json.html, primitive types): a boolean is the JSON
# literal true or false. The model validator accepts "false", "no", "0" and 0 as False in lax
# mode, but the normaliser read the raw value with bool(): "false" made a patient deceased and
# a negative boolean result positive (issue 14 probe).
NOT_JSON_BOOLEANS = ["false", "no", "0", "true", 0, 1]


def _observation(**value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": "b-1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
            "subject": {"reference": "Patient/p-1"},
            "effectiveDateTime": "2026-11-20T08:30:00Z", **value}


@pytest.mark.parametrize("sent", NOT_JSON_BOOLEANS)
def test_a_deceased_boolean_that_is_not_json_true_or_false_is_refused_at_its_path(
        sent: object) -> None:
    patient = {"resourceType": "Patient", "id": "p-1", "gender": "female",
               "birthDate": "1970-01-01", "deceasedBoolean": sent}
    problems = _problems(patient)
    assert any(p.startswith("Patient.deceasedBoolean: ") and "JSON true or false" in p
               for p in problems), problems


@pytest.mark.parametrize("sent", NOT_JSON_BOOLEANS)
def test_a_boolean_result_that_is_not_json_true_or_false_is_refused_at_its_path(
        sent: object) -> None:
    problems = _problems(_observation(valueBoolean=sent))
    assert any(p.startswith("Observation.valueBoolean: ") and "JSON true or false" in p
               for p in problems), problems


@pytest.mark.parametrize("sent", [True, False])
def test_json_booleans_are_read_as_sent(sent: bool) -> None:
    [update] = parse_fhir(_observation(valueBoolean=sent), source_system="ehr-a")
    assert update.facts[0].value_boolean is sent
    patient = {"resourceType": "Patient", "id": "p-1", "gender": "female",
               "birthDate": "1970-01-01", "deceasedBoolean": sent}
    [update] = parse_fhir(patient, source_system="ehr-a")
    assert update.demographics.deceased is sent


@pytest.mark.parametrize("sent", [0, 19700101, 1e-320, True, [], {}])
def test_a_birth_date_that_is_not_a_string_is_refused_at_its_path(sent: object) -> None:
    patient = {"resourceType": "Patient", "id": "p-1", "gender": "female", "birthDate": sent}
    problems = _problems(json.loads(json.dumps(patient)))
    assert any(p.startswith("Patient.birthDate: ") for p in problems), problems


def test_a_bundle_of_more_entries_than_intake_reads_is_refused_before_any_entry_is_read() -> None:
    """The probe's 800 KB Bundle of 200,000 empty entries held intake for 36 s of CPU; it is
    refused at Bundle.entry with its count and the limit, as sent (raw JSON text)."""
    from shared.clinical.fhir import MAX_BUNDLE_ENTRIES

    entries = ",".join(["{}"] * (MAX_BUNDLE_ENTRIES + 1))
    text = f'{{"resourceType": "Bundle", "type": "collection", "entry": [{entries}]}}'
    [problem] = _problems(text)
    assert problem.startswith("Bundle.entry")
    assert f"{MAX_BUNDLE_ENTRIES + 1:,} entries" in problem
    assert f"at most {MAX_BUNDLE_ENTRIES:,}" in problem


def test_a_bundle_with_the_most_entries_allowed_is_read_entry_by_entry() -> None:
    bundle = _bundle()
    patient = bundle["entry"][0]
    bundle["entry"] = [patient] * 954  # the largest Synthea history seen: 954 entries
    assert _update(bundle).demographics is not None


def test_a_bundle_without_a_type_says_so_rather_than_printing_none() -> None:
    """FHIR R4 Bundle.type is 1..1; a fresh user saw 'unsupported bundle type None'."""
    bundle = _bundle()
    del bundle["type"]
    [problem] = _problems(bundle)
    assert "no Bundle.type sent" in problem
    assert "None" not in problem
