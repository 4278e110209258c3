"""A weight-based glucocorticoid dose sent as HL7 v2.5.1 and as FHIR R4 gives one fact, one outcome.

NCT06946485 I4 reads "Glucocorticoids (>= 1 mg/kg/day)" with the dose primitive
(``shared.eligibility.primitives.dose``) from ``ClinicalFact.dose``. The same course of
prednisone is sent two ways, and each pair must give the same medication fact (drug, status,
period, daily dose) and the same I4 outcome:

- an encoded order, HL7 v2.5.1 RDE^O11: RXE-3 give amount in RXE-5 units (UCUM ``mg/kg``) with
  the TQ1-3 repeat pattern (table 0335) and TQ1-7/8 start/end (v2.5.1 ch. 4A RXE, ch. 4 TQ1),
  against a FHIR R4 MedicationStatement.dosage (Dosage.doseAndRate.doseQuantity x
  timing.repeat): 1 mg/kg once a day is 1 mg/kg/d (UCUM), read by ``shared.clinical.dosage``;
- one administration, HL7 v2.5.1 RAS^O17 RXA-6/7 administered amount, against a FHIR R4
  MedicationAdministration.dosage.dose: one administration is not a daily dose, so both keep
  the dose unread with the reason, and I4 cannot be decided on it (unknown).

The patient is the vignette baseline of ``more_trials`` (eligible for NCT06946485 at
``AS_OF``, 60 kg when the course started) with its high-dose course replaced by the one sent,
and the ongoing prednisone 5 mg once a day read, so I4 turns on the course alone.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from shared.clinical.facts import ClinicalFact, FactKind, PatientFacts
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import (
    AS_OF,
    PATIENT_REF,
    RXNORM,
    PatientBuilder,
    ago,
    iso,
)
from tests.unit.eligibility.more_trials import (
    CHT101,
    COURSE_DAYS,
    PREDNISONE_20,
    UCUM,
    daily,
    eligible_for_all,
    maintenance_dose,
)

START, END = ago(COURSE_DAYS[0]), ago(COURSE_DAYS[1])
DRUG_V2 = f"{PREDNISONE_20}^predniSONE 20 MG Oral Tablet^RXN"  # RXE-2 / RXA-5, RxNorm (RXN)
MSH = (
    "MSH|^~\\&|PHARM|CITY-HOSP|TRIALWATCH|CITY-HOSP|20260301080000+0000||{type}|{control}|P|2.5.1"
)
PID = "PID|1||MRN-0042^^^CITY^MR||Roe^Jane||19900412|F"


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S+0000")


def _encoded_order(amount: str, units: str, pattern: str) -> str:
    """RDE^O11: ORC (ORC-5 CM, completed) + RXE + TQ1 over the course."""
    return "\r".join([
        MSH.format(type="RDE^O11^RDE_O11", control="RDE-DOSE"),
        PID,
        f"ORC|RE|PL-1^EHR|FL-1^PHARM||CM||||{_ts(START)}",
        f"RXE||{DRUG_V2}|{amount}||{units}|TAB^tablet^HL70292",
        f"TQ1|1||{pattern}||||{_ts(START)}|{_ts(END)}",
    ]) + "\r"


def _administration(amount: str, units: str) -> str:
    """RAS^O17: one RXA (RXA-20 CP complete, RXA-21 A add) at the course's start."""
    rxa = ["RXA", "0", "1", _ts(START), "", DRUG_V2, amount, units, *[""] * 12, "CP", "A"]
    return "\r".join([
        MSH.format(type="RAS^O17^RAS_O17", control="RAS-DOSE"),
        PID,
        f"ORC|RE|PL-2^EHR|FL-2^PHARM||CM||||{_ts(START)}",
        "|".join(rxa),
    ]) + "\r"


def _baseline() -> PatientBuilder:
    """The vignette baseline without its high-dose course; the maintenance dose is read."""
    builder = eligible_for_all()
    maintenance_dose(builder)
    builder.without(RXNORM, PREDNISONE_20)
    return builder


def _statement(dosage: list[dict[str, object]]) -> PatientFacts:
    builder = _baseline()
    builder.medication(
        PREDNISONE_20, start_days=COURSE_DAYS[0], end_days=COURSE_DAYS[1], dosage=dosage
    )
    return facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))


def _fhir_administration(dose: dict[str, object]) -> PatientFacts:
    builder = _baseline()
    builder.resources.append({
        "resourceType": "MedicationAdministration",
        "id": "ma-gc",
        "status": "completed",
        "medicationCodeableConcept": {"coding": [{
            "system": RXNORM, "code": PREDNISONE_20, "display": "predniSONE 20 MG Oral Tablet",
        }]},
        "subject": {"reference": PATIENT_REF},
        "effectiveDateTime": iso(START),
        "dosage": {"dose": dose, "route": {"text": "oral"}},
    })
    return facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))


def _with_hl7v2(message: str) -> PatientFacts:
    """The baseline's FHIR facts plus the HL7 v2 message's facts (one patient)."""
    patient = facts_from_updates(parse_fhir(_baseline().bundle(), source_system="ehr"))
    sent = tuple(fact for update in parse_hl7v2(message, source_system="pharmacy")
                 for fact in update.facts)
    return patient.model_copy(update={"facts": (*patient.facts, *sent)})


def _course(patient: PatientFacts) -> ClinicalFact:
    (fact,) = [
        f for f in patient.facts
        if f.kind is FactKind.MEDICATION and any(c.code == PREDNISONE_20 for c in f.codes)
    ]
    return fact


def _as_compared(fact: ClinicalFact) -> tuple[object, ...]:
    """What a criterion reads of a medication fact (not its id or provenance)."""
    dose = fact.dose
    return (
        fact.kind,
        frozenset((c.system, c.code) for c in fact.codes),
        fact.status,
        fact.effective_start,
        fact.effective_end,
        None if dose is None else (dose.quantity, dose.unread is None, dose.received),
    )


def _i4(patient: PatientFacts) -> tuple[Outcome, str]:
    decision = evaluate(load_trial(CHT101, "2025-10-03.2"), patient, AS_OF)
    (i4,) = [c for c in decision.criteria if c.id == "I4"]
    return i4.outcome, i4.reason


@pytest.mark.parametrize(
    ("amount", "rxe5", "tq1_3", "dose", "expected"),
    [
        # 1 mg/kg once a day = 1 mg/kg/d: meets ">= 1 mg/kg/day"
        ("1", "mg/kg^milligram per kilogram^UCUM", "Q24H", daily(1, "mg/kg"), Outcome.PASS),
        # 0.8 mg/kg once a day: every glucocorticoid dose on record read, none reaches it
        ("0.8", "mg/kg^milligram per kilogram^UCUM", "Q1D", daily(0.8, "mg/kg"), Outcome.FAIL),
        # 0.5 mg/kg twice a day = 1 mg/kg/d
        ("0.5", "mg/kg^milligram per kilogram^UCUM", "BID", daily(0.5, "mg/kg", times=2),
         Outcome.PASS),
        # as needed (PRN; FHIR Dosage.asNeededBoolean): no regular daily dose, unread
        ("1", "mg/kg^milligram per kilogram^UCUM", "PRN",
         [{**daily(1, "mg/kg")[0], "asNeededBoolean": True}], Outcome.UNKNOWN),
    ],
)
def test_an_encoded_order_and_a_medication_statement_give_one_fact_and_one_outcome(
    amount: str, rxe5: str, tq1_3: str, dose: list[dict[str, object]], expected: Outcome
) -> None:
    hl7v2 = _with_hl7v2(_encoded_order(amount, rxe5, tq1_3))
    fhir = _statement(dose)
    sent_v2, sent_fhir = _course(hl7v2), _course(fhir)
    assert _as_compared(sent_v2)[:5] == _as_compared(sent_fhir)[:5]
    assert sent_v2.dose is not None
    assert sent_fhir.dose is not None
    assert sent_v2.dose.quantity == sent_fhir.dose.quantity
    if expected is not Outcome.UNKNOWN:
        assert sent_v2.dose.quantity is not None
        assert sent_v2.dose.quantity.unit == "mg/kg/d"
    else:
        assert sent_v2.dose.unread is not None
        assert sent_fhir.dose.unread is not None
    outcome_v2, outcome_fhir = _i4(hl7v2)[0], _i4(fhir)[0]
    assert outcome_v2 is outcome_fhir is expected


def test_an_administration_sent_as_rxa_or_medication_administration_is_one_unread_dose() -> None:
    hl7v2 = _with_hl7v2(_administration("1", "mg/kg^milligram per kilogram^UCUM"))
    fhir = _fhir_administration({"value": 1, "unit": "mg/kg", "system": UCUM, "code": "mg/kg"})
    sent_v2, sent_fhir = _course(hl7v2), _course(fhir)
    assert _as_compared(sent_v2) == _as_compared(sent_fhir)
    assert sent_v2.dose is not None
    assert sent_fhir.dose is not None
    assert sent_v2.dose.quantity is None
    assert sent_v2.dose.unread is not None
    assert sent_fhir.dose.unread is not None
    assert "one administration" in sent_fhir.dose.unread.reason
    (outcome_v2, reason_v2), (outcome_fhir, reason_fhir) = _i4(hl7v2), _i4(fhir)
    assert outcome_v2 is outcome_fhir is Outcome.UNKNOWN
    # the same reasoning, each naming the element of its own format that was kept unread
    assert sent_v2.dose.unread.reason in reason_v2
    assert sent_fhir.dose.unread.reason in reason_fhir
    assert reason_v2.replace(sent_v2.dose.unread.reason, "<unread>") == reason_fhir.replace(
        sent_fhir.dose.unread.reason, "<unread>")
