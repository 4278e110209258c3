"""A result kept unread is never overtaken by an older readable one (issue 9, the rule).

The normaliser keeps a result whose value it could not read as a fact with its code, time and
provenance and ``unread = ReadingNote(path, reason)`` (see ``shared/clinical/README.md``,
"Unread results"). Every criterion that reads the most recent result of that concept is then
``unknown`` and names it; an unread entry is not absence either.

The unread facts here are made from facts the FHIR R4 and HL7 v2 normalisers read, changed the
way the normalisers keep an unreadable value: value removed, ``unread`` set with the input path
(``Bundle.entry[n].resource.valueString``, ``OBX[n].5``) and the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    FactKind,
    PatientFacts,
    Provenance,
    Quantity,
    ReadingNote,
)
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import CriterionResult, Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import list_trials, load_trial
from shared.eligibility.primitives.base import Node
from shared.eligibility.primitives.labs import LabResult, LabThreshold, LabUlnMultiple
from tests.unit.eligibility.fhir_builder import AS_OF, LOINC, SNOMED, TW, eligible_patient
from tests.unit.eligibility.more_trials import CHT101, eligible_for_all

TRIAL = load_trial("NCT06920433", "2025-11-14.1")
UNREAD_PLATELETS = "platelet count of 2026-02-28 could not be read: value '<<10' is not a number"


def _eligible() -> PatientFacts:
    return facts_from_updates(parse_fhir(eligible_patient().bundle(), source_system="vignette"))


def _latest(patient: PatientFacts, system: str, code: str) -> ClinicalFact:
    found = [
        f for f in patient.facts if any(c.system == system and c.code == code for c in f.codes)
    ]
    return max(found, key=lambda f: f.effective_start or datetime.min.replace(tzinfo=UTC))


def _unread_copy(
    fact: ClinicalFact, at: datetime, path: str, reason: str, suffix: str = "unread"
) -> ClinicalFact:
    """``fact`` as the normaliser keeps a newer result whose value it could not read."""
    return fact.model_copy(
        update={
            "fact_id": f"{fact.fact_id[:20]}-{suffix}",
            "effective_start": at,
            "effective_end": None,
            "value_quantity": None,
            "value_code": None,
            "value_boolean": None,
            "interpretation": None,
            "provenance": fact.provenance.model_copy(
                update={"resource": f"{fact.provenance.resource}-{suffix}"}
            ),
            "unread": ReadingNote(path=path, reason=reason),
        }
    )


def _with(patient: PatientFacts, *facts: ClinicalFact) -> PatientFacts:
    return patient.model_copy(update={"facts": (*patient.facts, *facts)})


def _criterion(decision: Decision, criterion_id: str) -> CriterionResult:
    return next(c for c in decision.criteria if c.id == criterion_id)


def test_the_eligible_vignette_is_eligible_before_anything_is_added() -> None:
    assert evaluate(TRIAL, _eligible(), AS_OF).status is Status.ELIGIBLE


def test_a_newer_fhir_platelet_count_kept_unread_is_not_overtaken_by_the_older_180() -> None:
    patient = _eligible()
    older = _latest(patient, LOINC, "777-3")
    unread = _unread_copy(
        older,
        datetime(2026, 2, 28, 7, 0, tzinfo=UTC),
        "Bundle.entry[30].resource.valueString",
        "value '<<10' is not a number",
    )
    decision = evaluate(TRIAL, _with(patient, unread), AS_OF)
    i61 = _criterion(decision, "I6.1")
    assert i61.outcome is Outcome.UNKNOWN
    assert i61.missing == (UNREAD_PLATELETS,)
    assert UNREAD_PLATELETS in i61.reason
    cited = [e for e in i61.evidence if e.fact_id == unread.fact_id]
    assert cited
    assert cited[0].details["unread_path"] == "Bundle.entry[30].resource.valueString"
    assert older.fact_id not in {e.fact_id for e in i61.evidence}
    assert decision.status is Status.UNDETERMINED


HL7_PLATELETS = (
    "MSH|^~\\&|LAB-APP|CITY-LAB|TW|TW|20260228093000+0000||ORU^R01^ORU_R01|MSG-0100|P|2.5.1\r"
    "PID|1||MRN-0042^^^CITY^MR||Roe^Jane||19900510|F\r"
    "OBR|1|ORD-1|FIL-1|57021-8^CBC W Auto Differential panel in Blood^LN|||20260225070000+0000\r"
    "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20260225070000+0000\r"
    "OBR|2|ORD-2|FIL-2|57021-8^CBC W Auto Differential panel in Blood^LN|||20260228070000+0000\r"
    "OBX|1|NM|777-3^Platelets^LN||8|10*9/L|150-400|LL|||F|||20260228070000+0000\r"
)


def test_a_newer_hl7_v2_platelet_count_kept_unread_is_not_overtaken_by_the_older_one() -> None:
    """HL7 v2.5.1 7.4.2: the second OBX's value (OBX-5) kept unread, e.g. OBX-2 missing."""
    v2 = facts_from_updates(parse_hl7v2(HL7_PLATELETS, source_system="lab"))
    readable, newer = sorted(v2.facts, key=lambda f: f.effective_start or AS_OF)
    unread = newer.model_copy(
        update={
            "value_quantity": None,
            "interpretation": None,
            "unread": ReadingNote(
                path="OBX[2].5",
                reason="value '<<10' is not a number",
            ),
        }
    )
    base = _eligible()
    base = base.model_copy(
        update={"facts": tuple(f for f in base.facts if f.codes[0].code != "777-3")}
    )
    # control: the v2 result read exactly passes I6.1
    assert _criterion(evaluate(TRIAL, _with(base, readable), AS_OF), "I6.1").outcome is (
        Outcome.PASS
    )
    decision = evaluate(TRIAL, _with(base, readable, unread), AS_OF)
    i61 = _criterion(decision, "I6.1")
    assert i61.outcome is Outcome.UNKNOWN
    assert i61.missing == (UNREAD_PLATELETS,)
    assert decision.status is Status.UNDETERMINED


def test_an_unread_result_older_than_a_readable_one_does_not_matter() -> None:
    patient = _eligible()
    latest = _latest(patient, LOINC, "777-3")
    older = _unread_copy(
        latest,
        (latest.effective_start or AS_OF) - timedelta(days=2),
        "Bundle.entry[30].resource.valueString",
        "value '<<10' is not a number",
    )
    decision = evaluate(TRIAL, _with(patient, older), AS_OF)
    assert _criterion(decision, "I6.1").outcome is Outcome.PASS
    assert decision.status is Status.ELIGIBLE


def test_a_newer_unread_hcg_leaves_the_pregnancy_criteria_unknown() -> None:
    patient = _eligible()
    unread = _unread_copy(
        _latest(patient, LOINC, "2106-3"),
        AS_OF - timedelta(hours=6),
        "Bundle.entry[31].resource.valueCodeableConcept",
        "no coding or text the product knows ('Equivocal')",
    )
    decision = evaluate(TRIAL, _with(patient, unread), AS_OF)
    text = (
        "hCG pregnancy test (urine or serum) of 2026-03-01 could not be read:"
        " no coding or text the product knows ('Equivocal')"
    )
    assert text in _criterion(decision, "I8").missing
    assert _criterion(decision, "E12").outcome is Outcome.UNKNOWN
    assert decision.status is Status.UNDETERMINED


def test_an_unread_condition_is_not_absence_of_the_condition() -> None:
    patient = _eligible()
    allergy = ClinicalFact(
        fact_id="anaphylaxis-unread",
        kind=FactKind.CONDITION,
        codes=(Coding(system=SNOMED, code="39579001"),),
        effective_start=AS_OF - timedelta(days=100),
        provenance=Provenance(source_system="ehr", format="fhir-r4", resource="Condition/c9"),
        unread=ReadingNote(
            path="Bundle.entry[2].resource.clinicalStatus",
            reason="clinicalStatus 'maybe' is not in the FHIR R4 condition-clinical code system",
        ),
    )
    decision = evaluate(TRIAL, _with(patient, allergy), AS_OF)
    e1 = _criterion(decision, "E1")
    assert e1.outcome is Outcome.UNKNOWN
    assert any("could not be read" in m for m in e1.missing)


def test_a_newer_unread_clinician_statement_is_not_overtaken_by_the_older_one() -> None:
    patient = _eligible()
    unread = _unread_copy(
        _latest(patient, TW, "lactating"),
        AS_OF - timedelta(hours=1),
        "Bundle.entry[40].resource.valueString",
        "text 'probably' is not a yes/no answer",
    )
    decision = evaluate(TRIAL, _with(patient, unread), AS_OF)
    assert _criterion(decision, "I8").outcome is Outcome.UNKNOWN
    assert decision.status is Status.UNDETERMINED


def test_a_newer_unread_creatinine_leaves_crcl_unknown_and_no_older_documented_crcl_stands_in() -> (
    None
):
    patient = _eligible()
    creatinine = _latest(patient, LOINC, "2160-0")
    documented = ClinicalFact(
        fact_id="crcl-documented",
        kind=FactKind.OBSERVATION,
        codes=(Coding(system=TW, code="crcl-cockcroft-gault"),),
        effective_start=(creatinine.effective_start or AS_OF) - timedelta(days=1),
        value_quantity={"value": 95.0, "unit": "mL/min"},  # type: ignore[arg-type]
        provenance=Provenance(source_system="ehr", format="fhir-r4", resource="Observation/crcl"),
    )
    unread = _unread_copy(
        creatinine,
        AS_OF - timedelta(days=1),
        "OBX[3].6",
        "unit 'mg/dLL' is not UCUM",
    )
    decision = evaluate(TRIAL, _with(patient, documented, unread), AS_OF)
    i63 = _criterion(decision, "I6.3")
    assert i63.outcome is Outcome.UNKNOWN
    assert (
        "serum creatinine of 2026-02-28 could not be read: unit 'mg/dLL' is not UCUM" in i63.missing
    )


def test_a_newer_unread_exposure_leaves_the_washout_unknown() -> None:
    patient = _eligible()
    mmf = next(f for f in patient.facts if f.kind is FactKind.MEDICATION and f.effective_end)
    unread = _unread_copy(
        mmf,
        AS_OF - timedelta(days=3),
        "Bundle.entry[50].resource.effectivePeriod.end",
        "end '2026-02-3' is not a FHIR dateTime",
    )
    decision = evaluate(TRIAL, _with(patient, unread), AS_OF)
    e11 = _criterion(decision, "E11")
    assert e11.outcome is Outcome.UNKNOWN
    assert e11.missing == (
        "mycophenolate mofetil of 2026-02-26 could not be read:"
        " end '2026-02-3' is not a FHIR dateTime",
    )


def _latest_readers(node: Node) -> set[str]:
    found: set[str] = set()
    if isinstance(node, LabThreshold | LabUlnMultiple | LabResult):
        found.add(node.concept.name)
    for child in node.children():
        found |= _latest_readers(child)
    return found


def _analytes() -> list[str]:
    """Every concept a criterion reads as its most recent result, present in the vignette."""
    patient = _eligible()
    read = set().union(*(_latest_readers(c.node) for c in TRIAL.criteria))
    present = []
    for name in sorted(read):
        concept = TRIAL.tables.concept(name)
        if any(f"{c.system}|{c.code}" in concept.keys for f in patient.facts for c in f.codes):
            present.append(name)
    return present


ANALYTES = _analytes()


def test_the_property_covers_every_laboratory_criterion_of_the_vignette() -> None:
    assert {"platelets", "alt", "hcg", "hemoglobin", "neutrophils", "hbsag"} <= set(ANALYTES)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(ANALYTES),
    hours_before=st.integers(min_value=1, max_value=36),
    path=st.sampled_from(
        [
            "Bundle.entry[7].resource.valueString",
            "Bundle.entry[7].resource.valueQuantity",
            "OBX[3].5",
        ]
    ),
    reason=st.sampled_from(
        ["value '<<10' is not a number", "unit 'K/uLL' is not UCUM", "OBX-2 is empty"]
    ),
)
def test_property_an_unreadable_newer_result_stops_any_criterion_passing_on_the_older(
    name: str, hours_before: int, path: str, reason: str
) -> None:
    patient = _eligible()
    concept = TRIAL.tables.concept(name)
    matching = [
        f for f in patient.facts if any(f"{c.system}|{c.code}" in concept.keys for c in f.codes)
    ]
    latest = max(matching, key=lambda f: f.effective_start or AS_OF)
    at = AS_OF - timedelta(hours=hours_before)
    assert latest.effective_start is not None
    assert latest.effective_start < at
    unread = _unread_copy(latest, at, path, reason)
    decision = evaluate(TRIAL, _with(patient, unread), AS_OF)
    assert decision.status is not Status.ELIGIBLE
    readers = [c for c in decision.criteria if any(e.fact_id == unread.fact_id for e in c.evidence)]
    assert readers, f"no criterion names the unread {name}"
    for criterion in readers:
        assert latest.fact_id not in {e.fact_id for e in criterion.evidence} or (
            criterion.outcome is not Outcome.PASS
        )
        if criterion.outcome is Outcome.UNKNOWN:
            assert any(reason in m for m in criterion.missing)


HL7_UNREADABLE = (
    "MSH|^~\\&|LAB-APP|CITY-LAB|TW|TW|20260228093000+0000||ORU^R01^ORU_R01|MSG-0200|P|2.5.1\r"
    "PID|1||MRN-0042^^^CITY^MR||Roe^Jane||19900510|F\r"
    "OBR|1|ORD-1|FIL-1|57021-8^CBC^LN|||20260225070000+0000\r"
    "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20260225070000+0000\r"
    "OBR|2|ORD-2|FIL-2|57021-8^CBC^LN|||20260228070000+0000\r"
    "OBX|1|ST|777-3^Platelets^LN||<<10|10*9/L|150-400|LL|||F|||20260228070000+0000\r"
)


def test_an_hl7_v2_st_value_the_normaliser_keeps_unread_leaves_i6_1_unknown_end_to_end() -> None:
    """HL7 v2.5.1 2A.3.71 ST "<<10" is no number, bound or word: the normaliser keeps the OBX
    unread (path OBX[n].5), and the engine does not fall back to the older 180."""
    base = _eligible()
    base = base.model_copy(
        update={"facts": tuple(f for f in base.facts if f.codes[0].code != "777-3")}
    )
    v2 = facts_from_updates(parse_hl7v2(HL7_UNREADABLE, source_system="lab"))
    unread = [f for f in v2.facts if f.unread is not None]
    assert len(unread) == 1
    decision = evaluate(TRIAL, _with(base, *v2.facts), AS_OF)
    i61 = _criterion(decision, "I6.1")
    assert i61.outcome is Outcome.UNKNOWN
    (missing,) = i61.missing
    assert missing.startswith("platelet count of 2026-02-28 could not be read: ")
    assert "'<<10'" in missing
    assert decision.status is Status.UNDETERMINED


def _every_trial_analytes() -> list[tuple[str, str]]:
    """(trial, concept) for every concept any trial reads as its most recent result, present
    in the patient eligible for all three trials."""
    patient = facts_from_updates(parse_fhir(eligible_for_all().bundle(), source_system="v"))
    found = []
    for trial_id in sorted(list_trials()):
        trial = load_trial(trial_id)
        read = set().union(*(_latest_readers(c.node) for c in trial.criteria))
        for name in sorted(read):
            keys = trial.tables.concept(name).keys
            if any(f"{c.system}|{c.code}" in keys for f in patient.facts for c in f.codes):
                found.append((trial_id, name))
    return found


EVERY_TRIAL_ANALYTES = _every_trial_analytes()


def test_every_trial_has_laboratory_criteria_in_the_property() -> None:
    assert {t for t, _ in EVERY_TRIAL_ANALYTES} == set(list_trials())


@settings(max_examples=60, deadline=None)
@given(
    pick=st.sampled_from(EVERY_TRIAL_ANALYTES),
    hours_before=st.integers(min_value=1, max_value=36),
)
def test_property_in_every_trial_an_unreadable_newer_result_stops_a_pass_on_the_older(
    pick: tuple[str, str], hours_before: int
) -> None:
    trial_id, name = pick
    trial = load_trial(trial_id)
    patient = facts_from_updates(parse_fhir(eligible_for_all().bundle(), source_system="v"))
    keys = trial.tables.concept(name).keys
    matching = [f for f in patient.facts if any(f"{c.system}|{c.code}" in keys for c in f.codes)]
    latest = max(matching, key=lambda f: f.effective_start or AS_OF)
    at = AS_OF - timedelta(hours=hours_before)
    assert latest.effective_start is not None
    assert latest.effective_start < at
    unread = _unread_copy(latest, at, "OBX[2].5", "value '<<10' is not a number")
    before = evaluate(trial, patient, AS_OF)
    after = evaluate(trial, _with(patient, unread), AS_OF)
    assert before.status is Status.ELIGIBLE
    assert after.status is not Status.ELIGIBLE
    for criterion in after.criteria:
        if any(e.fact_id == unread.fact_id for e in criterion.evidence):
            assert criterion.outcome is not Outcome.PASS or latest.fact_id not in {
                e.fact_id for e in criterion.evidence
            }


def test_a_newer_unread_bilag_grade_is_not_overtaken_by_the_older_grade() -> None:
    patient = facts_from_updates(parse_fhir(eligible_for_all().bundle(), source_system="v"))
    renal = _latest(patient, TW, "bilag-2004-renal")
    unread = _unread_copy(
        renal,
        AS_OF - timedelta(days=1),
        "Bundle.entry[60].resource.valueCodeableConcept",
        "grade 'A?' is not one of A-E",
    )
    trial = load_trial(CHT101)
    assert _criterion(evaluate(trial, patient, AS_OF), "I3").outcome is Outcome.PASS
    i3 = _criterion(evaluate(trial, _with(patient, unread), AS_OF), "I3")
    assert i3.outcome is Outcome.UNKNOWN
    assert any("renal grade of 2026-02-28 could not be read" in m for m in i3.missing)


def test_a_newer_result_with_a_code_instead_of_a_number_is_not_overtaken_by_the_older_one() -> None:
    """FHIR R4 Observation.valueCodeableConcept "Positive" for a platelet count: no number, so
    I6.1 cannot be judged on it, and the older 180 is no longer the most recent result."""
    builder = eligible_patient()
    builder.observation(
        LOINC,
        "777-3",
        AS_OF - timedelta(days=1),
        coded={"system": LOINC, "code": "LA6576-8", "display": "Positive"},
    )
    decision = evaluate(
        TRIAL, facts_from_updates(parse_fhir(builder.bundle(), source_system="v")), AS_OF
    )
    i61 = _criterion(decision, "I6.1")
    assert i61.outcome is Outcome.UNKNOWN
    (missing,) = i61.missing
    assert missing.startswith("platelet count of 2026-02-28 could not be read: the coded value")
    assert missing.endswith("is not a number in 10*9/L")
    assert decision.status is Status.UNDETERMINED


def test_a_newer_result_in_a_unit_the_concept_does_not_take_is_not_overtaken() -> None:
    patient = _eligible()
    older = _latest(patient, LOINC, "718-7")
    other_unit = older.model_copy(
        update={
            "fact_id": "hb-g-dl",
            "effective_start": AS_OF - timedelta(days=1),
            "value_quantity": Quantity(value=11.0, unit="g/dL"),
            "provenance": older.provenance.model_copy(update={"resource": "Observation/hb2"}),
        }
    )
    i61 = _criterion(evaluate(TRIAL, _with(patient, other_unit), AS_OF), "I6.1")
    assert i61.outcome is Outcome.UNKNOWN
    assert i61.missing == ("hemoglobin of 2026-02-28 could not be read: unit 'g/dL' is not 'g/L'",)
