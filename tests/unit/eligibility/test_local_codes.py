"""A coded result means only what its code system says (FHIR R4 Coding: "system: the
identification of the code system that defines the meaning of the symbol in the code"; HL7
v2.5.1 2A.3.13 CWE: CWE-3 names the coding system of CWE-1, and table 0396 "L" / "99zzz" are
local codes whose meaning only the sender's own code list gives).

A site-local code ``POS`` or ``NEG`` is not read as positive or negative by its spelling: the
criterion reading it is unknown and names the system, unless the qualitative table maps that
system's code (``qualitative.yaml`` ``local_codes``). The inputs are built as senders send them:
an HL7 v2.5.1 ORU^R01 with ``OBX-5`` CWE ``NEG^Negative^L``, and a FHIR R4 Observation with a
``valueCodeableConcept`` whose only coding is in the lab's own code system, plus ``text``.

Also (the rule, COMMON.md): a newer result that could not be read never lets an older one decide,
even when the newer one arrived with a code the normaliser kept as sent (SNOMED CT 42425007
|Equivocal|) or an interpretation flag that says neither positive nor negative.
"""

from __future__ import annotations

from typing import Any

from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    Demographics,
    FactKind,
    PatientFacts,
    Provenance,
    Sex,
)
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.qualitative import build_tables, coded_answer
from shared.clinical.state import facts_from_updates
from shared.eligibility.context import Context, Trace
from shared.eligibility.decision import CriterionResult, Decision, Outcome, Status
from shared.eligibility.durations import parse_duration
from shared.eligibility.engine import build_index, evaluate
from shared.eligibility.loader import load_trial
from shared.eligibility.logic import Truth
from shared.eligibility.primitives.bilag import BilagGrades
from shared.eligibility.scores.common import limit_state
from tests.unit.eligibility.fhir_builder import (
    AS_OF,
    LOINC,
    POSITIVE,
    SNOMED,
    TW,
    ago,
    eligible_patient,
)

TRIAL = load_trial("NCT06920433", "2025-11-14.1")
LAB_CODES = "https://lab.example-hospital.org/fhir/CodeSystem/result-codes"


def _criterion(decision: Decision, criterion_id: str) -> CriterionResult:
    return next(c for c in decision.criteria if c.id == criterion_id)


def _facts(bundle: dict[str, Any]) -> PatientFacts:
    return facts_from_updates(parse_fhir(bundle, source_system="vignette"))


def _with(patient: PatientFacts, *more: PatientFacts) -> PatientFacts:
    facts = tuple(f for other in more for f in other.facts)
    return patient.model_copy(update={"facts": (*patient.facts, *facts)})


def _hl7_hcg(value: str, value_type: str = "CWE") -> PatientFacts:
    """An ORU^R01 as a US reference lab sends a urine hCG: OBX-5 in the lab's local codes."""
    message = (
        "MSH|^~\\&|LAB-APP|CITY-LAB|TW|TW|20260301060000+0000||ORU^R01^ORU_R01|MSG-0300|P|2.5.1\r"
        "PID|1||MRN-0042^^^CITY^MR||Roe^Jane||19900510|F\r"
        "OBR|1|ORD-1|FIL-1|2106-3^hCG Ql Ur^LN|||20260301050000+0000\r"
        f"OBX|1|{value_type}|2106-3^Choriogonadotropin (pregnancy test) [Presence] in Urine^LN"
        f"||{value}||Negative|N|||F|||20260301050000+0000\r"
    )
    return facts_from_updates(parse_hl7v2(message, source_system="lab"))


def test_control_the_eligible_vignette_reads_its_snomed_negative_hcg() -> None:
    decision = evaluate(TRIAL, _facts(eligible_patient().bundle()), AS_OF)
    assert decision.status is Status.ELIGIBLE


def test_a_newer_hl7_hcg_neg_in_local_codes_is_not_read_as_negative() -> None:
    """CWE ``NEG^Negative^L``: "NEG" in table 0396 "L" (local) was read as a negative hCG, and
    the patient called eligible on a code nobody had defined for TrialWatch."""
    patient = _facts(eligible_patient().without(LOINC, "2106-3").bundle())
    decision = evaluate(TRIAL, _with(patient, _hl7_hcg("NEG^Negative^L")), AS_OF)
    e12 = _criterion(decision, "E12")
    assert e12.outcome is Outcome.UNKNOWN
    (missing,) = [m for m in e12.missing if "could not be read" in m]
    assert "code system 'L'" in missing
    assert "NEG" in missing
    assert decision.status is Status.UNDETERMINED


def test_a_newer_hl7_hcg_pos_in_local_codes_is_not_read_as_positive() -> None:
    patient = _facts(eligible_patient().bundle())
    decision = evaluate(TRIAL, _with(patient, _hl7_hcg("POS^Positive^L")), AS_OF)
    e12 = _criterion(decision, "E12")
    assert e12.outcome is Outcome.UNKNOWN
    assert any("code system 'L'" in m for m in e12.missing)
    assert decision.status is Status.UNDETERMINED


def test_a_fhir_hcg_coded_in_the_labs_own_system_with_text_is_not_read_by_its_code() -> None:
    b = eligible_patient().without(LOINC, "2106-3")
    b.observation(LOINC, "2106-3", ago(1), coded={"system": LAB_CODES, "code": "NEG",
                                                   "display": "Negative"})
    b.resources[-1]["valueCodeableConcept"]["text"] = "Negative"
    decision = evaluate(TRIAL, _facts(b.bundle()), AS_OF)
    e12 = _criterion(decision, "E12")
    assert e12.outcome is Outcome.UNKNOWN
    assert any(f"code system '{LAB_CODES}'" in m for m in e12.missing)
    assert decision.status is Status.UNDETERMINED


def test_a_local_code_is_read_only_through_a_mapping_for_its_system() -> None:
    local = Coding(system="L", code="POS", display="Positive")
    assert coded_answer(local) is None
    tables = build_tables({
        "results": [{"snomed": "10828004", "display": "Positive", "words": [], "loinc": []}],
        "scores": [],
        "local_codes": [{"system": "L", "source": "CITY-LAB result code list, 2026",
                         "codes": {"POS": "10828004"}}],
    })
    answer = tables.codes[("L", "POS")]
    assert answer.coding == Coding(system=SNOMED, code="10828004", display="Positive")
    assert ("L", "NEG") not in tables.codes


def test_the_shipped_table_maps_no_local_system() -> None:
    assert coded_answer(Coding(system=LAB_CODES, code="NEG", display="Negative")) is None
    assert coded_answer(Coding(system="99LAB", code="POS")) is None
    assert coded_answer(Coding(system="", code="POS")) is None


# --- a newer result that could not be read never lets an older one decide ---------------------


def test_a_newer_equivocal_hcg_does_not_let_the_older_negative_decide() -> None:
    b = eligible_patient()  # negative hCG 2 days ago
    b.observation(LOINC, "2106-3", ago(0.5),
                  coded={"system": SNOMED, "code": "42425007", "display": "Equivocal"})
    decision = evaluate(TRIAL, _facts(b.bundle()), AS_OF)
    e12 = _criterion(decision, "E12")
    assert e12.outcome is Outcome.UNKNOWN
    assert any("42425007" in m and "could not be read" in m for m in e12.missing)
    assert decision.status is Status.UNDETERMINED


def test_a_newer_equivocal_hbsag_does_not_let_the_older_positive_decide() -> None:
    b = eligible_patient().without(LOINC, "5196-1")
    b.observation(LOINC, "5196-1", ago(30), coded=POSITIVE)
    b.observation(LOINC, "5196-1", ago(10),
                  coded={"system": SNOMED, "code": "42425007", "display": "Equivocal"})
    decision = evaluate(TRIAL, _facts(b.bundle()), AS_OF)
    e8 = _criterion(decision, "E8")
    # before: the older positive HBsAg was cited "read as positive" and decided its branch
    assert not [e for e in e8.evidence if e.note == "read as positive"], e8.evidence
    assert any("42425007" in m and "could not be read" in m for m in e8.missing), e8.missing
    assert e8.outcome is Outcome.UNKNOWN


def test_a_newer_hcg_with_only_an_indeterminate_flag_does_not_let_the_older_negative_decide() -> (
    None
):
    """FHIR R4 Observation.interpretation IND (v3 ObservationInterpretation "Indeterminate")
    and no value: neither positive nor negative."""
    b = eligible_patient()  # negative hCG 2 days ago
    b.observation(LOINC, "2106-3", ago(0.5))
    b.resources[-1]["interpretation"] = [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "code": "IND"}]}]
    decision = evaluate(TRIAL, _facts(b.bundle()), AS_OF)
    e12 = _criterion(decision, "E12")
    assert e12.outcome is Outcome.UNKNOWN
    assert any("'IND'" in m for m in e12.missing), e12.missing
    assert decision.status is Status.UNDETERMINED


def _coded(code: str, system: str, days: float, display: str) -> ClinicalFact:
    return ClinicalFact(
        fact_id=f"dsdna-{code}-{days}",
        kind=FactKind.OBSERVATION,
        codes=(Coding(system=LOINC, code="5130-0"),),
        status="final",
        effective_start=ago(days),
        value_code=Coding(system=system, code=code, display=display),
        provenance=Provenance(source_system="lab", format="hl7v2", resource=f"OBX-{days}"),
    )


def test_a_score_item_above_uln_is_not_settled_by_an_older_result_behind_an_unread_one() -> None:
    """SLEDAI-2K "increased DNA binding" over its window (``limit_state``, not ``ever``): a newer
    anti-dsDNA coded Equivocal (SNOMED CT 42425007) or NEG in local codes was skipped, and the
    older positive scored the item as present."""
    concept = TRIAL.tables.concept("anti_dsdna")
    window = parse_duration("P30D")
    older = _coded("10828004", SNOMED, 20, "Positive")
    for newer in (_coded("42425007", SNOMED, 5, "Equivocal"), _coded("NEG", "L", 5, "Negative")):
        patient = PatientFacts(demographics=Demographics(sex=Sex.FEMALE), facts=(older, newer))
        ctx = Context(as_of=AS_OF, index=build_index(TRIAL, patient), tables=TRIAL.tables)
        trace = Trace()
        state = limit_state(ctx, concept, window, trace, below_lln=False, ever=False)
        assert state is None, newer.value_code
        assert any(newer.value_code.code in m for m in trace.missing), trace.missing
        # "ever": the older positive still proves it was once above
        ever = limit_state(ctx, concept, None, Trace(), below_lln=False, ever=True)
        assert ever is Truth.TRUE


# --- a yes/no statement coded in a local system -------------------------------------------------

V2_0136 = "http://terminology.hl7.org/CodeSystem/v2-0136"


def _lactating(coded: dict[str, str]) -> Decision:
    """She was documented lactating 2 days ago; a newer statement arrives coded ``coded``."""
    b = eligible_patient().without(TW, "lactating")
    b.fact("lactating", True, days=2)
    b.observation(TW, "lactating", ago(0.5), coded=coded)
    return evaluate(TRIAL, _facts(b.bundle()), AS_OF)


def test_a_newer_statement_coded_n_in_a_local_system_is_not_read_as_no() -> None:
    """"N" in a site's own yes/no list was read as No by its spelling, so the older Yes was
    overruled and she was eligible."""
    decision = _lactating({"system": "https://ehr.example-hospital.org/yes-no", "code": "N"})
    i8 = _criterion(decision, "I8")
    assert i8.outcome is Outcome.UNKNOWN
    assert any("https://ehr.example-hospital.org/yes-no" in m for m in i8.missing), i8.missing
    assert decision.status is Status.UNDETERMINED


def test_a_newer_statement_with_a_code_that_is_no_yes_no_does_not_let_the_older_decide() -> None:
    decision = _lactating({"system": SNOMED, "code": "42425007", "display": "Equivocal"})
    i8 = _criterion(decision, "I8")
    assert i8.outcome is Outcome.UNKNOWN
    assert any("42425007" in m for m in i8.missing), i8.missing


def test_a_newer_statement_coded_no_in_hl7_table_0136_is_read_as_no() -> None:
    """HL7 table 0136 (Yes/no indicator) N, and SNOMED CT 373067005 |No|: read."""
    for coded in ({"system": V2_0136, "code": "N"}, {"system": SNOMED, "code": "373067005"}):
        assert _criterion(_lactating(coded), "I8").outcome is Outcome.PASS, coded


# --- answers defined by TrialWatch's own code system (ISN/RPS class) ---------------------------


def _biopsies(newer: dict[str, str]) -> Decision:
    """Class II (TrialWatch code system) 60 days ago, a newer biopsy coded ``newer``."""
    b = eligible_patient().without(TW, "isn-rps-2018-class")
    b.observation(TW, "isn-rps-2018-class", ago(60), coded={"system": TW, "code": "II"})
    b.observation(TW, "isn-rps-2018-class", ago(10), coded=newer)
    return evaluate(TRIAL, _facts(b.bundle()), AS_OF)


def _biopsy_criterion(decision: Decision) -> CriterionResult:
    return next(c for c in decision.criteria
                if any("renal biopsy" in m or "ISN/RPS" in m for m in (*c.missing, c.reason)))


def test_a_newer_biopsy_class_iv_in_a_local_code_system_is_not_read_as_class_iv() -> None:
    """"IV" in a pathology system's own codes was read as ISN/RPS class IV: the older class II
    (not eligible) was overruled and she was eligible."""
    decision = _biopsies({"system": "urn:oid:1.2.3.4.5", "code": "IV"})
    assert decision.status is Status.UNDETERMINED
    criterion = _biopsy_criterion(decision)
    assert criterion.outcome is Outcome.UNKNOWN
    assert any("urn:oid:1.2.3.4.5" in m for m in criterion.missing), criterion.missing


def test_control_a_newer_biopsy_class_iv_in_trialwatch_codes_is_read() -> None:
    assert _biopsies({"system": TW, "code": "IV"}).status is Status.ELIGIBLE


def test_a_bilag_grade_a_in_a_local_code_system_is_not_read_as_grade_a() -> None:
    """BILAG-2004 grades are TrialWatch codes: a local "A" made I3 (>= 1 domain A) true."""
    trial = load_trial("NCT06946485", "2025-10-03.1")
    concept = trial.tables.concept("bilag_2004_domain")
    fact = ClinicalFact(
        fact_id="bilag-renal-local",
        kind=FactKind.OBSERVATION,
        codes=(Coding(system=TW, code="bilag-2004-renal"),),
        status="final",
        effective_start=ago(3),
        value_code=Coding(system="L", code="A"),
        provenance=Provenance(source_system="ehr", format="hl7v2", resource="OBX-bilag"),
    )
    patient = PatientFacts(demographics=Demographics(sex=Sex.FEMALE), facts=(fact,))
    ctx = Context(as_of=AS_OF, index=build_index(trial, patient), tables=trial.tables)
    trace = Trace()
    node = BilagGrades(concept, 1, 2, parse_duration("P30D"))
    assert node.evaluate(ctx, trace) is Truth.UNKNOWN
    assert any("code system 'L'" in m for m in trace.missing), trace.missing
