"""A FHIR resource that fails FHIR R4 validation is refused at its path with a sentence a sender
can act on, never the validator's internal text (fresh-user report M3).

FHIR R4 datatypes (http://hl7.org/fhir/R4/datatypes.html): dateTime "If hours and minutes are
specified, a time zone SHALL be populated"; instant "time zone SHALL be populated", to the
second; decimal per its regex; boolean true|false; integer a whole number; string at least one
non-whitespace character; an element repeating (0..*) is a JSON array (FHIR R4 JSON, 2.6.2).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.fhir import parse_fhir
from tests.unit.clinical.conftest import load_fhir_fixture


def _with_observation(**fields: Any) -> dict[str, Any]:
    bundle = copy.deepcopy(load_fhir_fixture("lupus_bundle.json"))
    obs = next(e["resource"] for e in bundle["entry"]
               if e["resource"]["resourceType"] == "Observation")
    obs.pop("effectiveDateTime", None)
    obs.pop("effectivePeriod", None)
    obs.update(fields)
    return bundle


def _reasons(payload: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as caught:
        parse_fhir(payload, source_system="ehr-a")
    return [(p.path, p.reason) for p in caught.value.problems]


def _one(payload: dict[str, Any], path_end: str) -> str:
    reasons = [reason for path, reason in _reasons(payload) if path.endswith(path_end)]
    assert len(reasons) == 1, _reasons(payload)
    assert "spec regex" not in reasons[0]
    assert "Input should" not in reasons[0]
    assert "Value error" not in reasons[0]
    return reasons[0]


def test_a_datetime_with_a_time_but_no_offset_says_the_zone_shall_be_populated() -> None:
    reason = _one(_with_observation(effectiveDateTime="2026-11-20T08:30:00"),
                  ".effectiveDateTime")
    assert "time zone SHALL be populated" in reason
    assert "no UTC offset" in reason
    assert "Z or +hh:mm" in reason


def test_a_datetime_that_is_no_date_names_the_accepted_forms() -> None:
    reason = _one(_with_observation(effectiveDateTime="2026-13-01"), ".effectiveDateTime")
    assert "not a FHIR R4 dateTime" in reason
    assert "YYYY-MM-DD" in reason


def test_an_instant_without_seconds_and_zone_is_explained() -> None:
    reason = _one(_with_observation(effectiveDateTime="2026-11-20", issued="2026-11-20"),
                  ".issued")
    assert "not a FHIR R4 instant" in reason
    assert "time zone" in reason


def test_a_decimal_that_is_no_number_is_explained() -> None:
    reason = _one(_with_observation(effectiveDateTime="2026-11-20",
                                    valueQuantity={"value": "abc", "unit": "mg/dL"}),
                  ".valueQuantity.value")
    assert "not a FHIR R4 decimal" in reason


def test_an_unknown_element_and_a_single_object_for_a_list_are_explained() -> None:
    unknown = _one(_with_observation(effectiveDateTime="2026-11-20", colour="red"), ".colour")
    assert "not an element of FHIR R4 Observation" in unknown
    single = _one(_with_observation(effectiveDateTime="2026-11-20",
                                    category={"text": "lab"}), ".category")
    assert "JSON array" in single


def test_a_missing_required_element_says_it_is_required() -> None:
    payload = _with_observation(effectiveDateTime="2026-11-20")
    obs = next(e["resource"] for e in payload["entry"]
               if e["resource"]["resourceType"] == "Observation")
    obs.pop("status")
    reason = _one(payload, ".status")
    assert "required" in reason
    assert "FHIR R4" in reason
