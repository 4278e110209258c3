"""A decision as a person reads it: needs once each, human units, what changed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import (
    CriterionKind,
    CriterionResult,
    Decision,
    Evidence,
    Outcome,
    Status,
    TrialRef,
)
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from shared.eligibility.readable import (
    _needed,
    clean_reason,
    concept_labels,
    deceased,
    evidence_phrase,
    evidence_value,
    headline,
    human_time,
    human_unit,
    human_value,
    machine_time,
    need_words,
    needs,
    plain_words,
    times_in_text,
)
from shared.eligibility.report import render_text
from tests.unit.eligibility.fhir_builder import AS_OF, LOINC, eligible_patient

TRIAL = load_trial("NCT06920433", "2025-11-14.1")
LABELS = concept_labels((c.label, c.keys) for c in TRIAL.tables.concepts.values())
PARIS = ZoneInfo("Europe/Paris")
UCUM = "http://unitsofmeasure.org"


def _decide(builder, at: datetime = AS_OF) -> Decision:  # type: ignore[no-untyped-def]
    return evaluate(TRIAL, facts_from_updates(parse_fhir(builder.bundle(), source_system="t")), at)


def test_units_are_written_as_on_a_lab_report() -> None:
    # UCUM 2.1 section 2.3.4: "10*9" is ten to the ninth
    assert human_unit("10*9/L") == "x10^9/L"
    assert human_unit("[IU]/mL") == "IU/mL"
    assert human_unit("umol/L") == "µmol/L"
    assert human_unit("g/L") == "g/L"
    assert human_value(150.0, "10*9/L") == "150 x10^9/L"
    assert human_value(0.5, "g/L") == "0.5 g/L"
    assert human_value("260385009") == "negative"  # SNOMED CT 260385009 |Negative|
    assert human_value(True) == "yes"


def test_each_missing_item_is_listed_once_with_every_criterion_it_settles() -> None:
    decision = _decide(eligible_patient().without(LOINC, "777-3"))
    listed = needs(decision)
    assert [n.item for n in listed] == ["platelet count within 30 days"]
    assert listed[0].unblocks == ("I6", "I6.1")


def test_a_repeated_clause_is_said_once_and_no_file_path_is_shown() -> None:
    reason = ("x: cannot be decided — drug A on record; ULN 40 U/L (default table "
              "(tables/uln_defaults.yaml)); drug A on record; 0.5 10*9/L. needs: y")
    assert clean_reason(reason) == (
        "x: cannot be decided — drug A on record; ULN 40 U/L (default table); 0.5 x10^9/L."
        " needs: y")


def test_the_headline_of_a_newly_eligible_patient_names_the_result_that_changed_it() -> None:
    before = _decide(eligible_patient().without(LOINC, "777-3"))
    after = _decide(eligible_patient().without(LOINC, "777-3").lab("777-3", 150, "10*9/L", 1))
    assert after.status is Status.ELIGIBLE
    assert headline(before, after, LABELS, PARIS) == (
        "now eligible: I6, I6.1 met, platelet count 150 x10^9/L on 28 Feb")


def test_the_headline_of_a_washout_names_the_drug_and_when_it_ends() -> None:
    before = _decide(eligible_patient())
    rituximab = eligible_patient().medication("121191", start_days=100, end_days=89)
    after = _decide(rituximab)
    assert after.status is Status.INELIGIBLE
    said = headline(before, after, LABELS, PARIS)
    assert said.startswith("no longer eligible: E11 rituximab 2 Dec 2025, washout until ")
    assert "2027" in said or "2026" in said


def test_a_patient_eligible_at_first_screening_is_not_headlined_by_the_first_criterion() -> None:
    decision = _decide(eligible_patient())
    assert decision.status is Status.ELIGIBLE
    assert headline(None, decision, LABELS, PARIS) == (
        "now eligible: at first screening, all 9 inclusion criteria met (12 checks: I6 in"
        " parts I6.1–I6.3); none of the 13 exclusions applies"), (
        "I1-I9 (I6.1-I6.3 are I6's sub-criteria, shown as rows of their own), E1-E13")
    assert len(decision.criteria) == 25, "the engine reports each sub-criterion as well"


def test_without_a_change_the_headline_is_just_the_status() -> None:
    decision = _decide(eligible_patient().without(LOINC, "777-3"))
    assert headline(decision, decision, LABELS, PARIS) == "undetermined"


def test_an_unknown_criterion_without_missing_items_still_needs_something() -> None:
    decision = Decision(
        trial=TrialRef(id="T", version="1"), as_of=datetime(2026, 1, 1, tzinfo=UTC),
        status=Status.UNDETERMINED, engine_version="e",
        criteria=(CriterionResult(id="I1", kind=CriterionKind.INCLUSION, outcome=Outcome.UNKNOWN,
                                  reason="age: birth date not recorded",
                                  evidence=(Evidence(value=1.0, unit="1"),)),),
    )
    assert needs(decision)[0].item == "age: birth date not recorded"
    assert needs(decision)[0].unblocks == ("I1",)


def _evidence_of(decision: Decision, criterion_id: str, code: str) -> Evidence:
    [criterion] = [c for c in decision.criteria if c.id == criterion_id]
    return next(e for e in criterion.evidence if e.code == code)


def _with_lab(code: str, quantity: dict[str, object]):  # type: ignore[no-untyped-def]
    """The eligible patient with ``code``'s result replaced by one sent as ``quantity``; the
    value is a Decimal as the FHIR JSON reader keeps it (``json.loads(parse_float=Decimal)``),
    so "0.50" keeps its digits as it would on the wire."""
    builder = eligible_patient().without(LOINC, code).lab(code, 1.0, "g/L", 2)
    builder.resources[-1]["valueQuantity"] = quantity
    return builder


def test_a_value_sent_with_trailing_zeros_is_shown_with_its_digits() -> None:
    sent = {"value": Decimal("0.50"), "unit": "g/L", "system": UCUM, "code": "g/L"}
    decision = _decide(_with_lab("4485-9", sent))
    c3 = _evidence_of(decision, "I2", f"{LOINC}|4485-9")
    assert c3.details["received_value"] == "0.50"
    assert evidence_value(c3) == "0.50 g/L"
    assert evidence_phrase(c3, LABELS, PARIS, 2026).startswith("complement C3 0.50 g/L on ")


def test_a_censored_value_is_shown_with_its_comparator_never_as_the_bare_number() -> None:
    # FHIR R4 Quantity.comparator "<": the real value is below the stated one
    sent = {"value": Decimal("10"), "comparator": "<", "unit": "10*9/L", "system": UCUM,
            "code": "10*9/L"}
    builder = eligible_patient().without(LOINC, "777-3").lab("777-3", 1.0, "10*9/L", 2)
    builder.resources[-1]["valueQuantity"] = sent
    platelets = _evidence_of(_decide(builder), "I6.1", f"{LOINC}|777-3")
    assert evidence_value(platelets) == "<10 x10^9/L"


def test_a_converted_value_is_shown_at_the_received_precision_with_what_was_sent() -> None:
    sent = {"value": Decimal("11.0"), "unit": "g/dL", "system": UCUM, "code": "g/dL"}
    builder = eligible_patient().without(LOINC, "718-7").lab("718-7", 1.0, "g/L", 2)
    builder.resources[-1]["valueQuantity"] = sent
    hemoglobin = _evidence_of(_decide(builder), "I6.1", f"{LOINC}|718-7")
    assert evidence_value(hemoglobin) == "110 g/L (sent as 11.0 g/dL)"


def test_a_received_value_with_float_noise_is_rounded_marked_and_kept_beside() -> None:
    # Synthea sends white cell counts such as 3.5936828072853593 10*3/uL (= 10*9/L): no
    # analyser reports 17 significant figures, so the page rounds it, says so, and shows the
    # number exactly as received beside it (the engine decided on that exact number)
    evidence = Evidence(fact_id="f", value=3.5936828072853593, unit="10*9/L",
                        details={"received_value": "3.5936828072853593",
                                 "received_unit": "10*3/uL"})
    assert evidence_value(evidence) == (
        "≈3.59 x10^9/L (rounded; received as 3.5936828072853593 x10^3/µL)")
    censored = Evidence(fact_id="f", value=0.123456789, unit="mg/dL",
                        details={"received_value": "<0.123456789"})
    assert evidence_value(censored) == "≈<0.123 mg/dL (rounded; received as <0.123456789 mg/dL)"


def test_a_received_value_with_a_laboratory_precision_is_never_rounded() -> None:
    for sent in ("3.83", "12.345", "0.000123", "123456"):
        evidence = Evidence(fact_id="f", value=float(sent), unit="10*9/L",
                            details={"received_value": sent})
        assert evidence_value(evidence) == f"{sent} x10^9/L"


def test_every_moment_is_written_one_way_with_its_zone() -> None:
    at = datetime(2024, 12, 1, 8, 26, 15, tzinfo=UTC)
    assert human_time(at, UTC) == "1 Dec 2024, 08:26 UTC"
    assert human_time(at, PARIS) == "1 Dec 2024, 09:26 CET"
    assert human_time(at, ZoneInfo("Asia/Kolkata")) == "1 Dec 2024, 13:56 IST"
    assert human_time(at, ZoneInfo("America/Sao_Paulo")) == "1 Dec 2024, 05:26 UTC-03"
    assert machine_time(at.astimezone(PARIS)) == "2024-12-01T08:26:15Z"
    assert times_in_text("since 2024-12-01T08:26:15Z, not 2024-12-02", UTC) == (
        "since 1 Dec 2024, 08:26 UTC, not 2024-12-02")


def test_a_computed_clearance_is_rounded_to_a_tenth_and_said_to_be_computed() -> None:
    decision = _decide(eligible_patient())
    crcl = _evidence_of(decision, "I6.3", "trialwatch|crcl-cockcroft-gault")
    assert isinstance(crcl.value, float)
    # the decision keeps the clearance as its reasoning says it, to 0.1 mL/min (it kept 0.01,
    # which the page rounded again: 57.847 -> 57.85 -> "57.9" beside the reasoning's "57.8",
    # test_crcl_said_with_one_number); the inputs that reproduce it exactly are in details
    assert round(crcl.value, 1) == crcl.value
    assert {"age_years", "weight_kg", "scr_mg_dl", "sex_factor"} <= set(crcl.details)
    phrase = evidence_phrase(crcl, LABELS, PARIS, 2026)
    assert phrase == (f"Cockcroft-Gault creatinine clearance {round(crcl.value, 1)} mL/min on"
                      " 26 Feb (computed, to 0.1 mL/min)")
    # the reasoning says the same number, and the inputs with the digits they were sent with
    reason = next(c.reason for c in decision.criteria if c.id == "I6.3")
    assert f"CrCl {round(crcl.value, 1)} mL/min (computed;" in reason
    assert "actual weight 60 kg, SCr 0.9 mg/dL" in reason


def test_the_reasoning_shows_a_received_number_with_every_digit_the_evidence_shows() -> None:
    """A number kept as sent (same unit) is never cut to :g's six significant figures."""
    from shared.clinical.facts import Quantity
    from shared.eligibility.reading import shown, written

    assert written(3.834185446722469) == "3.834185446722469"
    assert written(150.0) == "150"
    assert shown(Quantity(value=3.834185446722469, unit="10*9/L")) == "3.834185446722469 10*9/L"


def test_internal_names_and_value_set_lists_are_written_in_clinical_words() -> None:
    assert plain_words("26 sure (renal 10, sle_specific_antibodies 6)") == (
        "26 sure (renal 10, SLE-specific antibodies 6)")
    assert plain_words("unit 'x' is not accepted for blood_cell_count") == (
        "unit 'x' is not accepted for blood cell count")
    assert plain_words("renal biopsy ISN/RPS 2018 lupus nephritis class (valueCode I, II, III, "
                       "IV, V, VI, III+V, IV+V) within 6 months") == (
        "renal biopsy ISN/RPS 2018 lupus nephritis class within 6 months")
    assert plain_words("descriptors: cva, vasculitis, increased dna binding") == (
        "descriptors: CVA, vasculitis, increased DNA binding")
    # UCUM unity "1" after a score is not a second number
    assert plain_words("ECOG performance status (0-5) 1 1 on 27 Nov 2026 meets <= 1") == (
        "ECOG performance status (0-5) 1 on 27 Nov 2026 meets <= 1")


def test_nothing_a_coordinator_reads_leaks_internal_names() -> None:
    decision = _decide(eligible_patient().without(LOINC, "777-3"))
    text = render_text(decision, LABELS, PARIS)
    for internal in ("sle_specific_antibodies", "valueCode", "_", "first started 1 Mar 2024 on"):
        assert internal not in text.partition("Parameters:")[0], internal
    assert "systemic glucocorticoids, first started 1 Mar 2024" in text


def test_a_washout_that_has_ended_says_so() -> None:
    decision = _decide(eligible_patient().medication("121191", start_days=100, end_days=89))
    [e11] = [c for c in decision.criteria if c.id == "E11"]
    phrases = [evidence_phrase(e, LABELS, PARIS, 2026, decision.as_of) for e in e11.evidence]
    assert any(p.startswith("rituximab 2 Dec 2025, washout until ") for p in phrases)
    assert any("washout ended " in p for p in phrases)


def test_a_deceased_patient_is_one_statement_with_the_day_of_death_and_no_review() -> None:
    """Issue 11: "Deceased on <date>: not screened", no what-to-send list, no next review."""
    builder = eligible_patient()
    builder.patient["deceasedDateTime"] = "2026-02-20T23:30:00-05:00"  # the sender's day
    decision = _decide(builder)
    assert decision.next_review_at is None, "a deceased patient is not reviewed on a timer"
    assert deceased(decision) == "Deceased on 20 Feb 2026: not screened"
    text = render_text(decision, LABELS, PARIS)
    assert "Deceased on 20 Feb 2026: not screened." in text
    assert text.splitlines()[1] == "Status: Not eligible", text
    assert "What to send next" not in text
    assert "Next review" not in text
    assert "age " not in text
    assert headline(None, decision, LABELS, PARIS) == (
        "ineligible: deceased on 20 Feb 2026: not screened")
    builder.patient.pop("deceasedDateTime")
    builder.patient["deceasedBoolean"] = True
    assert deceased(_decide(builder)) == "Recorded as deceased: not screened"
    builder.patient["deceasedBoolean"] = False
    assert deceased(_decide(builder)) is None


def test_pid_29_gives_the_day_of_death_as_the_sender_wrote_it() -> None:
    from shared.clinical.hl7v2 import parse_hl7v2
    from shared.clinical.times import day_as_written

    assert day_as_written("20260220233000-0500").isoformat() == "2026-02-20"  # type: ignore[union-attr]
    assert day_as_written("2026") is None
    assert day_as_written("202602") is None
    assert day_as_written("2026-02-30") is None
    pid = ["PID", "1", "", "MRN1^^^H^MR", "", "Doe^J", "", "19800101", "F"] + [""] * 22
    pid[29], pid[30] = "20260220", "Y"  # PID-29 date/time of death, PID-30 death indicator
    message = ("MSH|^~\\&|LAB|H|TW|H|20260228080000+0000||ORU^R01|1|P|2.5.1\r"
               + "|".join(pid[:31]) + "\r")
    updates = parse_hl7v2(message, source_system="lab")
    assert updates[0].demographics is not None
    assert updates[0].demographics.deceased_on is not None
    assert updates[0].demographics.deceased_on.isoformat() == "2026-02-20"


def test_a_calendar_date_in_the_engines_text_is_written_as_a_day_a_version_is_not() -> None:
    from shared.eligibility.readable import dates_in_text
    assert dates_in_text("platelet count of 2026-02-28 could not be read", PARIS) == (
        "platelet count of 28 Feb 2026 could not be read")
    assert dates_in_text("until 2034-03-12: no data sent", PARIS) == (
        "until 12 Mar 2034: no data sent")
    assert dates_in_text("trial version 2025-11-14.2; tables 2026-12-01.1", PARIS) == (
        "trial version 2025-11-14.2; tables 2026-12-01.1")
    assert dates_in_text("since 2020-03-02T09:00:00Z", PARIS) == "since 2 Mar 2020"


def test_a_statement_to_record_is_said_as_the_question_to_ask_and_answer_yes_or_no() -> None:
    """The engine's E13 need (records.ClinicianFact) reads as a finding; the pages say the task.
    Other items, and the key the worklist filters by, are unchanged."""
    decision = _decide(eligible_patient().without(
        "https://trialwatch.dev/fhir/CodeSystem/eligibility-facts",
        "investigator-deems-unsuitable"))
    [item] = [n.item for n in needs(decision)]
    assert item == "investigator: patient unsuitable for the trial (documented within 30 days)"
    assert need_words(item) == ("ask the investigator, then record yes or no: patient unsuitable"
                                " for the trial (an answer dated within the last 30 days)")
    assert need_words("clinician: lactating") == (
        "ask a clinician, then record yes or no: lactating")
    assert need_words("platelet count within 30 days") == "platelet count within 30 days"


def test_a_negated_statement_says_what_yes_means() -> None:
    """Fresh user: NCT06920433 E10 asked 'record yes or no: no other clinical-trial
    participation in the last 3 months'. A coordinator answering the natural question "did
    the patient take part in another trial?" with yes records true for the statement, i.e. no
    participation: E10 met, the opposite of the answer. A statement worded as a negation says
    what yes means, on the pages and in the headline; a plain statement is unchanged."""
    item = "clinician: no other clinical-trial participation in the last 3 months"
    words = need_words(item)
    assert words.startswith("ask a clinician, then record yes or no: no other clinical-trial"
                            " participation in the last 3 months")
    assert "yes means there was none" in words
    assert "yes means there was none" in _needed(item)
    assert "yes means" not in need_words("clinician: lactating")
    assert "yes means" not in _needed("clinician: lactating")


def test_a_corrected_result_is_headlined_as_correcting_the_earlier_value_with_both() -> None:
    """Fresh user: the status history said 'now eligible: I6, I6.1 met, platelet count 150
    x10^9/L on 28 Feb' after the lab corrected 15 to 150, with no word of a correction: it read
    as a new count. FHIR R4 observation-status 'corrected' ("Subsequent to being Final, the
    observation has been modified to correct an error"): the same Observation (id), a new
    version, replaces the earlier value (state.py); the line names both values."""
    import copy

    first = eligible_patient().without(LOINC, "777-3").lab("777-3", 15, "10*9/L", 1)
    sent = first.bundle()
    corrected = copy.deepcopy(sent)
    [platelets] = [e["resource"] for e in corrected["entry"]
                   if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "777-3"]
    platelets["status"] = "corrected"
    platelets["meta"] = {"versionId": "2"}
    platelets["valueQuantity"]["value"] = 150
    before = evaluate(TRIAL, facts_from_updates(parse_fhir(sent, source_system="t")), AS_OF)
    after = evaluate(TRIAL, facts_from_updates([*parse_fhir(sent, source_system="t"),
                                                *parse_fhir(corrected, source_system="t")]),
                     AS_OF)
    assert before.status is Status.INELIGIBLE
    assert after.status is Status.ELIGIBLE
    assert headline(before, after, LABELS, PARIS) == (
        "now eligible: I6, I6.1 met, platelet count 150 x10^9/L on 28 Feb, correcting the "
        "earlier 15 x10^9/L")
    # and back: a correction that ends eligibility names both values too
    assert headline(after, before, LABELS, PARIS) == (
        "no longer eligible: I6, I6.1 platelet count 15 x10^9/L on 28 Feb, correcting the "
        "earlier 150 x10^9/L")


def test_each_result_a_score_counts_shows_its_date_and_age() -> None:
    """Fresh user: a white blood cell count from years ago counting toward EULAR/ACR 2019
    (items count 'if they ever occurred', Aringer 2019) read as a current result. Each
    evidence line of the patient page says how old the result was at the screening."""
    from services.evaluator.adapters.http.ui.views import criterion_views
    from services.evaluator.adapters.trial_text import trial_text

    old_wbc = eligible_patient().lab("6690-2", 3.0, "10*9/L", 900)  # 13 Sep 2023
    decision = _decide(old_wbc)
    [i2] = [c for c in criterion_views(decision, trial_text(decision.trial), PARIS)
            if c.id == "I2"]
    [wbc] = [e for e in i2.evidence if e.startswith("white blood cell count")]
    # "(2 years ago)", not "(2 years old)": a fresh user read "epilepsy on 18 Feb 2014 (12 years
    # old)" beside a patient born in 1968 as the patient's age
    assert wbc == "white blood cell count 3.0 x10^9/L on 13 Sep 2023 (2 years ago)", wbc
    # a recent result needs no age: its date says it
    assert "complement C3 0.5 g/L on 19 Feb" in i2.evidence, i2.evidence
    anti_dsdna = next(e for e in i2.evidence if e.startswith("anti-dsDNA"))
    assert anti_dsdna == "anti-dsDNA antibody 120 IU/mL on 31 Dec 2025 (2 months ago)", anti_dsdna


def test_a_drug_history_line_gives_no_age_of_another_record_than_the_date_it_shows() -> None:
    """Fresh user (ux): "conventional immunosuppressants ..., first started 1 Mar 2024 (13
    months old)" beside "systemic glucocorticoids, first started 1 Mar 2024 (2 years old)": the
    engine cites the newest record (mycophenolate started 400 days before) with the class's
    first start in its note, and the age was the newest record's, not the date shown. A
    started-at-least criterion reads the first start (records.py, started_at_least); the line
    shows that date, with no age of another record."""
    from services.evaluator.adapters.http.ui.views import criterion_views
    from services.evaluator.adapters.trial_text import trial_text

    decision = _decide(eligible_patient())  # HCQ from 730 days before, MMF from 400
    [i2] = [c for c in criterion_views(decision, trial_text(decision.trial), PARIS)
            if c.id == "I2"]
    [conventional] = [e for e in i2.evidence if e.startswith("conventional immunosuppressants")]
    assert conventional.endswith("first started 1 Mar 2024"), conventional


def test_a_headline_asks_for_a_statement_as_a_yes_or_no_not_a_finding() -> None:
    """Fresh user (ux): the status history of a patient lacking only the investigator's
    statement read "E13 cannot be checked (needs investigator: patient unsuitable for the trial
    (documented within 30 days))": a finding (the investigator found the patient unsuitable)
    to a coordinator, as the criteria table's Missing line did (b498153). The headline now asks
    for the answer; either answer settles E13 (records.ClinicianFact)."""
    facts = "https://trialwatch.dev/fhir/CodeSystem/eligibility-facts"
    decision = _decide(eligible_patient().without(facts, "investigator-deems-unsuitable"))
    said = headline(None, decision, LABELS, PARIS)
    assert said == ("undetermined: E13 cannot be checked (needs the investigator's yes or no:"
                    " patient unsuitable for the trial)"), said


def test_a_first_screening_names_what_decided_it_first_and_counts_the_rest() -> None:
    """Fresh user (ux): a Synthea patient excluded on E3 (epilepsy) at first screening had the
    status history "I2 cannot be checked (needs ...); I3 cannot be checked (needs SLEDAI-2K ...
    descriptors: seizure, psychosis, ...); I4 ... (+20 more)": E3, the reason she is not
    eligible, was in the "+20 more", and the line was a paragraph. The excluding criterion
    comes first now, and at a first screening the criteria that cannot be checked yet are
    counted, not spelt out (the page lists what each needs)."""
    from tests.unit.eligibility.fhir_builder import PatientBuilder

    epileptic = PatientBuilder().condition("http://hl7.org/fhir/sid/icd-10-cm", "G40.909", 400)
    decision = _decide(epileptic)
    assert decision.status is Status.INELIGIBLE
    said = headline(None, decision, LABELS, PARIS)
    assert said.startswith("ineligible: E3 "), said
    unknown = [c.id for c in decision.criteria if c.outcome is Outcome.UNKNOWN]
    assert f"{len(unknown)} criteria cannot be checked yet ({', '.join(unknown)})" in said, said
    assert "descriptors" not in said


def test_a_not_eligible_text_report_says_which_criteria_decided_it_under_the_status() -> None:
    """Fresh user (s14): ``trialwatch evaluate`` on an epileptic patient printed "Status: Not
    eligible", then ~40 items to send; the reason, "[FAIL] E3", came at line 67 of 82. The web
    page says "Because: E3 ..." at once; the text report says it under the status too."""
    decision = _decide(eligible_patient().lab("1742-6", 210, "U/L", 2))  # ALT 210: I6.2 fails
    lines = render_text(decision, LABELS, PARIS).splitlines()
    assert lines[1] == "Status: Not eligible", lines
    # as the page's "Because:" does, the parent I6 is named with its failing part
    assert lines[2] == "Because: I6 (not met); I6.2 (not met). Details below.", lines[2]
    assert "(needed for" not in "\n".join(lines[:3])
    # an eligible or undetermined decision has no such line
    ok = render_text(_decide(eligible_patient()), LABELS, PARIS).splitlines()
    assert not any(line.startswith("Because:") for line in ok)
