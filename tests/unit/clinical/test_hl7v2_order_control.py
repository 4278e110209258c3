"""ORC-1 order control (HL7 v2.5.1 4.5.1.1, table 0119) on an encoded medication order (RXE).

Table 0119 is an HL7 table (ID, v2.5.1 2A.3.35: "drawn from a table of legal values"): a code
outside it (or written in another case) is refused at ORC.1. Of its codes, the cancelling
(CA cancel request, OC order cancelled, CR cancelled as requested), discontinuing (DC
discontinue request, OD discontinued, DR discontinued as requested) and holding ones (HD hold
request, OH order held, HR on hold as requested) say the order is not running; NW new order, OK
accepted, SC status changed, XO/XR/XX changed, RE, RL/OE/OR released, RO replacement order, NA,
SN, PA, CH, FU/OF refilled leave the status to ORC-5 (table 0038). Every other code of the table
(UA unable to accept, DE data errors, RP replace request, RU replaced, RQ, DF refill denied ...)
does not say whether the order is running: the medication is kept unread naming ORC[n].1, so it
neither proves use nor makes a washout pass.

ORC-1 is required (v2.5.1 4.5.1, ORC attributes: ORC-1 ID, R, table 0119) and "determines the
function of the order segment" (4.5.1.1): ORC-5 reports the status of the order the segment is
about (4.5.1.5), and only ORC-1 says what the segment does with it (a cancel request may still
carry ORC-5 ``IP``). An empty ORC-1, and an RXE without the ORC that RDE^O11's ORDER group
requires (v2.5.1 ch. 4A, RDE^O11: ``ORC`` is the group's first, required segment), leave the
order's status unread: the medication is kept unread (at ORC[n].1, or at the RXE), never read
as active from ORC-5 or by default.

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


def _decision(control: str, order_status: str = "", message: str | None = None
              ) -> tuple[Status, Outcome]:
    builder = eligible_patient().without(RXNORM, PREDNISONE)
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    message = message or _order(control, order_status)
    sent = tuple(f for u in parse_hl7v2(message, source_system="pharmacy") for f in u.facts)
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
    assert fact.unread.path == "ORC[1].1"
    assert "0119" in fact.unread.reason
    assert control in fact.unread.reason


@pytest.mark.parametrize("control", ["ZZ", "nw", "Dc", "ACTIVE", "N"])
def test_a_code_outside_table_0119_is_refused_at_orc1(control: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_hl7v2(_order(control))
    assert any(p.path == "ORC[1].1" and "0119" in p.reason for p in caught.value.problems)


def test_the_vignette_reads_her_prednisone_from_a_new_order() -> None:
    assert _decision("NW") == (Status.ELIGIBLE, Outcome.PASS)


@pytest.mark.parametrize("control", ["UA", "RP", "DE"])
def test_an_order_not_known_to_run_never_proves_the_treatment(control: str) -> None:
    eligibility, i2 = _decision(control)
    assert i2 is Outcome.UNKNOWN
    assert eligibility is not Status.ELIGIBLE


def _without_orc() -> str:
    return "\r".join([
        MSH, PID,
        f"RXE||{PREDNISONE}^predniSONE 5 MG Oral Tablet^RXN|5||mg^milligram^UCUM",
        f"TQ1|1||Q24H||||{_ts(ago(730))}",
    ]) + "\r"


@pytest.mark.parametrize("order_status", ["IP", "A", "SC", "CM", "CA", "DC", "HD", ""])
def test_an_empty_orc1_leaves_the_order_status_unread_whatever_orc5_says(
    order_status: str
) -> None:
    # v2.5.1 4.5.1: ORC-1 is required; 4.5.1.1 it "determines the function of the order
    # segment", so ORC-5 alone cannot say whether this order runs
    fact = _medication("", order_status)
    assert fact.unread is not None
    assert fact.unread.path == "ORC[1].1"
    assert "required" in fact.unread.reason
    assert "4.5.1" in fact.unread.reason


def test_an_orc5_outside_table_0038_is_still_refused_when_orc1_is_empty() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_hl7v2(_order("", "ZZ"))
    assert any(p.path == "ORC[1].5" and "0038" in p.reason for p in caught.value.problems)


def test_an_rxe_without_its_orc_is_kept_unread() -> None:
    (update,) = parse_hl7v2(_without_orc(), source_system="pharmacy")
    (fact,) = [f for f in update.facts if f.kind is FactKind.MEDICATION]
    assert fact.unread is not None
    assert fact.unread.path == "RXE[1]"
    assert "no ORC" in fact.unread.reason
    assert "RDE^O11" in fact.unread.reason


@pytest.mark.parametrize("order_status", ["IP", "A", ""])
def test_an_order_with_an_empty_orc1_never_proves_the_treatment(order_status: str) -> None:
    eligibility, i2 = _decision("", order_status)
    assert i2 is Outcome.UNKNOWN
    assert eligibility is not Status.ELIGIBLE


def test_an_order_without_its_orc_never_proves_the_treatment() -> None:
    eligibility, i2 = _decision("", message=_without_orc())
    assert i2 is Outcome.UNKNOWN
    assert eligibility is not Status.ELIGIBLE


def test_the_vignette_reads_her_prednisone_from_a_new_order_in_progress() -> None:
    assert _decision("NW", "IP") == (Status.ELIGIBLE, Outcome.PASS)
