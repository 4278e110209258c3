"""Issue 9's examples, end to end: real-feed shapes through the one normaliser into the engine.

Each case is the eligible vignette (``tests/fixtures/vignettes/eligible.json``, as of
2026-03-01T09:00:00Z) with one entry added or changed, or the vignette plus a small HL7 v2
message for the same patient, as a lab or EHR feed really sends it. The expected status is
what a clinician reading the same record would say; the standard that decides it is cited on
each case. A case marked ``xfail(strict=True)`` is a kind not fixed yet: fixing it makes the
test pass, which fails the strict marker until the marker is removed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial

AS_OF = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
VIGNETTE = Path(__file__).resolve().parents[1] / "fixtures" / "vignettes" / "eligible.json"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
Json = dict[str, Any]


@cache
def _vignette() -> Json:
    return json.loads(VIGNETTE.read_text(encoding="utf-8"))


def _bundle(change: Callable[[Json], None] | None = None) -> Json:
    bundle = copy.deepcopy(_vignette())
    if change is not None:
        change(bundle)
    return bundle


def _observation(resource_id: str, loinc: str, when: str, **value: Any) -> Json:
    return {
        "fullUrl": f"urn:uuid:{resource_id}",
        "resource": {
            "resourceType": "Observation",
            "id": resource_id,
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": loinc}]},
            "subject": {"reference": "Patient/vignette"},
            "effectiveDateTime": when,
            **value,
        },
        "request": {"method": "PUT", "url": f"Observation/{resource_id}"},
    }


def _add(*entries: Json) -> Callable[[Json], None]:
    def change(bundle: Json) -> None:
        bundle["entry"].extend(entries)

    return change


def _resource(bundle: Json, loinc: str) -> Json:
    for entry in bundle["entry"]:
        codings = entry["resource"].get("code", {}).get("coding", [])
        if any(coding.get("code") == loinc for coding in codings):
            return entry["resource"]
    raise KeyError(loinc)


def _patient(bundle: Json) -> Json:
    return next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )


def decide(bundle: Json, *messages: str) -> Decision:
    updates = parse_fhir(bundle, source_system="test-ehr")
    for message in messages:
        updates += parse_hl7v2(message, source_system="test-lab")
    return evaluate(load_trial("NCT06920433"), facts_from_updates(updates), AS_OF)


def outcome(decision: Decision, criterion: str) -> Outcome:
    return next(result.outcome for result in decision.criteria if result.id == criterion)


def _reason(decision: Decision, criterion: str) -> str:
    """The reason the decision gives for one criterion (StopIteration when it has none)."""
    return next(result.reason for result in decision.criteria if result.id == criterion)


def _problems(call: Callable[[], object]) -> tuple[str, ...]:
    """The problems (path and reason, as strings) of the InvalidInput that ``call`` raises;
    fails the test when it raises none."""
    with pytest.raises(InvalidInput) as refused:
        call()
    return tuple(str(problem) for problem in refused.value.problems)


def _msh(control_id: str, at: str = "20260228100000+0000") -> str:
    return f"MSH|^~\\&|LAB|CITY-LAB|TW|TW|{at}||ORU^R01^ORU_R01|{control_id}|P|2.5.1"


def _oru(
    control_id: str,
    *obx: str,
    obr: str = "OBR|1|ORD-9|FIL-9|57021-8^CBC^LN|||20260228080000+0000",
    at: str = "20260228100000+0000",
) -> str:
    pid = "PID|1||vignette^^^TEST-EHR^MR||Doe^Jane||19900101|F"
    return "\r".join([_msh(control_id, at), pid, obr, *obx]) + "\r"


def test_the_baseline_vignette_is_eligible() -> None:
    assert decide(_bundle()).status == Status.ELIGIBLE


# Kind 1: all codings of a CodeableConcept stand for the same concept (FHIR R4 datatypes,
# CodeableConcept.coding: "a reference to a code defined by a terminology system"; LOINC answer
# list LL360-9: LA6576-8 Positive, LA6577-6 Negative).
def test_a_newer_positive_hcg_coded_with_a_loinc_answer_code_makes_her_ineligible() -> None:
    positive = {
        "valueCodeableConcept": {
            "coding": [
                {"system": LOINC, "code": "LA6576-8", "display": "Positive"},
                {"system": SNOMED, "code": "10828004", "display": "Positive"},
            ]
        }
    }
    bundle = _bundle(_add(_observation("hcg-new", "2106-3", "2026-02-28T09:00:00Z", **positive)))
    assert decide(bundle).status == Status.INELIGIBLE


# Kind 2: a censored value sent as a string (FHIR R4 Observation.value[x] valueString) is a
# bound; "<10" x10^9/L platelets cannot meet ">= 100".
def test_platelets_sent_as_the_string_below_ten_make_her_ineligible() -> None:
    bundle = _bundle(
        _add(_observation("plt-new", "777-3", "2026-02-28T09:00:00Z", valueString="<10"))
    )
    assert decide(bundle).status == Status.INELIGIBLE


def test_a_newer_platelet_count_that_cannot_be_read_is_never_overtaken_by_the_older_one() -> None:
    bundle = _bundle(
        _add(_observation("plt-new", "777-3", "2026-02-28T09:00:00Z", valueString="<<10"))
    )
    decision = decide(bundle)
    assert decision.status != Status.ELIGIBLE
    assert outcome(decision, "I6.1") == Outcome.UNKNOWN


# Kind 2, HL7 v2: SN with a comparator (HL7 v2.5.1 ch. 2A.2.71 SN: comparator ^ num1).
def test_hl7_platelets_sent_as_sn_below_ten_make_her_ineligible() -> None:
    message = _oru(
        "M-SN", "OBX|1|SN|777-3^Platelets^LN||<^10|10*9/L|150-400|LL|||F|||20260228080000+0000"
    )
    assert decide(_bundle(), message).status == Status.INELIGIBLE


# Kind 3: OBX-2 (value type) must be valued when OBX-5 is (HL7 v2.5.1 7.4.2.2): refused with
# its path, never dropped so that the older 180 decides.
def test_an_obx_with_a_value_and_no_value_type_is_refused_or_read_never_dropped() -> None:
    message = _oru(
        "M-OBX2", "OBX|1||777-3^Platelets^LN||8|10*9/L|150-400|LL|||F|||20260228080000+0000"
    )
    try:
        problems: tuple[object, ...] = ()
        status: Status | None = decide(_bundle(), message).status
    except InvalidInput as refused:
        status, problems = None, refused.problems
    if status is None:
        assert any("OBX[1].2" in str(problem) for problem in problems)
    else:
        assert status == Status.INELIGIBLE


# Kind 4: an HL7 v2 time without an offset is in the sender's local zone (HL7 v2.5.1 ch. 2A
# DTM); MSH-7 gives that zone.
def test_an_hl7_time_without_offset_takes_the_offset_of_msh_7() -> None:
    message = (
        "\r".join(
            [
                "MSH|^~\\&|LAB|CITY-LAB|TW|TW|20261127093000-0500||ORU^R01^ORU_R01|M-TZ|P|2.5.1",
                "PID|1||p1^^^LAB^MR||Doe^Jane||19900101|F",
                "OBR|1|ORD-1|FIL-1|57021-8^CBC^LN|||20261127080000",
                "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20261127083000",
            ]
        )
        + "\r"
    )
    (update,) = parse_hl7v2(message, source_system="test-lab")
    assert update.facts[0].effective_start == datetime(2026, 11, 27, 13, 30, tzinfo=UTC)


# Kind 5: referenceRange entries are alternatives (FHIR R4 Observation.referenceRange.appliesTo).
def test_alt_is_judged_against_the_female_reference_range_for_a_woman() -> None:
    def female_ranges(bundle: Json) -> None:
        alt = _resource(bundle, "1742-6")
        alt["valueQuantity"] = {"value": 120, "unit": "U/L", "system": UCUM, "code": "U/L"}
        alt["referenceRange"] = [
            {
                "high": {"value": 45, "unit": "U/L", "system": UCUM, "code": "U/L"},
                "appliesTo": [
                    {"coding": [{"system": SNOMED, "code": "248153007", "display": "Male"}]}
                ],
            },
            {
                "high": {"value": 34, "unit": "U/L", "system": UCUM, "code": "U/L"},
                "appliesTo": [
                    {"coding": [{"system": SNOMED, "code": "248152002", "display": "Female"}]}
                ],
            },
        ]

    assert _patient(_vignette())["gender"] == "female"
    decision = decide(_bundle(female_ranges))
    assert outcome(decision, "I6.2") == Outcome.FAIL


# Kind 6: a corrected result (HL7 v2.5.1 table 0085 "C") replaces the result of the same order
# (OBR-3) and observation (OBX-3/OBX-4), whatever the new MSH-10.
def test_a_corrected_platelet_count_replaces_the_original_result() -> None:
    when = "20260228080000+0000"
    original = _oru("M-1", f"OBX|1|NM|777-3^Platelets^LN||150|10*9/L|150-400|N|||F|||{when}")
    corrected = _oru("M-2", f"OBX|1|NM|777-3^Platelets^LN||15|10*9/L|150-400|LL|||C|||{when}")
    assert decide(_bundle(), original).status == Status.ELIGIBLE
    assert decide(_bundle(), original, corrected).status == Status.INELIGIBLE


# Kind 7: a deceased patient (FHIR R4 Patient.deceased[x]) is never eligible.
def test_a_deceased_patient_is_never_eligible() -> None:
    def deceased(bundle: Json) -> None:
        _patient(bundle)["deceasedDateTime"] = "2026-02-28T10:00:00Z"

    assert decide(_bundle(deceased)).status != Status.ELIGIBLE


# Kind 8: UCUM prefixed arbitrary units (UCUM 4.4, "m[IU]/mL") read as such.
def test_a_serum_hcg_in_milli_international_units_per_millilitre_is_read() -> None:
    def serum_hcg(bundle: Json) -> None:
        bundle["entry"] = [e for e in bundle["entry"] if e["resource"].get("id") != "obs-20"]
        quantity = {"value": 0.8, "unit": "mIU/mL", "system": UCUM, "code": "m[IU]/mL"}
        bundle["entry"].append(
            _observation("hcg-serum", "2110-5", "2026-02-28T09:00:00Z", valueQuantity=quantity)
        )

    decision = decide(_bundle(serum_hcg))
    assert decision.status == Status.ELIGIBLE


# Kind 9: the number decides, the interpretation flag only when there is no number (FHIR R4
# Observation.interpretation is "a categorical assessment", not the value).
def test_a_cd19_percentage_flagged_normal_is_judged_by_its_number() -> None:
    def flagged(bundle: Json) -> None:
        cd19 = _resource(bundle, "8117-4")
        cd19["valueQuantity"] = {"value": 6.3, "unit": "%", "system": UCUM, "code": "%"}
        cd19["interpretation"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "N",
                    }
                ]
            }
        ]

    baseline = decide(_bundle())
    changed = decide(_bundle(flagged))
    readers = [
        r.id for r in baseline.criteria if any("8117-4" in (e.code or "") for e in r.evidence)
    ]
    assert readers, "some criterion reads the CD19 percentage"
    for criterion in readers:
        assert (
            outcome(changed, criterion) != Outcome.UNKNOWN
            or outcome(baseline, criterion) == Outcome.UNKNOWN
        )


# Kind 11: positive evidence decides: a positive hCG within the window excludes whether or not
# childbearing potential is documented.
def test_a_positive_hcg_excludes_even_without_documented_childbearing_potential() -> None:
    def positive_without_potential(bundle: Json) -> None:
        bundle["entry"] = [
            e
            for e in bundle["entry"]
            if not any(
                c.get("code") == "childbearing-potential"
                for c in e["resource"].get("code", {}).get("coding", [])
            )
        ]
        hcg = _resource(bundle, "2106-3")
        hcg["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": "10828004"}]}

    assert decide(_bundle(positive_without_potential)).status == Status.INELIGIBLE


# More shapes of the same kinds, as real senders send them.


# Kind 2, HL7 v2 ST (v2.5.1 ch. 2A.2.74): a censored number sent as a string.
def test_hl7_platelets_sent_as_st_below_ten_make_her_ineligible() -> None:
    message = _oru(
        "M-ST", "OBX|1|ST|777-3^Platelets^LN||<10|10*9/L|150-400|LL|||F|||20260228080000+0000"
    )
    assert decide(_bundle(), message).status == Status.INELIGIBLE


# Kind 2, FHIR R4 Observation.valueRange: the value lies somewhere in [low, high].
def test_platelets_sent_as_a_range_below_the_threshold_make_her_ineligible() -> None:
    value_range = {
        "low": {"value": 5, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"},
        "high": {"value": 10, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"},
    }
    bundle = _bundle(
        _add(_observation("plt-rng", "777-3", "2026-02-28T09:00:00Z", valueRange=value_range))
    )
    assert decide(bundle).status == Status.INELIGIBLE


# Kind 6: "W" = "post original as wrong" (HL7 v2.5.1 table 0085): the withdrawn result no
# longer decides, so the older readable one is not silently used either way: the newer
# platelet count is gone, the record falls back to what else it holds.
def test_a_withdrawn_low_platelet_count_no_longer_excludes() -> None:
    when = "20260228080000+0000"
    low = _oru("M-1", f"OBX|1|NM|777-3^Platelets^LN||15|10*9/L|150-400|LL|||F|||{when}")
    withdrawn = _oru("M-2", f"OBX|1|NM|777-3^Platelets^LN||15|10*9/L|150-400|LL|||W|||{when}")
    assert decide(_bundle(), low).status == Status.INELIGIBLE
    assert decide(_bundle(), low, withdrawn).status == Status.ELIGIBLE


# Kind 8: a US lab's platelet unit "K/uL" (= 10*3/uL = 10*9/L) through the alias table.
def test_a_low_platelet_count_in_k_per_microlitre_makes_her_ineligible() -> None:
    quantity = {"value": 12, "unit": "K/uL"}
    bundle = _bundle(
        _add(_observation("plt-k", "777-3", "2026-02-28T09:00:00Z", valueQuantity=quantity))
    )
    decision = decide(bundle)
    assert decision.status == Status.INELIGIBLE


# Kind 8: a unit the alias table does not know is never guessed: the newer result is unread.
def test_a_newer_platelet_count_in_an_unknown_unit_leaves_bone_marrow_function_unknown() -> None:
    quantity = {"value": 12, "unit": "bananas/uL"}
    bundle = _bundle(
        _add(_observation("plt-x", "777-3", "2026-02-28T09:00:00Z", valueQuantity=quantity))
    )
    try:
        refused: tuple[str, ...] = ()
        decision: Decision | None = decide(bundle)
    except InvalidInput as error:
        decision, refused = None, tuple(problem.path for problem in error.problems)
    if decision is None:
        # refused at the unit's path is one of the two right answers (any other refusal is not)
        assert any(path.endswith("valueQuantity.unit") for path in refused)
    else:
        assert outcome(decision, "I6.1") == Outcome.UNKNOWN


# Kind 11: a MedicationAdministration's effective time is the dose itself (FHIR R4
# MedicationAdministration.effective[x]); rituximab 10 days ago is inside any washout.
def test_a_rituximab_infusion_ten_days_ago_excludes_without_a_stop_date() -> None:
    administration = {
        "fullUrl": "urn:uuid:ma-1",
        "resource": {
            "resourceType": "MedicationAdministration",
            "id": "ma-1",
            "status": "completed",
            "medicationCodeableConcept": {
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "121191"}
                ]
            },
            "subject": {"reference": "Patient/vignette"},
            "effectiveDateTime": "2026-02-19T09:00:00Z",
        },
        "request": {"method": "PUT", "url": "MedicationAdministration/ma-1"},
    }
    decision = decide(_bundle(_add(administration)))
    assert outcome(decision, "E11") == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


# FHIR R4 JSON representation: a decimal is a JSON number; "8" (a string) is not a value the
# standard defines, so it is refused at its path rather than read as 8.
def test_a_quantity_value_sent_as_a_json_string_is_refused_at_its_path() -> None:
    quantity = {"value": "8", "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}
    bundle = _bundle(
        _add(_observation("plt-str", "777-3", "2026-02-28T09:00:00Z", valueQuantity=quantity))
    )
    with pytest.raises(InvalidInput) as refused:
        decide(bundle)
    assert any(p.path.endswith("valueQuantity.value") for p in refused.value.problems)
