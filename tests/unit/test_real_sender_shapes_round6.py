"""Probe round 6: real-sender shapes found silently wrong, through normaliser and engine.

Each case is the eligible vignette of NCT06920433 (as of 2026-03-01T09:00:00Z, see
``test_real_feed_examples``) plus a small HL7 v2 message for the same patient, as the cited
sender writes it. Before the fix each was read as something it is not, or not read while an
older result decided, and left her ELIGIBLE; now each is read exactly, refused with its path,
or kept unread so that the criterion reading it is ``unknown``. The round's full table (350+
shapes read, refused, unread, guessed) and the probe script are in ``/work/notes/probe6/``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.clinical.hl7v2 import parse_hl7v2
from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import (
    Json,
    _add,
    _bundle,
    _oru,
    _problems,
    decide,
    outcome,
)

OBX_WHEN = "20260228080000+0000"
PLATELETS = "I6.1"  # bone marrow function: platelets >= 20e9/L (NCT06920433)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _platelets(code: str, units: str = "10*9/L") -> str:
    return f"OBX|1|NM|{code}||8|{units}|150-400|LL|||F|||{OBX_WHEN}"


# --- a coding system named by its OID ---------------------------------------------------------


# HL7 v2.5.1 2A.3.8 CE / 2A.3.13 CWE component 3 (and 6) names the coding system; table 0396
# gives LOINC as 'LN', but real senders write the system's ISO object identifier from the HL7
# OID registry there (LOINC 2.16.840.1.113883.6.1, UCUM 2.16.840.1.113883.6.8), as v2.7 later
# gave it its own component (CWE-14 "Name of Coding System OID"): the Net_HL7 (PHP) sample ORU
# 'OBX|1|NM|29553-5^Calculated Patient Age^2.16.840.1.113883.6.1||41|a^Years^2.16.840.1.113883.6.8',
# CDC malaria case-notification messages '67187-5^Complication(s) related to this malaria
# illness^2.16.840.1.113883.6.1^67187_5^...^L', a CDC public-health-lab ORU with
# '...^L^^2.16.840.1.113883.6.1' as the alternate. An OID names one code system exactly (FHIR R4
# terminologies-systems lists LOINC's as 2.16.840.1.113883.6.1). Before, the code was not
# identified: a newer platelet count of 8 was read by no criterion and the older 180 decided
# (ELIGIBLE, a note at OBX-3.3 only). Now read as LOINC, with a note naming the spelling.
@pytest.mark.parametrize(
    "code",
    ["777-3^Platelets^2.16.840.1.113883.6.1",
     "777-3^Platelets^2.16.840.1.113883.6.1^PLT^Platelets^L",
     "PLT^Platelets^L^777-3^Platelets^2.16.840.1.113883.6.1",
     "777-3^Platelets^urn:oid:2.16.840.1.113883.6.1"],
    ids=["oid", "oid-then-local", "local-then-oid", "urn-oid"],
)
def test_a_loinc_code_named_by_its_oid_decides(code: str) -> None:
    decision = decide(_bundle(), _oru("M-OID", _platelets(code)))
    assert outcome(decision, PLATELETS) == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


def test_the_oid_read_as_loinc_is_noted_at_its_path() -> None:
    (update,) = parse_hl7v2(_oru("M-OID", _platelets("777-3^Platelets^2.16.840.1.113883.6.1")),
                            source_system="test-lab")
    (fact,) = update.facts
    assert [c.system for c in fact.codes] == ["http://loinc.org"]
    notes = [n for n in fact.notes if n.path == "OBX[1].3.3"]
    assert notes
    assert "2.16.840.1.113883.6.1" in notes[0].reason
    assert "OID" in notes[0].reason


# An OID of a code system TrialWatch does not read (ATC 2.16.840.1.113883.6.73 for a lab
# result) is still not identified: no criterion reads the code.
def test_an_oid_of_another_code_system_is_not_read_as_loinc() -> None:
    atc_oid = "777-3^Platelets^2.16.840.1.113883.6.73"
    decision = decide(_bundle(), _oru("M-OID", _platelets(atc_oid)))
    assert outcome(decision, PLATELETS) == Outcome.PASS


# --- a medication status that is not a code of its resource's status value set -----------------


def _immunomodulators_with_status(status: str) -> Callable[[Json], None]:
    """The vignette's hydroxychloroquine (med-26) and mycophenolate (med-27) statements, the
    immunomodulators I2's conventional treatment counts, sent with ``status``."""
    def change(bundle: Json) -> None:
        for entry in bundle["entry"]:
            if entry["resource"].get("id") in ("med-26", "med-27"):
                entry["resource"]["status"] = status

    return change


# FHIR R4 MedicationStatement.status (1..1) has a required binding to medication-statement-status
# (active, completed, entered-in-error, intended, stopped, on-hold, unknown, not-taken); codes
# are case-sensitive (FHIR R4 datatypes, code: "a string which has at least one character and
# no leading or trailing whitespace" taken from a defined set). Senders write the display or
# another case ('Not-taken', 'NOT-TAKEN', 'Entered-in-error'), or a v2-style 'not_taken'.
# Before, any such string was kept as sent and read as a use of the drug: the statements that
# say hydroxychloroquine and mycophenolate were NOT taken counted as her conventional treatment,
# I2 met, ELIGIBLE (with 'not-taken' itself, I2 is unknown). Now refused at the status's path,
# as Observation.status already is.
@pytest.mark.parametrize("status", ["Not-taken", "NOT-TAKEN", "Entered-in-error", "not_taken"])
def test_a_medication_statement_status_outside_its_value_set_is_refused(status: str) -> None:
    problems = _problems(lambda: decide(_bundle(_immunomodulators_with_status(status))))
    assert any(
        p.startswith("Bundle.entry[") and ".resource.status: " in p
        and "medication-statement-status" in p for p in problems
    )


def test_the_same_statements_with_the_standard_code_are_read() -> None:
    decision = decide(_bundle(_immunomodulators_with_status("not-taken")))
    assert outcome(decision, "I2") == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def _resource_with_status(resource_type: str, status: str) -> Json:
    resource: Json = {
        "resourceType": resource_type, "id": "m6", "status": status,
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "121191"}]},
        "subject": {"reference": "Patient/vignette"},
    }
    if resource_type == "MedicationRequest":
        resource |= {"intent": "order", "authoredOn": "2026-02-19T09:00:00Z"}
    elif resource_type == "MedicationDispense":
        resource["whenHandedOver"] = "2026-02-19T09:00:00Z"
    else:
        resource["effectiveDateTime"] = "2026-02-19T09:00:00Z"
    return {"fullUrl": "urn:uuid:m6", "resource": resource,
            "request": {"method": "PUT", "url": f"{resource_type}/m6"}}


# The same for the other medication resources' required status bindings (FHIR R4
# MedicationRequest.status medicationrequest-status, MedicationAdministration.status
# medication-admin-status, MedicationDispense.status medicationdispense-status).
@pytest.mark.parametrize(
    ("resource_type", "status", "value_set"),
    [("MedicationRequest", "Cancelled", "medicationrequest-status"),
     ("MedicationAdministration", "not-taken", "medication-admin-status"),
     ("MedicationDispense", "Declined", "medicationdispense-status")],
)
def test_other_medication_statuses_outside_their_value_sets_are_refused(
    resource_type: str, status: str, value_set: str,
) -> None:
    entry = _resource_with_status(resource_type, status)
    problems = _problems(lambda: decide(_bundle(_add(entry))))
    assert any(".resource.status: " in p and value_set in p for p in problems)


@pytest.mark.parametrize(
    ("resource_type", "status"),
    [("MedicationRequest", "active"), ("MedicationAdministration", "completed"),
     ("MedicationDispense", "completed"), ("MedicationStatement", "on-hold")],
)
def test_standard_medication_statuses_are_read(resource_type: str, status: str) -> None:
    decision = decide(_bundle(_add(_resource_with_status(resource_type, status))))
    assert outcome(decision, "E11") == Outcome.FAIL
