"""Every element of a FHIR R4 result is read exactly, refused with its path, or kept unread.

Inputs are shaped as real senders shape them: several codings per CodeableConcept (FHIR R4
datatypes: all codings of a CodeableConcept stand for the same concept), LOINC answer codes,
censored values as strings, ranges, results dated only by ``issued``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.facts import ClinicalFact
from shared.clinical.fhir import parse_fhir

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
PLATELETS, HCG, ECOG, ANA, GLUCOSE = "777-3", "2106-3", "89247-1", "5048-4", "2345-7"


def _observation(code: str, **value: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Observation",
        "id": "obs-1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": "Patient/p-1"},
        "effectiveDateTime": "2026-02-28T08:00:00Z",
    }
    resource.update(value)
    return resource


def _read(resource: dict[str, Any]) -> ClinicalFact:
    (update,) = parse_fhir(resource, source_system="lab-a")
    (fact,) = update.facts
    return fact


def _refused(resource: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_fhir(resource, source_system="lab-a")
    return [str(problem) for problem in caught.value.problems]


# --- kind 1: coded values -------------------------------------------------------------


def test_a_loinc_answer_code_listed_before_its_snomed_twin_reads_as_positive() -> None:
    concept = {
        "coding": [
            {"system": LOINC, "code": "LA6576-8", "display": "Positive"},
            {"system": SNOMED, "code": "10828004", "display": "Positive"},
        ]
    }
    fact = _read(_observation(HCG, valueCodeableConcept=concept))
    assert fact.value_code is not None
    assert (fact.value_code.system, fact.value_code.code) == (SNOMED, "10828004")
    assert fact.unread is None
    assert fact.received is not None
    assert fact.received.value == f"{LOINC}|LA6576-8"


@pytest.mark.parametrize(
    ("answer", "snomed"),
    [
        ("LA6576-8", "10828004"),
        ("LA6577-6", "260385009"),
        ("LA11882-0", "260373001"),
        ("LA11883-8", "260415000"),
    ],
)
def test_loinc_answer_codes_alone_read_as_their_snomed_qualifier(answer: str, snomed: str) -> None:
    fact = _read(
        _observation(HCG, valueCodeableConcept={"coding": [{"system": LOINC, "code": answer}]})
    )
    assert fact.value_code is not None
    assert fact.value_code.code == snomed


def test_a_known_coding_decides_even_after_a_local_code_the_product_does_not_know() -> None:
    concept = {
        "coding": [
            {"system": "urn:oid:1.2.3.4", "code": "POS"},
            {"system": LOINC, "code": "LA6576-8"},
        ]
    }
    fact = _read(_observation(HCG, valueCodeableConcept=concept))
    assert fact.value_code is not None
    assert fact.value_code.code == "10828004"


def test_codings_that_mean_different_results_leave_the_result_unread() -> None:
    concept = {
        "coding": [{"system": LOINC, "code": "LA6576-8"}, {"system": SNOMED, "code": "260385009"}]
    }
    fact = _read(_observation(HCG, valueCodeableConcept=concept))
    assert fact.value_code is None
    assert fact.unread is not None
    assert fact.unread.path == "Observation.valueCodeableConcept"
    assert "different results" in fact.unread.reason


@pytest.mark.parametrize(("answer", "score"), [("LA9622-7", 0), ("LA9623-5", 1), ("LA9627-6", 5)])
def test_ecog_answer_codes_read_as_the_score(answer: str, score: int) -> None:
    fact = _read(
        _observation(ECOG, valueCodeableConcept={"coding": [{"system": LOINC, "code": answer}]})
    )
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (score, "1")


def test_a_concept_sent_as_text_alone_goes_through_the_result_vocabulary() -> None:
    fact = _read(_observation(HCG, valueCodeableConcept={"text": "POSITIVE"}))
    assert fact.value_code is not None
    assert fact.value_code.code == "10828004"


def test_a_concept_sent_as_unknown_text_alone_is_kept_unread_and_not_copied() -> None:
    fact = _read(_observation(HCG, valueCodeableConcept={"text": "see Dr Roe's note"}))
    assert fact.value_code is None
    assert fact.unread is not None
    assert fact.unread.path == "Observation.valueCodeableConcept.text"
    assert "Roe" not in fact.model_dump_json()


def test_an_unknown_code_is_kept_as_sent_with_a_note() -> None:
    concept = {"coding": [{"system": SNOMED, "code": "82334004", "display": "Indeterminate"}]}
    fact = _read(_observation(HCG, valueCodeableConcept=concept))
    assert fact.value_code is not None
    assert fact.value_code.code == "82334004"
    assert [note.path for note in fact.notes] == ["Observation.valueCodeableConcept"]


def test_a_coding_without_a_system_is_named_not_silently_dropped() -> None:
    concept = {"coding": [{"code": "POS"}, {"system": LOINC, "code": "LA6576-8"}]}
    fact = _read(_observation(HCG, valueCodeableConcept=concept))
    assert fact.value_code is not None
    assert fact.value_code.code == "10828004"
    assert [n.path for n in fact.notes] == ["Observation.valueCodeableConcept.coding[0]"]


def test_the_catalogued_loinc_coding_decides_the_unit_wherever_it_is_in_the_list() -> None:
    resource = _observation(
        PLATELETS, valueQuantity={"value": 150, "unit": "K/uL", "system": UCUM, "code": "10*3/uL"}
    )
    resource["code"]["coding"].insert(0, {"system": LOINC, "code": "99999-9"})
    quantity = _read(resource).value_quantity
    assert quantity is not None
    assert (quantity.value, quantity.unit) == (150, "10*9/L")


# --- kind 2: censored and ranged values -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "comparator", "value"),
    [("<10", "<", 10.0), ("<=5", "<=", 5.0), ("> 400", ">", 0.4), ("\u22645", "<=", 5.0)],
)
def test_a_censored_string_reads_as_a_bound_like_a_quantity_comparator(
    text: str, comparator: str, value: float
) -> None:
    fact = _read(_observation(PLATELETS, valueString=text))
    assert fact.value_quantity is not None
    assert (fact.value_quantity.comparator, fact.value_quantity.value) == (comparator, value)
    assert fact.value_quantity.unit == "10*9/L"
    assert fact.received is not None
    assert fact.received.value == text.strip()


def test_a_lower_bound_without_a_unit_is_read_in_the_unit_that_makes_it_loosest() -> None:
    # ">5" could be 5 /uL (0.005 10*9/L) or 5 10*3/uL: only "> 0.005 10*9/L" holds for both
    fact = _read(_observation(PLATELETS, valueString=">5"))
    assert fact.value_quantity is not None
    assert fact.value_quantity.comparator == ">"
    assert fact.value_quantity.value == 0.005
    assert "no unit sent" in fact.notes[0].reason


def test_a_plain_number_without_a_unit_for_an_analyte_with_several_scales_is_unread() -> None:
    fact = _read(_observation(PLATELETS, valueString="180"))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert fact.unread.reason == "value '180' has no unit, and its accepted units differ"


@pytest.mark.parametrize(
    ("text", "comparator", "value"),
    [(">1:320", ">", 320.0), ("1:80", None, 80.0), ("<1:40", "<", 40.0)],
)
def test_a_titer_string_with_or_without_a_bound_reads_as_a_titer(
    text: str, comparator: str | None, value: float
) -> None:
    quantity = _read(_observation(ANA, valueString=text)).value_quantity
    assert quantity is not None
    assert (quantity.comparator, quantity.value, quantity.unit) == (comparator, value, "{titer}")


def test_a_string_that_is_not_a_number_is_kept_unread_with_its_path_and_value() -> None:
    fact = _read(_observation(PLATELETS, valueString="<<10"))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert (fact.unread.path, fact.unread.reason) == (
        "Observation.valueString",
        "value '<<10' is not a number",
    )


def test_a_range_reads_as_a_value_between_its_inclusive_bounds_in_canonical_units() -> None:
    sent = {
        "low": {"value": 50, "system": UCUM, "code": "10*3/uL"},
        "high": {"value": 80000, "system": UCUM, "code": "/uL"},
    }
    fact = _read(_observation(PLATELETS, valueRange=sent))
    assert fact.value_quantity is not None
    quantity = fact.value_quantity
    assert (quantity.comparator, quantity.value, quantity.upper) == (">=", 50, 80)
    assert quantity.unit == "10*9/L"
    assert fact.received is not None
    assert (fact.received.value, fact.received.unit) == ("50-80000", "10*3/uL")


def test_a_range_whose_high_is_below_its_low_is_kept_unread() -> None:
    sent = {
        "low": {"value": 80, "system": UCUM, "code": "10*9/L"},
        "high": {"value": 50, "system": UCUM, "code": "10*9/L"},
    }
    fact = _read(_observation(PLATELETS, valueRange=sent))
    assert fact.unread is not None
    assert fact.unread.path == "Observation.valueRange"


def test_a_range_with_only_a_high_bound_reads_as_at_most_that() -> None:
    sent = {"high": {"value": 20, "system": UCUM, "code": "10*3/uL"}}
    quantity = _read(_observation(PLATELETS, valueRange=sent)).value_quantity
    assert quantity is not None
    assert (quantity.comparator, quantity.value) == ("<=", 20)


def test_a_ratio_that_is_not_a_titer_is_kept_unread() -> None:
    ratio = {"numerator": {"value": 2}, "denominator": {"value": 3}}
    fact = _read(_observation(ANA, valueRatio=ratio))
    assert fact.unread is not None
    assert fact.unread.path == "Observation.valueRatio"


@pytest.mark.parametrize("key", ["valueTime", "valuePeriod", "valueDateTime"])
def test_a_value_form_the_product_does_not_read_is_kept_unread(key: str) -> None:
    value = {
        "valueTime": "08:00:00",
        "valuePeriod": {"start": "2026-02-01"},
        "valueDateTime": "2026-02-01",
    }[key]
    fact = _read(_observation(PLATELETS, **{key: value}))
    assert fact.unread is not None
    assert fact.unread.path == f"Observation.{key}"


def test_a_quantity_without_a_value_is_kept_unread() -> None:
    fact = _read(_observation(PLATELETS, valueQuantity={"unit": "10*9/L"}))
    assert fact.unread is not None
    assert fact.unread.path == "Observation.valueQuantity.value"


def test_an_uncatalogued_analyte_in_a_unit_that_is_not_ucum_is_kept_unread() -> None:
    fact = _read(_observation(GLUCOSE, valueQuantity={"value": 3, "unit": "(score)"}))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert fact.unread.path == "Observation.valueQuantity.unit"


def test_a_known_analyte_in_an_impossible_unit_is_still_refused_with_its_path() -> None:
    problems = _refused(_observation(PLATELETS, valueQuantity={"value": 3, "unit": "g/dL"}))
    assert problems[0].startswith("Observation.valueQuantity.unit:")


# --- kind 3: times ---------------------------------------------------------------------


def test_a_result_with_issued_and_no_effective_time_is_dated_by_issued_as_approximate() -> None:
    resource = _observation(PLATELETS, valueQuantity={"value": 150, "unit": "10*9/L"})
    del resource["effectiveDateTime"]
    resource["issued"] = "2026-02-28T10:30:00+01:00"
    fact = _read(resource)
    assert fact.effective_start is None
    assert fact.effective_end == datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
    assert [n.path for n in fact.notes] == ["Observation.issued"]
    assert "approximate" in fact.notes[0].reason
    # collected at some instant up to issued: judged at both ends (FHIR R4 Observation.issued)
    assert fact.time_bounds is not None
    assert fact.time_bounds.start_latest == datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
    assert fact.time_bounds.start_earliest is not None
    assert fact.time_bounds.start_earliest <= datetime(1900, 1, 1, tzinfo=UTC)


# FHIR R4 Observation.effective[x] (0..1, https://hl7.org/fhir/R4/observation-definitions.html
# #Observation.effective_x_): "The time or time-period the observed value is asserted as being
# true"; US Core Laboratory Result requires it. Without it (and without issued) the result was
# obtained at some unknown time up to its receipt: it was undated, ordered older than every
# dated result, so an older result decided in its place.
def test_a_result_with_no_time_at_all_is_kept_unread_at_effective() -> None:
    resource = _observation(PLATELETS, valueQuantity={"value": 150, "unit": "10*9/L"})
    del resource["effectiveDateTime"]
    fact = _read(resource)
    assert fact.unread is not None
    assert fact.unread.path == "Observation.effective[x]"
    assert "no effective[x]" in fact.unread.reason
    assert fact.value_quantity is not None  # the value as read, for the record
    assert fact.time_bounds is not None  # any instant up to its receipt
    assert fact.time_bounds.start_earliest is not None
    assert fact.time_bounds.start_earliest <= datetime(1900, 1, 1, tzinfo=UTC)
    assert fact.time_bounds.start_latest is not None
    assert fact.time_bounds.start_latest >= datetime(9999, 1, 1, tzinfo=UTC)


def test_the_components_of_a_result_with_no_time_are_kept_unread_too() -> None:
    resource = _observation("85354-9", component=[
        {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
         "valueQuantity": {"value": 128, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}},
    ])
    del resource["effectiveDateTime"]
    (component,) = _read(resource).components
    assert component.unread is not None
    assert component.unread.path == "Observation.effective[x]"
    assert component.time_bounds is not None


def test_effective_time_wins_over_issued_without_a_note() -> None:
    resource = _observation(PLATELETS, valueQuantity={"value": 150, "unit": "10*9/L"})
    resource["issued"] = "2026-03-01T10:30:00Z"
    fact = _read(resource)
    assert fact.effective_start == datetime(2026, 2, 28, 8, tzinfo=UTC)
    assert fact.notes == ()


# --- kind 4: value as received, and notes ---------------------------------------------


def test_the_value_and_unit_are_kept_as_received_beside_the_canonical() -> None:
    sent = {
        "value": Decimal("0.50"),
        "comparator": "<",
        "unit": "mg/dL",
        "system": UCUM,
        "code": "mg/dL",
    }
    fact = _read(_observation("2160-0", valueQuantity=sent))
    assert fact.received is not None
    assert (fact.received.value, fact.received.unit) == ("<0.50", "mg/dL")


def test_a_data_absent_reason_is_named_and_carries_no_value() -> None:
    reason = {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "error"}
        ]
    }
    fact = _read(_observation(PLATELETS, dataAbsentReason=reason))
    assert fact.value_quantity is None
    # FHIR R4 Observation.dataAbsentReason: the result exists and its value could not be
    # obtained: kept unread (never an older result deciding in its place), named at its path
    assert fact.unread is not None
    assert fact.unread.path == "Observation.dataAbsentReason"
    assert "error" in fact.unread.reason
    assert fact.notes == ()


# --- kind 6: elements once dropped silently ------------------------------------------


def test_a_gender_outside_administrative_gender_is_refused_with_its_path() -> None:
    patient = {"resourceType": "Patient", "id": "p-1", "gender": "F"}
    assert _refused(patient) == ["Patient.gender: not one of male, female, other, unknown"]


def test_a_delete_request_in_a_transaction_is_refused_not_ignored() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "DELETE", "url": "Observation/obs-1"}}],
    }
    problems = _refused(bundle)
    assert problems[0].startswith("Bundle.entry[0].request.method: DELETE is not carried out")


def test_a_report_conclusion_with_text_only_is_kept_unread() -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r-1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "66117-3"}]},
        "subject": {"reference": "Patient/p-1"},
        "effectiveDateTime": "2026-02-01",
        "conclusionCode": [{"text": "class IV"}],
    }
    fact = _read(report)
    assert fact.unread is not None
    assert fact.unread.path == "DiagnosticReport.conclusionCode[0].text"


def test_a_condition_onset_given_as_an_age_is_named() -> None:
    condition = {
        "resourceType": "Condition",
        "id": "c-1",
        "code": {"coding": [{"system": SNOMED, "code": "55464009"}]},
        "subject": {"reference": "Patient/p-1"},
        "onsetAge": {"value": 30, "unit": "a", "system": UCUM, "code": "a"},
    }
    fact = _read(condition)
    assert [n.path for n in fact.notes] == ["Condition.onsetAge"]


def test_a_censored_text_beside_a_unit_is_read_in_that_unit() -> None:
    from shared.clinical.fhir_values import Reader, read_result_text

    value = read_result_text(Reader(), PLATELETS, "<10", "OBX[1].5", unit="/uL")
    assert value.quantity is not None
    assert (value.quantity.comparator, value.quantity.value) == ("<", 0.01)
    assert value.notes == ()


def test_a_medication_statement_without_a_time_is_named_undated() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "m-1",
        "status": "active",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "5521"}]
        },
        "subject": {"reference": "Patient/p-1"},
    }
    fact = _read(statement)
    assert [n.path for n in fact.notes] == ["MedicationStatement.effective[x]"]


def test_a_panel_without_its_own_value_adds_no_note() -> None:
    panel = _observation("58410-2", hasMember=[{"reference": "Observation/obs-2"}])
    assert _read(panel).notes == ()


def test_a_component_without_a_value_says_so() -> None:
    panel = _observation("85354-9", component=[
        {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
         "valueQuantity": {"value": 120, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
         "dataAbsentReason": {"coding": [{"code": "not-performed"}]}},
    ])
    systolic, diastolic = _read(panel).components
    assert systolic.notes == ()
    assert diastolic.unread is not None
    assert diastolic.unread.path == "Observation.component[1].dataAbsentReason"


# --- FHIR R4 Observation.value[x] integer: a whole number with no unit ------------------------


def test_a_platelet_count_sent_as_value_integer_is_kept_unread_for_want_of_a_unit() -> None:
    # a count per volume cannot take a unit from an integer: not refused (valueInteger is a
    # form R4 allows), not given 10*9/L by guess, kept unread with the value as received
    fact = _read(_observation(PLATELETS, valueInteger=150))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert fact.unread.path == "Observation.valueInteger"
    assert "has no unit" in fact.unread.reason
    assert "10*9/L" in fact.unread.reason
    assert fact.received is not None
    assert fact.received.value == "150"


def test_a_percentage_sent_as_value_integer_is_unread_too() -> None:
    fact = _read(_observation("8117-4", valueInteger=45))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert fact.unread.path == "Observation.valueInteger"


def test_a_score_sent_as_value_integer_is_read_as_a_plain_number() -> None:
    fact = _read(_observation(ECOG, valueInteger=1))
    assert fact.unread is None
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (1.0, "1")


@pytest.mark.parametrize("value", ["150", 150.5, True])
def test_a_value_integer_that_is_not_a_json_whole_number_is_refused(value: object) -> None:
    # (a number with a fraction is already refused by the resource's schema validation)
    refused = _refused(_observation(ECOG, valueInteger=value))
    assert len(refused) == 1
    assert refused[0].startswith("Observation.valueInteger: ")
    assert "integer" in refused[0]


# --- Condition.clinicalStatus / verificationStatus (FHIR R4 Condition) -------------------
# https://hl7.org/fhir/R4/condition-definitions.html#Condition.clinicalStatus: binding required
# to http://terminology.hl7.org/CodeSystem/condition-clinical (active | recurrence | relapse |
# inactive | remission | resolved); verificationStatus: required, condition-ver-status
# (unconfirmed | provisional | differential | confirmed | refuted | entered-in-error). The first
# coding of any system was read, so a text-only "Active" or a SNOMED CT code left the status to
# the verificationStatus ("confirmed"), which no criterion reads as active.

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONFIRMED = {"coding": [{"system": VERIFICATION, "code": "confirmed"}]}


def _condition(**status: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "cond-1",
        "code": {"coding": [{"system": SNOMED, "code": "84114007", "display": "Heart failure"}]},
        "subject": {"reference": "Patient/p-1"},
        "onsetDateTime": "2025-06-01T00:00:00Z",
        **status,
    }


@pytest.mark.parametrize(
    "clinical",
    [
        {"text": "Active"},
        {"coding": [{"system": SNOMED, "code": "55561003", "display": "Active"}]},
        {"coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.4.698084.10", "code": "1"}],
         "text": "Active"},
    ],
)
def test_a_clinical_status_outside_condition_clinical_is_refused_at_its_path(
    clinical: dict[str, Any],
) -> None:
    problems = _refused(_condition(clinicalStatus=clinical, verificationStatus=CONFIRMED))
    assert any(p.startswith("Condition.clinicalStatus:") and "condition-clinical" in p
               for p in problems), problems


def test_a_clinical_status_code_not_in_condition_clinical_is_refused() -> None:
    clinical = {"coding": [{"system": CLINICAL, "code": "Active"}]}
    problems = _refused(_condition(clinicalStatus=clinical, verificationStatus=CONFIRMED))
    assert any(p.startswith("Condition.clinicalStatus.coding[0].code:") for p in problems)


def test_two_clinical_statuses_that_differ_are_refused() -> None:
    clinical = {"coding": [{"system": CLINICAL, "code": "active"},
                           {"system": CLINICAL, "code": "resolved"}]}
    problems = _refused(_condition(clinicalStatus=clinical, verificationStatus=CONFIRMED))
    assert any(p.startswith("Condition.clinicalStatus:") for p in problems)


def test_a_clinical_status_sent_as_an_stu3_code_string_is_refused() -> None:
    problems = _refused(_condition(clinicalStatus="active"))
    assert any(p.startswith("Condition.clinicalStatus:") for p in problems)


def test_a_verification_status_outside_condition_ver_status_is_refused() -> None:
    clinical = {"coding": [{"system": CLINICAL, "code": "active"}]}
    problems = _refused(_condition(clinicalStatus=clinical, verificationStatus={"text": "Refuted"}))
    assert any(p.startswith("Condition.verificationStatus:") for p in problems)


def test_the_status_coding_of_its_system_is_read_beside_another() -> None:
    clinical = {"coding": [{"system": SNOMED, "code": "55561003"},
                           {"system": CLINICAL, "code": "active"}]}
    fact = _read(_condition(clinicalStatus=clinical, verificationStatus=CONFIRMED))
    assert fact.status == "active"
    assert fact.unread is None


@pytest.mark.parametrize("verification", [CONFIRMED, None])
def test_a_condition_without_clinical_status_is_kept_unread(
    verification: dict[str, Any] | None,
) -> None:
    # con-3 (a guideline in R4): clinicalStatus may be absent; whether the condition is
    # active is then unknown, neither active nor inactive
    resource = _condition() if verification is None else _condition(
        verificationStatus=verification)
    fact = _read(resource)
    assert fact.unread is not None
    assert fact.unread.path == "Condition.clinicalStatus"


def test_an_abated_condition_said_to_be_active_is_kept_unread() -> None:
    # con-4 (rule): if abated, clinicalStatus must be inactive, resolved or remission
    clinical = {"coding": [{"system": CLINICAL, "code": "active"}]}
    fact = _read(_condition(clinicalStatus=clinical, verificationStatus=CONFIRMED,
                            abatementString="in childhood"))
    assert fact.unread is not None
    assert fact.unread.path == "Condition.clinicalStatus"
    assert "con-4" in fact.unread.reason


def test_an_entered_in_error_condition_with_a_clinical_status_is_refused() -> None:
    # con-5 (rule): clinicalStatus SHALL NOT be present if verificationStatus is
    # entered-in-error: whether the entry is withdrawn is unknown
    clinical = {"coding": [{"system": CLINICAL, "code": "active"}]}
    withdrawn = {"coding": [{"system": VERIFICATION, "code": "entered-in-error"}]}
    problems = _refused(_condition(clinicalStatus=clinical, verificationStatus=withdrawn))
    assert any(p.startswith("Condition.clinicalStatus:") and "con-5" in p for p in problems)


def test_an_entered_in_error_condition_without_clinical_status_is_withdrawn() -> None:
    withdrawn = {"coding": [{"system": VERIFICATION, "code": "entered-in-error"}]}
    assert _read(_condition(verificationStatus=withdrawn)).status == "entered-in-error"


# --- Observation.code naming two catalogued analytes --------------------------------------
# FHIR R4 CodeableConcept.coding (https://hl7.org/fhir/R4/datatypes.html#CodeableConcept):
# the codings of one concept stand for the same thing. A platelet count coded 777-3 and also
# 718-7 (hemoglobin), as a mis-mapped interface sends it, was read as whichever came first,
# the other dropped silently, and indexed under both.

HEMOGLOBIN = "718-7"


def test_a_code_naming_two_catalogued_analytes_is_refused_naming_both() -> None:
    resource = _observation(PLATELETS, valueQuantity={
        "value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"})
    resource["code"] = {"coding": [{"system": LOINC, "code": PLATELETS},
                                   {"system": LOINC, "code": HEMOGLOBIN}]}
    problems = _refused(resource)
    (problem,) = [p for p in problems if p.startswith("Observation.code.coding:")]
    assert PLATELETS in problem
    assert HEMOGLOBIN in problem


def test_a_component_code_naming_two_catalogued_analytes_is_refused() -> None:
    resource = _observation("57021-8", component=[
        {"code": {"coding": [{"system": LOINC, "code": HEMOGLOBIN},
                             {"system": LOINC, "code": "2160-0"}]},
         "valueQuantity": {"value": 120, "unit": "g/L", "system": UCUM, "code": "g/L"}},
    ])
    problems = _refused(resource)
    assert any(p.startswith("Observation.component[0].code.coding:") for p in problems)


def test_two_loinc_codes_of_one_catalogued_analyte_read_as_it() -> None:
    # 777-3 and 26515-7 (platelets, automated count and any method) are one catalogue entry
    resource = _observation(PLATELETS, valueQuantity={
        "value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"})
    resource["code"] = {"coding": [{"system": LOINC, "code": PLATELETS},
                                   {"system": LOINC, "code": "26515-7"}]}
    fact = _read(resource)
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 8


# --- Period start after end (FHIR R4 per-1) ------------------------------------------------
# https://hl7.org/fhir/R4/datatypes.html#Period, invariant per-1: "If present, start SHALL have
# a lower value than end" (start <= end). A period whose start is after its end was read as
# sent: a result, condition or medication use dated by a time the sender contradicts.


def _procedure(**when: Any) -> dict[str, Any]:
    return {"resourceType": "Procedure", "id": "proc-1", "status": "completed",
            "code": {"coding": [{"system": SNOMED, "code": "86273004"}]},
            "subject": {"reference": "Patient/p-1"}, **when}


def _statement(**when: Any) -> dict[str, Any]:
    return {"resourceType": "MedicationStatement", "id": "ms-1", "status": "completed",
            "medicationCodeableConcept": {"coding": [{
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "121191"}]},
            "subject": {"reference": "Patient/p-1"}, **when}


REVERSED = {"start": "2026-02-28T10:00:00Z", "end": "2026-02-28T09:00:00Z"}


@pytest.mark.parametrize(
    ("resource", "where"),
    [
        ({**_observation(PLATELETS, valueQuantity={
            "value": 150, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}),
          "effectivePeriod": REVERSED}, "Observation.effectivePeriod"),
        (_condition(clinicalStatus={"coding": [{"system": CLINICAL, "code": "active"}]},
                    onsetPeriod=REVERSED), "Condition.onsetPeriod"),
        (_condition(clinicalStatus={"coding": [{"system": CLINICAL, "code": "resolved"}]},
                    abatementPeriod=REVERSED), "Condition.abatementPeriod"),
        (_procedure(performedPeriod=REVERSED), "Procedure.performedPeriod"),
        (_statement(effectivePeriod={"start": "2026-03", "end": "2026-02-15"}),
         "MedicationStatement.effectivePeriod"),
        (_statement(effectivePeriod={"start": "2026-02-15", "end": "2026-02-14"}),
         "MedicationStatement.effectivePeriod"),
    ],
)
def test_a_period_that_starts_after_it_ends_is_refused_at_its_path(
    resource: dict[str, Any], where: str
) -> None:
    for prefix in ("effective", "onset"):
        if f"{prefix}DateTime" in resource and f"{prefix}Period" in resource:
            del resource[f"{prefix}DateTime"]  # one form of [x]
    problems = _refused(resource)
    assert any(p.startswith(f"{where}:") and "per-1" in p for p in problems), problems


@pytest.mark.parametrize(
    "period",
    [
        {"start": "2026-02-28T09:00:00Z", "end": "2026-02-28T09:00:00Z"},
        {"start": "2026-02-28", "end": "2026-02-28"},
        # a day without a zone and an instant of the same day: the order is not known
        {"start": "2026-02-28", "end": "2026-02-27T20:00:00Z"},
        {"start": "2026-02", "end": "2026-02-10"},
    ],
)
def test_a_period_whose_start_is_not_after_its_end_reads(period: dict[str, str]) -> None:
    (update,) = parse_fhir(_statement(effectivePeriod=period), source_system="lab-a")
    assert update.facts[0].effective_start is not None


# One catalogue entry may hold several measured quantities of one unit class (blood_cell_count:
# platelets, neutrophils, leukocytes; aminotransferase: ALT, AST): its ``measures`` tell them
# apart. A count coded 777-3 (platelets) and 751-8 (neutrophils) was read as platelets.
@pytest.mark.parametrize(
    ("first", "second"),
    [("777-3", "751-8"), ("26515-7", "26464-8"), ("1742-6", "1920-8"), ("4485-9", "4498-2")],
)
def test_a_code_naming_two_quantities_of_one_catalogue_entry_is_refused(
    first: str, second: str
) -> None:
    resource = _observation(first, valueQuantity={"value": 8})
    resource["code"] = {"coding": [{"system": LOINC, "code": first},
                                   {"system": LOINC, "code": second}]}
    problems = _refused(resource)
    (problem,) = [p for p in problems if p.startswith("Observation.code.coding:")]
    assert first in problem
    assert second in problem


def test_every_catalogued_loinc_code_has_one_measure() -> None:
    from shared.clinical.units import catalogue

    for code, analyte in catalogue().items():
        assert analyte.measure(code), code


# FHIR R4 DiagnosticReport.effective[x] (0..1): "The time or time-period the observed values
# are related to"; issued: "The date and time that this version of the report was made
# available". A biopsy conclusion with neither was undated, ordered older than every dated
# report, so an older report decided; dated only by issued, it outranked reports it may predate.


def _report(**when: Any) -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport", "id": "r-1", "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "66117-3"}]},
        "subject": {"reference": "Patient/p-1"},
        "conclusionCode": [{"coding": [{"system": SNOMED, "code": "36402006"}]}],
        **when,
    }


def test_a_report_conclusion_with_no_time_is_kept_unread_at_effective() -> None:
    fact = _read(_report())
    assert fact.unread is not None
    assert fact.unread.path == "DiagnosticReport.effective[x]"
    assert fact.time_bounds is not None
    assert fact.time_bounds.start_latest is not None
    assert fact.time_bounds.start_latest >= datetime(9999, 1, 1, tzinfo=UTC)


def test_a_report_conclusion_dated_only_by_issued_is_bounded_by_it() -> None:
    fact = _read(_report(issued="2026-02-28T10:00:00Z"))
    assert fact.unread is None
    assert fact.effective_end == datetime(2026, 2, 28, 10, tzinfo=UTC)
    assert fact.time_bounds is not None
    assert fact.time_bounds.start_latest == datetime(2026, 2, 28, 10, tzinfo=UTC)
    assert fact.time_bounds.start_earliest is not None
    assert fact.time_bounds.start_earliest <= datetime(1900, 1, 1, tzinfo=UTC)
