"""What to send next, as a coordinator reads it: a drug by its name, a day rather than a float
instant, under the medications heading; each need once, so the count is what is listed."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility import readable
from shared.eligibility.decision import (
    CriterionKind,
    CriterionResult,
    Decision,
    Outcome,
    Status,
    TrialRef,
)
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from shared.eligibility.readable import dates_in_text, need_groups, need_kind, needs
from tests.unit.eligibility.fhir_builder import AS_OF, RXNORM, iso
from tests.unit.eligibility.more_trials import COURSE_DAYS, PREDNISONE_20, eligible_for_all

PREDNISONE_5 = "312617"  # RxNorm SCD predniSONE 5 MG Oral Tablet (tables/rxnorm_products.yaml)
# Synthea writes instants with microseconds (effectivePeriod.start "...T13:39:50.234501Z")
STARTED = datetime(2025, 5, 5, 13, 39, 50, 234501, tzinfo=UTC)


def test_a_course_without_a_dosage_is_asked_for_by_drug_name_and_day_under_medications() -> None:
    b = eligible_for_all().without(RXNORM, PREDNISONE_20)
    # as EHRs send a product: RxNorm code, no display (FHIR R4 Coding.display is optional)
    b.medication(PREDNISONE_5, start_days=COURSE_DAYS[0], end_days=COURSE_DAYS[1])
    b.resources[-1]["effectivePeriod"]["start"] = iso(STARTED)
    decision = evaluate(load_trial("NCT06946485"),
                        facts_from_updates(parse_fhir(b.bundle(), source_system="t")), AS_OF)
    items = [n.item for n in needs(decision) if "daily dose" in n.item]
    # the API keeps the instant in ISO 8601, to the second: no float noise in a sentence
    assert items[0] == ("structured daily dose of predniSONE 5 MG Oral Tablet"
                        " of 2025-05-05T13:39:50Z"), items
    assert not any("rxnorm" in item for item in items), items
    assert dates_in_text(items[0], UTC) == (
        "structured daily dose of predniSONE 5 MG Oral Tablet of 5 May 2025")
    assert need_kind(items[0]) == "Medication history"


def _unknown(cid: str, *missing: str) -> CriterionResult:
    return CriterionResult(id=cid, kind=CriterionKind.INCLUSION, outcome=Outcome.UNKNOWN,
                           reason=f"{cid}: cannot be decided", missing=missing)


def test_a_need_another_need_settles_is_listed_once_and_the_count_is_what_is_listed() -> None:
    gc, im = "record of systemic glucocorticoids use", "record of immunosuppressants use"
    older = " started at least 6 months ago"
    decision = Decision(
        trial=TrialRef(id="NCT06920433", version="2025-11-14.2"), as_of=AS_OF,
        status=Status.UNDETERMINED, engine_version="t",
        criteria=(_unknown("I2", gc + older, im + older, gc, im), _unknown("I3", gc),
                  _unknown("I4", "platelet count within 30 days")))
    wanted = needs(decision)
    assert [(n.item, n.unblocks) for n in wanted] == [
        (gc + older, ("I2", "I3")), (im + older, ("I2",)),
        ("platelet count within 30 days", ("I4",))]
    assert len(wanted) == sum(len(group) for _, group in need_groups(wanted))


def test_a_need_with_a_per_patient_list_has_one_stable_key() -> None:
    sledai = "SLEDAI-2K total within 30 days or descriptors: "
    assert readable.need_key(sledai + "fever, thrombocytopenia, leukopenia") == readable.need_key(
        sledai + "fever, leukopenia") == "SLEDAI-2K total within 30 days or descriptors"
    assert readable.need_key("BILAG-2004 grades within 30 days for: renal, mucocutaneous") == (
        "BILAG-2004 grades within 30 days")
    dose = "structured daily dose of predniSONE 5 MG Oral Tablet"
    assert readable.need_key(dose + " of 5 May 2025") == dose
    assert readable.need_key(dose + " of 2024-12-02T13:39:50Z") == dose
    assert readable.need_key("platelet count within 30 days") == "platelet count within 30 days"



def test_a_missing_dose_is_asked_for_in_words_a_coordinator_uses() -> None:
    """Fresh user: "structured daily dose of predniSONE 5 MG Oral Tablet of 5 May 2025" on the
    patient page (needs, the criterion's missing line and its reasoning). The engine's text
    (stored, API, need_key) is unchanged; the pages say what to send: the prescription's dose
    and how often it is taken, for the course that started that day (dose.py reads the daily
    dose from FHIR R4 Dosage.doseAndRate and Dosage.timing)."""
    from zoneinfo import ZoneInfo

    from services.evaluator.adapters.http.ui.views import criterion_views
    from services.evaluator.adapters.trial_text import trial_text

    b = eligible_for_all().without(RXNORM, PREDNISONE_20)
    b.medication(PREDNISONE_5, start_days=COURSE_DAYS[0], end_days=COURSE_DAYS[1])
    b.resources[-1]["effectivePeriod"]["start"] = iso(STARTED)
    decision = evaluate(load_trial("NCT06946485"),
                        facts_from_updates(parse_fhir(b.bundle(), source_system="t")), AS_OF)
    paris = ZoneInfo("Europe/Paris")
    asked = "daily dose of predniSONE 5 MG Oral Tablet started 5 May 2025 (the prescription's" \
        " dose and how often it is taken)"
    shown = [readable.need_words(dates_in_text(n.item, paris)) for n in needs(decision)]
    assert asked in shown, shown
    [i4] = [c for c in criterion_views(decision, trial_text(decision.trial), paris)
            if c.id == "I4"]
    assert asked in i4.missing, i4.missing
    assert f"dose per kg cannot be judged: {asked}" in i4.reason, i4.reason
    for text in (*shown, *i4.missing, i4.reason):
        assert "structured" not in text, text
    # without its day (the worklist filter's key) the item still reads as words
    assert readable.need_words("structured daily dose of predniSONE 5 MG Oral Tablet") == (
        "daily dose of predniSONE 5 MG Oral Tablet (the prescription's dose and how often it"
        " is taken)")
    assert readable.dose_words("glucocorticoid use with a structured daily dose within 12"
                                " months") == (
        "glucocorticoid use with its daily dose (the prescription's dose and how often it is"
        " taken) within 12 months")
