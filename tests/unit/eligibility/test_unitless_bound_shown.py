"""A value sent without a unit and read as the bound that holds in every accepted unit is shown
as read, in a readable unit, with what was sent and that no unit came (fresh-user report M6:
">0.200 10*9/L (sent as >200)"). A platelet count ">200" with no unit: 200 x10^6/L is
0.2 x10^9/L, the smallest of its accepted readings (UCUM: 10*6/L, 10*9/L = 10*3/uL), so the
bound kept is >0.2 x10^9/L, never the 200 x10^9/L a reader might assume."""

from __future__ import annotations

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Evidence
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from shared.eligibility.readable import clean_reason, evidence_value
from tests.unit.eligibility.fhir_builder import AS_OF, LOINC, PATIENT_REF, eligible_patient, iso

TRIAL = load_trial("NCT06920433", "2025-11-14.1")


def test_the_evidence_of_a_unitless_bound_never_shows_the_sent_number_as_canonical() -> None:
    evidence = Evidence(fact_id="f", resource="Observation/o3", code="777-3", value=0.2,
                        unit="10*9/L", details={"received_value": ">200"})
    shown = evidence_value(evidence)
    assert not shown.startswith(">200")
    assert shown.startswith(">0.200 x10^9/L")
    assert "sent as >200 with no unit" in shown


def test_the_reason_says_no_unit_was_sent() -> None:
    builder = eligible_patient().without(LOINC, "777-3")
    builder.resources.append({
        "resourceType": "Observation", "id": "plt-gt", "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "777-3"}]},
        "subject": {"reference": PATIENT_REF},
        "effectiveDateTime": iso(AS_OF), "valueString": ">200"})
    decision = evaluate(TRIAL, facts_from_updates(parse_fhir(builder.bundle(),
                                                             source_system="t")), AS_OF)
    reason = next(c.reason for c in decision.criteria if "(sent as >200" in c.reason)
    assert "(sent as >200 with no unit" in reason
    assert "x10^9/L (sent as" in clean_reason(reason)
