"""HL7 v2.5.1 pharmacy segments as senders write them: RXA (RAS^O17) and RXE (RDE^O11).

v2.5.1 ch. 4A RXA: RXA-3/4 start/end (RXA-4 empty = RXA-3), RXA-5 administered code (CE with a
local code and the RxNorm alternate in components 4-6), RXA-6/7 amount and units, RXA-20
completion status (table 0322), RXA-21 action code (table 0323). ch. 4A RXE: RXE-2 give code,
RXE-3/4/5 give amount min/max and units, with the TQ1 (ch. 4) repeat pattern (table 0335).
Messages carry several segments (PID with repeated identifiers, ORC, NTE, RXR), escape
sequences (\\T\\ for &, \\S\\ for ^) and CR segment ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.facts import ClinicalFact, Demographics, FactKind, PatientFacts
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.hl7v2_medications import NDC
from shared.eligibility.decision import Outcome
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"

MSH_RAS = (
    "MSH|^~\\&|PHARM|CITY-HOSP|TRIALWATCH|CITY-HOSP|20261120083000+0000||RAS^O17^RAS_O17"
    "|RAS0001|P|2.5.1"
)
MSH_RDE = (
    "MSH|^~\\&|PHARM|CITY-HOSP|TRIALWATCH|CITY-HOSP|20261120083000+0000||RDE^O11^RDE_O11"
    "|RDE0001|P|2.5.1"
)
PID = "PID|1||MRN-0042^^^CITY^MR~900123^^^STATE^SS||Roe^Jane||19900412|F"
ORC = "ORC|RE|PL-77^EHR|FL-9001^PHARM||CM||||20261101090000+0000"


def _message(*segments: str) -> str:
    return "\r".join(segments) + "\r"


def _facts(text: str) -> list[ClinicalFact]:
    (update,) = parse_hl7v2(text)
    return list(update.facts)


def _problems(text: str) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_hl7v2(text)
    return [str(problem) for problem in caught.value.problems]


def _rxa(
    *,
    code: str = "CYC500^Cyclophosphamide 500 mg \\T\\ NS^L^3002^cyclophosphamide^RXN",
    start: str = "20261101093000+0000",
    end: str = "",
    amount: str = "750",
    units: str = "mg^milligram^UCUM",
    status: str = "CP",
    action: str = "A",
    sub_ids: tuple[str, str] = ("0", "1"),
) -> str:
    fields = ["RXA", sub_ids[0], sub_ids[1], start, end, code, amount, units]
    fields += [""] * 12  # RXA-8 .. RXA-19
    fields += [status, action]
    return "|".join(fields)


def test_an_administration_is_a_medication_fact_with_the_rxnorm_alternate_and_its_instant() -> None:
    (fact,) = _facts(_message(
        MSH_RAS, PID, ORC, "NTE|1||Given over 1 h\\S\\ no reaction", _rxa(),
        "RXR|IV^Intravenous^HL70162",
    ))
    assert fact.kind is FactKind.MEDICATION
    # CE components 1-3 (local) and 4-6 (RxNorm alternate) are both kept; RXN is RxNorm
    assert [(c.system, c.code) for c in fact.codes] == [("L", "CYC500"), (RXNORM, "3002")]
    assert fact.codes[0].display == "Cyclophosphamide 500 mg & NS"  # \T\ is & (v2.5.1 2.7)
    start = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    # RXA-4 empty: "the date/time of RXA-3 is assumed" (v2.5.1 ch. 4A RXA-4)
    assert (fact.effective_start, fact.effective_end) == (start, start)
    assert fact.status == "completed"
    assert fact.provenance.resource == "HL7v2/RAS0001/RXA/1"
    assert fact.received is not None
    assert (fact.received.value, fact.received.unit) == (
        "750", "mg",
    )
    # one administration is not a daily dose: unread, saying so (as FHIR MedicationAdministration)
    assert fact.dose is not None
    assert fact.dose.quantity is None
    assert fact.dose.unread is not None
    assert fact.dose.unread.path == "RXA[1].6"
    assert "not a daily dose" in fact.dose.unread.reason


@pytest.mark.parametrize("status", ["RE", "NA"])
def test_refused_or_not_administered_is_not_an_exposure_and_says_so(status: str) -> None:
    (fact,) = _facts(_message(MSH_RAS, PID, ORC, _rxa(status=status, amount="0")))
    assert fact.status == "not-done"  # the engine's NOT_TAKEN: no exposure
    (note,) = [n for n in fact.notes if n.path == "RXA[1].20"]
    assert "not an exposure" in note.reason
    assert status in note.reason


def test_partially_administered_or_no_status_is_an_exposure_saying_what_is_known() -> None:
    (partial,) = _facts(_message(MSH_RAS, PID, ORC, _rxa(status="PA")))
    assert partial.status == "stopped"
    (empty,) = _facts(_message(MSH_RAS, PID, ORC, _rxa(status="")))
    assert empty.status == "unknown"  # not in the engine's NOT_TAKEN: still an exposure
    assert any("completion is not stated" in n.reason for n in empty.notes)


def test_units_not_in_ucum_leave_the_amount_unread_with_the_field_path() -> None:
    (fact,) = _facts(_message(MSH_RAS, PID, ORC, _rxa(units="MG^milligram^ISO+")))
    assert fact.dose is not None
    assert fact.dose.unread is not None
    assert fact.dose.unread.path == "RXA[1].7"
    assert "not coded in UCUM" in fact.dose.unread.reason
    assert fact.status == "completed"  # the exposure itself is still read


def test_an_unknown_completion_status_a_missing_code_or_time_is_refused_with_its_path() -> None:
    assert any("RXA[1].20" in p and "0322" in p
               for p in _problems(_message(MSH_RAS, PID, ORC, _rxa(status="XX"))))
    assert any("RXA[1].5" in p for p in _problems(_message(MSH_RAS, PID, ORC, _rxa(code=""))))
    assert any("RXA[1].3" in p for p in _problems(_message(MSH_RAS, PID, ORC, _rxa(start=""))))
    assert any("RXA[1].3" in p
               for p in _problems(_message(MSH_RAS, PID, ORC, _rxa(start="2026-11-01"))))


def test_a_delete_sent_later_withdraws_the_same_administration() -> None:
    (given,) = _facts(_message(MSH_RAS, PID, ORC, _rxa()))
    later = MSH_RAS.replace("RAS0001", "RAS0002").replace("20261120083000", "20261121083000")
    (deleted,) = _facts(_message(later, PID, ORC, _rxa(action="D")))
    assert deleted.fact_id == given.fact_id
    assert deleted.status == "entered-in-error"
    # without an order number a delete cannot find what it deletes: refused
    no_number = "ORC|RE|||CM"
    assert any("RXA[1].21" in p
               for p in _problems(_message(later, PID, no_number, _rxa(action="D"))))


def test_several_administrations_of_one_order_are_told_apart_by_their_sub_ids() -> None:
    facts = _facts(_message(
        MSH_RAS, PID, ORC,
        _rxa(sub_ids=("1", "1"), start="20261101093000+0000"),
        _rxa(sub_ids=("1", "2"), start="20261102093000+0000",
             code="^^^68442^filgrastim^RXN", amount="300", units="ug^microgram^UCUM"),
    ))
    assert len({f.fact_id for f in facts}) == 2
    assert facts[1].codes == (facts[1].codes[0],)
    assert facts[1].codes[0].code == "68442"


def test_ndc_is_mapped_to_fhirs_ndc_uri() -> None:
    (fact,) = _facts(_message(MSH_RAS, PID, ORC, _rxa(code="55513-0546-10^NEUPOGEN^NDC")))
    assert [(c.system, c.code) for c in fact.codes] == [(NDC, "55513-0546-10")]


def test_a_day_precision_start_carries_time_bounds() -> None:
    (fact,) = _facts(_message(MSH_RAS, PID, ORC, _rxa(start="20261101+0000")))
    assert fact.time_bounds is not None
    assert fact.time_bounds.start_earliest == datetime(2026, 11, 1, tzinfo=UTC)
    assert fact.time_bounds.start_latest is not None
    assert fact.time_bounds.start_latest.day == 1
    assert fact.time_bounds.start_latest.hour == 23


def _rxe(minimum: str = "60", maximum: str = "", units: str = "mg^milligram^UCUM",
         code: str = "PRED20^Prednisone 20 mg tab^L^8640^prednisone^RXN",
         quantity_timing: str = "") -> str:
    return "|".join(["RXE", quantity_timing, code, minimum, maximum, units, "TAB^tablet^HL70292"])


def _tq1(pattern: str = "BID", start: str = "20261101+0000", end: str = "") -> str:
    return "|".join(["TQ1", "1", "", pattern, "", "", "", start, end])


def _fhir_daily_dose(value: float, unit: str, frequency: int) -> Any:
    resource = {
        "resourceType": "MedicationRequest", "id": "mr-1", "status": "active",
        "intent": "order", "subject": {"reference": "Patient/p-1"},
        "authoredOn": "2026-11-01T09:00:00Z",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "8640"}]},
        "dosageInstruction": [{
            "doseAndRate": [{"doseQuantity": {"value": value, "system": UCUM, "code": unit}}],
            "timing": {"repeat": {"frequency": frequency, "period": 1, "periodUnit": "d"}},
        }],
    }
    (update,) = parse_fhir(resource, source_system="ehr")
    return update.facts[0].dose


def test_an_encoded_order_gives_the_same_daily_dose_as_the_equivalent_fhir_dosage() -> None:
    (fact,) = _facts(_message(
        MSH_RDE, PID, ORC, _rxe(minimum="30"), "NTE|1||take with food", _tq1("BID"),
        "RXR|PO^Oral^HL70162",
    ))
    assert fact.kind is FactKind.MEDICATION
    assert fact.status == "completed"
    assert fact.dose is not None
    assert fact.dose.quantity is not None
    assert (fact.dose.quantity.value, fact.dose.quantity.unit) == (60.0, "mg/d")
    fhir = _fhir_daily_dose(30, "mg", 2)
    assert fact.dose.quantity == fhir.quantity
    assert fact.effective_start == datetime(2026, 11, 1, tzinfo=UTC)  # TQ1-7


@pytest.mark.parametrize(
    ("rxe", "tq1", "path", "why"),
    [
        (_rxe(minimum="20", maximum="40"), _tq1(), "RXE[1].4", "dose range"),
        (_rxe(units="MG^milligram^ISO+"), _tq1(), "RXE[1].5", "not coded in UCUM"),
        (_rxe(), _tq1("PRN"), "TQ1[1].3", "as needed"),
        (_rxe(), _tq1("Q1W"), "TQ1[1].3", "weekly"),
        (_rxe(units="{tbl}^tablet^UCUM"), _tq1(), "RXE[1].5", "not a mass"),
    ],
)
def test_what_is_not_one_daily_dose_is_unread_with_the_segment_field(
    rxe: str, tq1: str, path: str, why: str
) -> None:
    (fact,) = _facts(_message(MSH_RDE, PID, ORC, rxe, tq1))
    assert fact.dose is not None
    assert fact.dose.quantity is None
    assert fact.dose.unread is not None
    assert (fact.dose.unread.path, why in fact.dose.unread.reason) == (path, True)


def test_the_deprecated_rxe1_interval_and_a_cancelled_order() -> None:
    cancelled = "ORC|CA|PL-77^EHR|FL-9001^PHARM||CA||||20261101090000+0000"
    (fact,) = _facts(_message(
        MSH_RDE, PID, cancelled, _rxe(minimum="5", quantity_timing="1^Q8H^^20261101080000+0000"),
    ))
    assert fact.status == "cancelled"
    assert fact.dose is not None
    assert fact.dose.quantity is not None
    assert fact.dose.quantity.value == 15.0
    assert fact.effective_start == datetime(2026, 11, 1, 8, tzinfo=UTC)


def test_other_message_types_are_still_refused() -> None:
    msh = MSH_RAS.replace("RAS^O17^RAS_O17", "VXU^V04^VXU_V04")
    assert any("MSH.9" in p for p in _problems(_message(msh, PID, ORC, _rxa())))


def _csf_criterion(status: str) -> Outcome:
    """NCT06946485 I6.1 ('without colony-stimulating factor therapy within 2 weeks') for a
    patient whose only record is one RXA of filgrastim (RxNorm 68442 in the alternate)."""
    (update,) = parse_hl7v2(_message(MSH_RAS, PID, ORC, _rxa(
        code="GCSF300^Filgrastim 300 mcg^L^68442^filgrastim^RXN", amount="300",
        units="ug^microgram^UCUM", status=status, start="20261118093000+0000",
    )))
    patient = PatientFacts(demographics=Demographics(), facts=update.facts)
    decision = evaluate(
        load_trial("NCT06946485", "2025-10-03.2"), patient, datetime(2026, 11, 20, tzinfo=UTC)
    )
    (result,) = [c for c in decision.criteria if c.id == "I6.1"]
    return result.outcome


def test_the_engine_reads_an_hl7v2_filgrastim_administration_as_csf_and_a_refusal_as_none() -> None:
    # given two days before: the ANC clause fails whatever the labs (I6.1 fails)
    assert _csf_criterion("CP") is Outcome.FAIL
    # refused: no CSF exposure, I6.1 waits for its labs (unknown, not failed)
    assert _csf_criterion("RE") is Outcome.UNKNOWN


# Non-repeating fields of the pharmacy segments (v2.5.1 ch. 4A RXA, RXE; 4.5.1 ORC; 4.5.4 TQ1):
# a second repetition is not read as if the first were the whole field


@pytest.mark.parametrize(("rxa", "path"), [
    (_rxa(amount="750~1500"), "RXA[1].6"),
    (_rxa(units="mg^milligram^UCUM~g^gram^UCUM"), "RXA[1].7"),
    (_rxa(start="20261101093000+0000~20261102093000+0000"), "RXA[1].3"),
    (_rxa(code="3002^cyclophosphamide^RXN~5640^ibuprofen^RXN"), "RXA[1].5"),
    (_rxa(status="CP~RE"), "RXA[1].20"),
])
def test_a_repeated_non_repeating_administration_field_is_refused_at_its_path(
    rxa: str, path: str
) -> None:
    found = _problems(_message(MSH_RAS, PID, ORC, rxa))
    assert any(p.startswith(path) and "does not repeat" in p for p in found), found


@pytest.mark.parametrize(("segments", "path"), [
    ((_rxe(minimum="60~20"), _tq1()), "RXE[1].3"),
    ((_rxe(code="8640^prednisone^RXN~5640^ibuprofen^RXN"), _tq1()), "RXE[1].2"),
    ((_rxe(), _tq1(start="20261101+0000~20261201+0000")), "TQ1[1].7"),
])
def test_a_repeated_non_repeating_encoded_order_field_is_refused_at_its_path(
    segments: tuple[str, str], path: str
) -> None:
    found = _problems(_message(MSH_RDE, PID, ORC, *segments))
    assert any(p.startswith(path) and "does not repeat" in p for p in found), found
