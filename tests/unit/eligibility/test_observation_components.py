"""A result sent only in ``Observation.component`` is that analyte's result.

FHIR R4 Observation.component (observation-definitions.html#Observation.component): "Some
observations have multiple component observations. These component observations are expressed
as separate code value pairs that share the same attributes." ``component.code`` "Describes
what was observed"; ``component.value[x]`` is "The information determined as a result of making
the observation". So a component whose code is a LOINC analyte (777-3 platelets, 718-7
hemoglobin) is a result of that analyte, with the subject, effective time and status of its
Observation (the attributes it shares). Real senders put CBC and urinalysis results there: an
Observation coded with the panel (58410-2 CBC panel - Blood by Automated count; 24356-8
Urinalysis complete panel - Urine) with no value[x] and one component per analyte.

Before: the engine indexed only top-level facts (``FactIndex``), so a newer platelet count of
8 10*9/L in a CBC panel's component was never seen and the older 180 decided I6.1 (pass: the
patient was called eligible).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.clinical.facts import PatientFacts
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import CriterionResult, Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.index import FactIndex
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import AS_OF, LOINC, PATIENT_REF, eligible_patient, iso

TRIAL = load_trial("NCT06920433", "2025-11-14.1")
UCUM = "http://unitsofmeasure.org"
CBC_PANEL = {"system": LOINC, "code": "58410-2",
             "display": "CBC panel - Blood by Automated count"}
URINALYSIS_PANEL = {"system": LOINC, "code": "24356-8",
                    "display": "Urinalysis complete panel - Urine"}
NEWER = datetime(2026, 2, 28, 7, 30, tzinfo=UTC)  # the vignette's labs are of 2026-02-26


def _component(code: str, display: str, **value: Any) -> dict[str, Any]:
    return {"code": {"coding": [{"system": LOINC, "code": code, "display": display}],
                     "text": display}, **value}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


def _panel(*components: dict[str, Any], panel: dict[str, str] = CBC_PANEL,
           status: str = "final", **extra: Any) -> dict[str, Any]:
    """A lab panel as senders send it: panel code, no value[x], one component per analyte."""
    return {
        "resourceType": "Observation",
        "id": "cbc-20260228",
        "status": status,
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "laboratory"}]}],
        "code": {"coding": [panel], "text": panel["display"]},
        "subject": {"reference": PATIENT_REF},
        "effectiveDateTime": iso(NEWER),
        "issued": "2026-02-28T09:12:00+01:00",
        "component": list(components),
        **extra,
    }


def _patient(*resources: dict[str, Any]) -> PatientFacts:
    builder = eligible_patient()
    builder.resources.extend(resources)
    return facts_from_updates(parse_fhir(builder.bundle(), source_system="vignette"))


def _criterion(decision: Decision, criterion_id: str) -> CriterionResult:
    return next(c for c in decision.criteria if c.id == criterion_id)


PLATELETS_8 = _component("777-3", "Platelets [#/volume] in Blood by Automated count",
                         **_quantity(8, "10*3/uL"))
HEMOGLOBIN_OK = _component("718-7", "Hemoglobin [Mass/volume] in Blood",
                           **_quantity(12.1, "g/dL"))


def test_the_vignette_passes_i6_1_on_its_older_counts() -> None:
    # control: platelets 180 10*9/L and hemoglobin 110 g/L of 2026-02-26 meet I6.1
    decision = evaluate(TRIAL, _patient(), AS_OF)
    assert _criterion(decision, "I6.1").outcome is Outcome.PASS
    assert decision.status is Status.ELIGIBLE


def test_a_newer_platelet_count_in_a_cbc_panel_component_decides_i6_1() -> None:
    patient = _patient(_panel(HEMOGLOBIN_OK, PLATELETS_8))
    decision = evaluate(TRIAL, patient, AS_OF)
    i61 = _criterion(decision, "I6.1")
    assert i61.outcome is Outcome.FAIL, i61.reason
    assert "8 10*9/L" in i61.reason
    assert decision.status is Status.INELIGIBLE
    (panel,) = [f for f in patient.facts if f.codes[0].code == "58410-2"]
    assert panel.components[1].fact_id in {e.fact_id for e in i61.evidence}


def test_a_panel_component_is_read_with_its_observations_time_and_status() -> None:
    patient = _patient(_panel(HEMOGLOBIN_OK, PLATELETS_8))
    (panel,) = [f for f in patient.facts if f.codes[0].code == "58410-2"]
    hemoglobin, platelets = panel.components
    assert platelets.value_quantity is not None
    assert (platelets.value_quantity.value, platelets.value_quantity.unit) == (8.0, "10*9/L")
    assert hemoglobin.value_quantity is not None
    assert hemoglobin.value_quantity.value == 121.0
    assert platelets.effective_start == NEWER
    assert platelets.status == "final"
    assert platelets.fact_id != panel.fact_id != hemoglobin.fact_id
    # the engine's index holds the component under its own code, newest first
    index = FactIndex.build(patient, {})
    newest = index._by_key[f"{LOINC}|777-3"][0]
    assert newest.fact_id == platelets.fact_id


def test_a_newer_component_with_a_data_absent_reason_leaves_i6_1_unknown() -> None:
    # FHIR R4 Observation.component.dataAbsentReason: "Provides a reason why the expected
    # value in the element Observation.component.value[x] is missing" (platelet clumping:
    # the analyser could not count); the older 180 must not decide in its place
    absent = _component(
        "777-3", "Platelets [#/volume] in Blood by Automated count",
        dataAbsentReason={"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
            "code": "error", "display": "Error"}], "text": "Platelet clumps present"})
    decision = evaluate(TRIAL, _patient(_panel(HEMOGLOBIN_OK, absent)), AS_OF)
    i61 = _criterion(decision, "I6.1")
    assert i61.outcome is Outcome.UNKNOWN, i61.reason
    assert i61.missing == ("platelet count of 2026-02-28 could not be read: no value: the"
                           " sender says why it is absent (error; FHIR R4"
                           " Observation.dataAbsentReason): the result could not be obtained,"
                           " and an older result cannot stand in for it",)
    assert any(str(e.details.get("unread_path", "")).endswith(
        ".resource.component[1].dataAbsentReason") for e in i61.evidence)
    assert decision.status is Status.UNDETERMINED


def test_a_newer_component_of_a_catalogued_analyte_sent_as_words_leaves_i6_1_unknown() -> None:
    words = _component("777-3", "Platelets [#/volume] in Blood by Automated count",
                       valueString="Clumped, unable to count")
    decision = evaluate(TRIAL, _patient(_panel(HEMOGLOBIN_OK, words)), AS_OF)
    i61 = _criterion(decision, "I6.1")
    assert i61.outcome is Outcome.UNKNOWN, i61.reason
    assert any(str(e.details.get("unread_path", "")).endswith("component[1].valueString")
               for e in i61.evidence)
    assert decision.status is Status.UNDETERMINED


def test_a_newer_hemoglobin_component_of_a_preliminary_panel_is_unread_not_overtaken() -> None:
    # the component shares its Observation's status (FHIR R4: "share the same attributes"):
    # a preliminary panel's hemoglobin 5.0 g/dL is not final, and the older 110 g/L waits
    low = _component("718-7", "Hemoglobin [Mass/volume] in Blood", **_quantity(5.0, "g/dL"))
    decision = evaluate(TRIAL, _patient(_panel(low, status="preliminary")), AS_OF)
    i61 = _criterion(decision, "I6.1")
    assert i61.outcome is Outcome.UNKNOWN, i61.reason
    assert decision.status is Status.UNDETERMINED


def test_a_urinalysis_panel_component_is_indexed_under_its_own_loinc() -> None:
    # 13945-1 Erythrocytes [#/area] in Urine sediment by Microscopy high power field
    rbc = _component("13945-1", "Erythrocytes [#/area] in Urine sediment by Microscopy high"
                     " power field", valueQuantity={"value": 12, "unit": "/[HPF]",
                                                    "system": UCUM, "code": "/[HPF]"})
    patient = _patient(_panel(rbc, panel=URINALYSIS_PANEL))
    index = FactIndex.build(patient, {})
    (fact,) = index._by_key[f"{LOINC}|13945-1"]
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 12.0


def test_a_corrected_panel_without_the_component_removes_it_from_the_index() -> None:
    # an Observation resource is replaced whole by its next version: a component it no longer
    # carries is no longer a result
    first = _patient(_panel(HEMOGLOBIN_OK, PLATELETS_8))
    index = FactIndex.build(first, {})
    (panel,) = [f for f in first.facts if f.codes[0].code == "58410-2"]
    kept = panel.components[0].model_copy(update={"status": "corrected"})
    corrected = panel.model_copy(update={"components": (kept,), "status": "corrected"})
    updated = index.with_facts([corrected])
    platelets = updated._by_key[f"{LOINC}|777-3"]
    assert all(f.fact_id != panel.components[1].fact_id for f in platelets)
    assert updated._by_key[f"{LOINC}|718-7"][0].status == "corrected"


def test_a_panel_added_to_a_built_index_is_indexed_as_a_full_build_indexes_it() -> None:
    # the evaluator adds new facts to the index it has (``with_facts``): the same components
    # must be seen as when the index is built from the whole record
    without = _patient()
    full = _patient(_panel(HEMOGLOBIN_OK, PLATELETS_8))
    (panel,) = [f for f in full.facts if f.codes[0].code == "58410-2"]
    added = FactIndex.build(without, {}).with_facts([panel])
    built = FactIndex.build(full, {})
    for code in ("777-3", "718-7"):
        key = f"{LOINC}|{code}"
        assert [f.fact_id for f in added._by_key[key]] == [
            f.fact_id for f in built._by_key[key]]
