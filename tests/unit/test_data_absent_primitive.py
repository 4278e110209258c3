"""A data-absent-reason on a primitive sent beside its value is refused, never ignored.

FHIR R4 JSON representation of primitive elements (json.html, "Representing primitive
elements"): a primitive's id and extensions travel in the sibling property ``_<name>``
(``valueQuantity._value``, ``_valueString``, ``_effectiveDateTime``). FHIR R4
extension-data-absent-reason (http://hl7.org/fhir/StructureDefinition/data-absent-reason):
"Provides a reason why the expected value or elements in the element that is extended are
missing". A primitive carrying that extension says it has no real value; a value beside it
contradicts it, so which holds is unknown: refused at ``..._<name>`` as obs-6 already refuses
``dataAbsentReason`` beside ``value[x]``. Before, ``_<name>`` was never looked at: a platelet
count whose value a lab marked ``error`` (an analyser that writes a placeholder number) was
read as sent and decided NCT06920433 I6.1.

Without a value, ``valueQuantity._value`` with the extension is a result sought and not
obtained (as ``Observation.dataAbsentReason``): kept unread, so the older count never decides.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.errors import InvalidInput
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

DAR = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
WHEN = "2026-02-28T09:00:00Z"
PLATELETS = "I6.1"


def _absent(code: str = "error") -> Json:
    return {"extension": [{"url": DAR, "valueCode": code}]}


def _problems(bundle: Json) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        decide(bundle)
    return [str(problem) for problem in refused.value.problems]


@pytest.mark.parametrize("reason", ["error", "masked", "unknown", "not-performed"])
def test_a_quantity_value_marked_absent_beside_a_number_is_refused_at_its_underscore_value(
    reason: str,
) -> None:
    quantity = {"value": 250, "_value": _absent(reason), "unit": "x10^9/L", "system": UCUM,
                "code": "10*9/L"}
    bundle = _bundle(_add(_observation("plt-dar", "777-3", WHEN, valueQuantity=quantity)))
    problems = _problems(bundle)
    assert any(p.startswith("Bundle.entry[46].resource.valueQuantity._value:")
               and "data-absent-reason" in p and reason in p for p in problems)


def test_a_value_string_marked_absent_beside_its_text_is_refused() -> None:
    entry = _observation("plt-dar", "777-3", WHEN, valueString="250",
                         _valueString=_absent("masked"))
    problems = _problems(_bundle(_add(entry)))
    assert any(p.startswith("Bundle.entry[46].resource._valueString:") for p in problems)


def test_an_effective_time_marked_absent_beside_a_time_is_refused() -> None:
    quantity = {"value": 250, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}
    entry = _observation("plt-dar", "777-3", WHEN, valueQuantity=quantity,
                         _effectiveDateTime=_absent("unknown"))
    problems = _problems(_bundle(_add(entry)))
    assert any(p.startswith("Bundle.entry[46].resource._effectiveDateTime:") for p in problems)


def test_a_component_value_marked_absent_beside_a_number_is_refused() -> None:
    panel = _observation("cbc-dar", "58410-2", WHEN)
    panel["resource"]["component"] = [{
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "valueQuantity": {"value": 250, "_value": _absent(), "unit": "10*9/L", "system": UCUM,
                          "code": "10*9/L"}}]
    problems = _problems(_bundle(_add(panel)))
    assert any(p.startswith("Bundle.entry[46].resource.component[0].valueQuantity._value:")
               for p in problems)


def test_a_birth_date_marked_absent_beside_a_date_is_refused() -> None:
    def change(bundle: Json) -> None:
        bundle["entry"][0]["resource"]["_birthDate"] = _absent("unknown")

    problems = _problems(_bundle(change))
    assert any(p.startswith("Bundle.entry[0].resource._birthDate:") for p in problems)


def test_a_quantity_whose_value_is_absent_with_a_reason_leaves_i6_1_unknown() -> None:
    quantity: dict[str, Any] = {"_value": _absent("error"), "unit": "10*9/L", "system": UCUM,
                                "code": "10*9/L"}
    decision = decide(_bundle(_add(_observation("plt-dar", "777-3", WHEN,
                                                valueQuantity=quantity))))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_another_extension_on_a_primitive_changes_nothing() -> None:
    # FHIR R4 originalText extension on the primitive: a note, no absence
    quantity = {"value": 250, "unit": "10*9/L", "system": UCUM, "code": "10*9/L",
                "_value": {"extension": [{
                    "url": "http://hl7.org/fhir/StructureDefinition/originalText",
                    "valueString": "250"}]}}
    decision = decide(_bundle(_add(_observation("plt-ok", "777-3", WHEN,
                                                valueQuantity=quantity))))
    assert outcome(decision, PLATELETS) == Outcome.PASS
    assert decision.status == Status.ELIGIBLE
