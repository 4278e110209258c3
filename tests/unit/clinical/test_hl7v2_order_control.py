"""ORC-1 order control (HL7 v2.5.1 4.5.1.1, table 0119) on an encoded medication order (RXE).

Table 0119 is an HL7 table (ID, v2.5.1 2A.3.35: "drawn from a table of legal values"): a code
outside it (or written in another case) is refused at ORC.1. Of its codes, the cancelling
(CA cancel request, OC order cancelled, CR cancelled as requested), discontinuing (DC
discontinue request, OD discontinued, DR discontinued as requested) and holding ones (HD hold
request, OH order held, HR on hold as requested) say the order is not running; NW new order, OK
accepted, SC status changed, XO/XR/XX changed, RE, RL/OE/OR released, RO replacement order, NA,
SN, PA, CH, FU/OF refilled leave the status to ORC-5 (table 0038). Every other code of the table
(UA unable to accept, DE data errors, RP replace request, RU replaced, RQ, DF refill denied ...)
does not say whether the order is running: the medication is kept unread naming ORC.1, so it
neither proves use nor makes a washout pass.

Engine: the eligible vignette of NCT06920433 (2025-11-14.1) with its prednisone (RxNorm 312617,
for two years, I2 'conventional treatment') sent instead as an HL7 RDE^O11 order.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.facts import ClinicalFact, FactKind, PatientFacts
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import AS_OF, RXNORM, ago, eligible_patient

PREDNISONE = "312617"
MSH = ("MSH|^~\\&|PHARM|CITY-HOSP|TRIALWATCH|CITY-HOSP|20260301080000+0000||RDE^O11^RDE_O11"
       "|RDE-ORC1|P|2.5.1")
PID = "PID|1||MRN-0042^^^CITY^MR||Roe^Jane||19900412|F"


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S+0000")


def _order(control: str, order_status: str = "") -> str:
    return "\r".join([
        MSH, PID,
        f"ORC|{control}|PL-1^EHR|FL-1^PHARM||{order_status}||||{_ts(ago(730))}",
        f"RXE||{PREDNISONE}^predniSONE 5 MG Oral Tablet^RXN|5||mg^milligram^UCUM",
        f"TQ1|1||Q24H||||{_ts(ago(730))}",
    ]) + "\r"


def _medication(control: str, order_status: str = "") -> ClinicalFact:
    (update,) = parse_hl7v2(_order(control, order_status), source_system="pharmacy")
    (fact,) = [f for f in update.facts if f.kind is FactKind.MEDICATION]
    return fact


def _decision(control: str) -> tuple[Status, Outcome]:
    builder = eligible_patient().without(RXNORM, PREDNISONE)
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    sent = tuple(f for u in parse_hl7v2(_order(control), source_system="pharmacy")
                 for f in u.facts)
    patient = PatientFacts(demographics=patient.demographics, facts=(*patient.facts, *sent))
    decision = evaluate(load_trial("NCT06920433", "2025-11-14.1"), patient, AS_OF)
    (i2,) = [c for c in decision.criteria if c.id == "I2"]
    return decision.status, i2.outcome


@pytest.mark.parametrize(("control", "status"), [
    ("NW", "active"), ("OK", "active"), ("XO", "active"),
    ("CA", "cancelled"), ("OC", "cancelled"), ("CR", "cancelled"),
    ("DC", "stopped"), ("OD", "stopped"), ("DR", "stopped"),
    ("HD", "on-hold"), ("OH", "on-hold"), ("HR", "on-hold"),
])
def test_order_controls_that_say_whether_the_order_runs_are_read(control: str, status: str) -> None:
    fact = _medication(control)
    assert (fact.status, fact.unread) == (status, None)


@pytest.mark.parametrize("control", ["UA", "DE", "RP", "RU", "RQ", "DF", "UD", "PR"])
def test_other_table_0119_codes_keep_the_medication_unread_at_orc1(control: str) -> None:
    fact = _medication(control)
    assert fact.unread is not None
    assert fact.unread.path == "ORC.1"
    assert "0119" in fact.unread.reason
    assert control in fact.unread.reason


@pytest.mark.parametrize("control", ["ZZ", "nw", "Dc", "ACTIVE", "N"])
def test_a_code_outside_table_0119_is_refused_at_orc1(control: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_hl7v2(_order(control))
    assert any(p.path == "ORC.1" and "0119" in p.reason for p in caught.value.problems)


def test_the_vignette_reads_her_prednisone_from_a_new_order() -> None:
    assert _decision("NW") == (Status.ELIGIBLE, Outcome.PASS)


@pytest.mark.parametrize("control", ["UA", "RP", "DE"])
def test_an_order_not_known_to_run_never_proves_the_treatment(control: str) -> None:
    eligibility, i2 = _decision(control)
    assert i2 is Outcome.UNKNOWN
    assert eligibility is not Status.ELIGIBLE
