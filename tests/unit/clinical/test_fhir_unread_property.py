"""Property (issue 9): whatever a lab writes in a newer FHIR platelet result (text, words,
codings, a range), the fact is kept, and the platelet criterion can pass only on that newer
result read as a number, never on the vignette's older 180.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.clinical.conftest import FIXTURES

AS_OF = datetime(2026, 3, 1, 9, tzinfo=UTC)
LOINC, SNOMED = "http://loinc.org", "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
TEXT = st.text(alphabet="0123456789<>=.,:-+/ ≤≥ePosNegtivlwhHIGLO*", min_size=1, max_size=12)
CODINGS = st.lists(
    st.sampled_from([
        {"system": LOINC, "code": "LA6576-8"}, {"system": LOINC, "code": "LA6577-6"},
        {"system": SNOMED, "code": "10828004"}, {"system": SNOMED, "code": "82334004"},
        {"system": "urn:oid:1.2.3", "code": "POS"}, {"code": "NEG"},
    ]),
    max_size=3,
)
VALUES = st.one_of(
    TEXT.map(lambda text: {"valueString": text}),
    st.tuples(CODINGS, st.one_of(st.none(), TEXT)).map(
        lambda pair: {"valueCodeableConcept": {"coding": pair[0]}
                      | ({"text": pair[1]} if pair[1] is not None else {})}
    ),
    st.tuples(st.integers(0, 500), st.integers(0, 500)).map(
        lambda pair: {"valueRange": {"low": {"value": pair[0], "system": UCUM, "code": "10*9/L"},
                                     "high": {"value": pair[1], "system": UCUM,
                                              "code": "10*9/L"}}}
    ),
)


@cache
def _vignette() -> dict[str, Any]:
    return json.loads((FIXTURES / "vignettes" / "eligible.json").read_text("utf-8"))


def _with(value: dict[str, Any]) -> dict[str, Any]:
    bundle = copy.deepcopy(_vignette())
    resource = {"resourceType": "Observation", "id": "plt-new", "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "777-3"}]},
                "subject": {"reference": bundle["entry"][0]["fullUrl"]},
                "effectiveDateTime": "2026-02-28T09:00:00Z", **value}
    bundle["entry"].append({"fullUrl": "urn:uuid:plt-new", "resource": resource,
                            "request": {"method": "PUT", "url": "Observation/plt-new"}})
    return bundle


@settings(max_examples=80, deadline=None)
@given(value=VALUES)
def test_a_newer_platelet_result_is_kept_and_never_overtaken_by_the_older_one(
    value: dict[str, Any]
) -> None:
    updates = parse_fhir(_with(value), source_system="ehr")
    new = "Observation/plt-new"
    (fact,) = [f for u in updates for f in u.facts if f.provenance.resource == new]
    read = fact.value_quantity is not None or fact.value_code is not None
    assert (fact.unread is None) == read
    decision = evaluate(load_trial("NCT06920433"), facts_from_updates(updates), AS_OF)
    bone_marrow = next(c for c in decision.criteria if c.id == "I6.1")
    if bone_marrow.outcome is Outcome.PASS:
        quantity = fact.value_quantity
        assert quantity is not None, value
        assert quantity.comparator in (None, ">", ">=")
        assert quantity.value >= 20
