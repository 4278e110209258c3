"""The normaliser never produces a fact text longer than the fact models allow (issue 14
section 2): every text input at the longest ``shared.clinical.bounds`` lets through is read
into facts that an event contract accepts, and an input a fact could not hold is refused at
intake, at its path, before anything is published (never a validation error later)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from shared.clinical import bounds
from shared.clinical.errors import InvalidInput
from shared.clinical.facts import PatientUpdate
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.contracts.events import PatientUpdated
from tests.unit.clinical.conftest import FIXTURES

OBSERVATION = json.loads((FIXTURES / "intake" / "observation_hemoglobin.json").read_text())


def _published(updates: list[PatientUpdate]) -> None:
    """What intake publishes for each update passes the event contract (pseudonymised keys)."""
    for update in updates:
        PatientUpdated.model_validate({
            "event_id": "00000000-0000-0000-0000-000000000001",
            "occurred_at": "2026-11-20T08:30:00Z", "recorded_at": "2026-11-20T08:30:00Z",
            "source": update.source_system[:200], "patient_key": "pt_" + "1" * 32,
            "correlation_id": "00000000-0000-0000-0000-000000000001",
            "demographics": update.demographics, "facts": update.facts})


def _fhir_outcome(resource: dict[str, Any]) -> list[PatientUpdate] | InvalidInput:
    try:
        return parse_fhir(resource, source_system="lab-a")
    except InvalidInput as refused:
        return refused


def test_a_version_id_longer_than_a_fhir_id_is_refused_at_its_path() -> None:
    """FHIR R4 meta.versionId is an ``id`` (datatypes: at most 64 characters); a longer one
    was read into Provenance.version unbounded (65,536 characters got through)."""
    resource = copy.deepcopy(OBSERVATION)
    resource["meta"]["versionId"] = "1" * 65
    with pytest.raises(InvalidInput) as refused:
        parse_fhir(resource, source_system="lab-a")
    assert [p.path for p in refused.value.problems] == ["Observation.meta.versionId"]
    resource["meta"]["versionId"] = "1" * 64
    _published(parse_fhir(resource, source_system="lab-a"))


@pytest.mark.parametrize(("where", "value"), [
    (("code", "coding", 0, "code"), "7" * bounds.MAX_CODE),
    (("code", "coding", 0, "system"), "urn:x:" + "s" * (bounds.MAX_URI - 6)),
    (("code", "coding", 0, "display"), "Hb " * (bounds.MAX_TEXT // 3)),
    (("valueQuantity", "unit"), "g" * bounds.MAX_CODE),
    (("valueQuantity", "code"), "g" * bounds.MAX_CODE),
    (("id",), "i" * bounds.MAX_IDENTIFIER),
    (("status",), "s" * bounds.MAX_CODE),
    (("interpretation",), [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                        "v3-ObservationInterpretation",
                                        "code": "H" * bounds.MAX_CODE}]}]),
    (("referenceRange",), [{"text": "1" * bounds.MAX_TEXT}]),
    (("referenceRange",), [{"text": "low " * (bounds.MAX_TEXT // 4)}]),
])
def test_the_longest_fhir_text_intake_lets_through_fits_the_published_fact(
    where: tuple[str | int, ...], value: Any,
) -> None:
    resource = copy.deepcopy(OBSERVATION)
    parent: Any = resource
    for step in where[:-1]:
        parent = parent[step]
    parent[where[-1]] = value
    outcome = _fhir_outcome(resource)
    if not isinstance(outcome, InvalidInput):
        _published(outcome)


def test_a_string_value_at_the_fhir_string_bound_fits_the_published_fact() -> None:
    resource = copy.deepcopy(OBSERVATION)
    del resource["valueQuantity"]
    resource["valueString"] = "positive " * (bounds.MAX_TEXT // 9)
    outcome = _fhir_outcome(resource)
    if not isinstance(outcome, InvalidInput):
        _published(outcome)


MSH = "MSH|^~\\&|LAB-APP|CITY-LAB|TW|TW|20261120093000+0100||ORU^R01^ORU_R01|{control}|P|2.5.1"
PID = "PID|1||MRN-0042^^^CITY^MR||Roe^Jane||19900412|F"
OBR = "OBR|1|ORD-1|FIL-1|24323-8^Comprehensive metabolic panel^LN|||20261120081500+0100"
OBX = ("OBX|1|{type}|{code}^Hemoglobin^{system}||{value}|{unit}|{range}|{flags}|||{status}|||"
       "20261120083000+0100")
DEFAULTS = {"control": "MSG-0001", "type": "NM", "code": "718-7", "system": "LN",
            "value": "11.2", "unit": "g/dL", "range": "12.0-16.0", "flags": "L", "status": "F"}
CE = bounds.V2_FIELD_LENGTHS[("OBX", 3)]


@pytest.mark.parametrize("field", [
    {"control": "C" * bounds.MAX_V2_FIELD},
    {"code": "7" * (CE - len("^Hemoglobin^LN"))},
    {"system": "S" * (CE - len("718-7^Hemoglobin^"))},
    {"unit": "g" * bounds.V2_FIELD_LENGTHS[("OBX", 6)]},
    {"range": "1" * bounds.V2_FIELD_LENGTHS[("OBX", 7)]},
    {"range": "low " * (bounds.V2_FIELD_LENGTHS[("OBX", 7)] // 4)},
    {"flags": "H~" * (bounds.MAX_V2_FIELD // 2 - 1) + "H"},
    {"status": "F" * bounds.MAX_V2_FIELD},
    {"type": "ST", "value": "positive " * (bounds.V2_FIELD_LENGTHS[("OBX", 5)] // 9)},
    {"type": "ST", "value": "1" * bounds.V2_FIELD_LENGTHS[("OBX", 5)]},
    {"type": "CWE", "value": "2" * 300 + "^Negative^SCT"},
])
def test_the_longest_hl7_field_intake_lets_through_fits_the_published_fact(
    field: dict[str, str],
) -> None:
    values = DEFAULTS | field
    message = "\r".join([MSH.format(**values), PID, OBR, OBX.format(**values)]) + "\r"
    try:
        updates = parse_hl7v2(message, source_system="lab-a")
    except InvalidInput:
        return
    _published(updates)


@pytest.mark.parametrize("text", ["1" * 400, "<" + "9" * 330, "0." + "0" * 400 + "1"])
def test_a_number_written_as_hl7_text_beyond_a_float_is_refused_at_its_path(text: str) -> None:
    """HL7 v2.5.1 7.4.2.2: a number in an ST OBX-5 is read as NM would be, and NM is an exact
    decimal (2A.3.47): a 400-digit glucose was read as value=inf mg/dL (an analyte without a
    plausibility ceiling), 1e-401 as 0. Refused at OBX[1].5 as bounds refuses an NM."""
    values = DEFAULTS | {"type": "ST", "code": "2345-7", "value": text, "unit": "mg/dL"}
    message = "\r".join([MSH.format(**values), PID, OBR, OBX.format(**values)]) + "\r"
    with pytest.raises(InvalidInput) as refused:
        parse_hl7v2(message, source_system="lab-a")
    assert [p.path for p in refused.value.problems] == ["OBX[1].5"]


@pytest.mark.parametrize("text", ["1" * 400, "0." + "0" * 400 + "1"])
def test_a_number_written_as_fhir_text_beyond_a_float_is_refused_at_its_path(text: str) -> None:
    """FHIR R4 valueString read as a number must be the decimal sent (datatypes: decimal)."""
    resource = copy.deepcopy(OBSERVATION)
    del resource["valueQuantity"]
    resource["code"]["coding"][0]["code"] = "2345-7"
    resource["valueString"] = text
    with pytest.raises(InvalidInput) as refused:
        parse_fhir(resource, source_system="lab-a")
    assert [p.path for p in refused.value.problems] == ["Observation.valueString"]
