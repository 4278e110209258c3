"""The patient x trial page says why a patient is not eligible, at the top, and asks before an
enrollment TrialWatch did not find eligible is recorded (rendered from the real template)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader

from services.evaluator.adapters.http.ui.views import (
    CriterionView,
    criterion_views,
    patient_context,
)
from services.evaluator.adapters.trial_text import trial_text
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
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
from shared.eligibility.readable import need_groups, need_words, status_words
from tests.unit.eligibility.fhir_builder import AS_OF, PatientBuilder, eligible_patient

TEMPLATES = (Path(__file__).resolve().parents[3] / "services" / "evaluator" / "adapters" / "http"
             / "ui" / "templates")


def render(status: str, criteria: list[CriterionView], *, died: str | None = None) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    env.filters["when"] = str
    env.filters["detail"] = str
    env.filters["trial_name"] = lambda trial_id, version=None: trial_id
    env.filters["need_groups"] = need_groups
    env.filters["need_words"] = need_words
    env.filters["status"] = status_words
    env.globals["action_words"] = {}
    view = SimpleNamespace(patient_key="pt_1", trial_id="NCT06920433", alerts=[], actions=[],
                           history=[])
    decision = SimpleNamespace(status=SimpleNamespace(value=status), as_of="now",
                               next_review_at=None, trial=SimpleNamespace(version="1"))
    return env.get_template("patient.html").render(
        view=view, decision=decision, criteria=criteria, needs=[], identity=None,
        title="t", who=SimpleNamespace(subject="c", role="coordinator"), csrf="x", trials=(),
        died=died)


def criterion(cid: str, kind: str, outcome: str, summary: str) -> CriterionView:
    return CriterionView(id=cid, kind=kind, outcome=outcome, summary=summary, protocol_text="",
                         reason="", evidence=[], missing=[])


def test_an_ineligible_patient_page_names_the_criteria_that_decided_it_at_the_top() -> None:
    html = render("ineligible", [
        criterion("I1", "inclusion", "pass", "age at least 18 years"),
        criterion("E11", "exclusion", "fail", "immunosuppressant washout"),
    ])
    because = html.split('id="status-because"')[1].split("</p>")[0]
    assert "E11" in because
    assert "excluded" in because
    assert "I1" not in because


def test_enrollment_of_a_patient_not_found_eligible_asks_for_the_investigators_decision() -> None:
    undetermined = render("undetermined", [criterion("I6", "inclusion", "unknown", "organs")])
    eligible = render("eligible", [criterion("I6", "inclusion", "pass", "organs")])
    assert "Mark enrolled (investigator decision)" in undetermined
    assert "has not found this patient eligible" in undetermined
    assert "Mark enrolled (investigator decision)" not in eligible
    assert 'id="status-because"' not in eligible


def test_a_deceased_patient_is_not_offered_contact_or_enrollment() -> None:
    alive = render("undetermined", [criterion("I6", "inclusion", "unknown", "organs")])
    dead = render("ineligible", [criterion("PATIENT-DECEASED", "exclusion", "fail", "deceased")],
                  died="11 Jul 1979")
    assert 'value="contacted"' in alive
    assert 'value="enrolled"' in alive
    assert 'value="contacted"' not in dead
    assert 'value="enrolled"' not in dead
    assert "Recorded as deceased" in dead
    assert 'value="not-a-candidate"' in dead


def real_page(builder: PatientBuilder, trial_id: str, version: str) -> str:
    """The page for the engine's real decision on ``builder``'s patient."""
    trial = load_trial(trial_id, version)
    facts = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    decision = evaluate(trial, facts, AS_OF)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    for name, rule in (("when", str), ("detail", str), ("need_groups", need_groups),
                       ("need_words", need_words),
                       ("status", status_words)):
        env.filters[name] = rule
    env.filters["trial_name"] = lambda trial_id, version=None: trial_id
    env.globals["action_words"] = {}
    view = SimpleNamespace(patient_key="pt_1", trial_id=trial_id, alerts=[], actions=[],
                           history=[])
    return env.get_template("patient.html").render(
        **patient_context(decision, ZoneInfo("Europe/Paris")), view=view, identity=None,
        who=SimpleNamespace(subject="c", role="coordinator"), csrf="x", trials=())


def test_a_child_is_told_there_is_nothing_to_send_until_the_18th_birthday() -> None:
    child = eligible_patient()
    child.patient["birthDate"] = "2016-03-12"  # 9; NCT06920433 I1 "age >= 18": 12 Mar 2034
    html = real_page(child, "NCT06920433", "2025-11-14.2")
    nothing = html.split('id="nothing-to-send"')[1].split("</p>")[0]
    assert nothing.startswith(">Nothing to send now: not eligible on "), nothing
    assert "I1</a> (" in nothing, nothing
    assert "until the 18th birthday on 12 Mar 2034" in nothing, nothing
    assert 'class="need-groups"' not in html, "no list of items to send"
    assert "Next automatic review" in html, "time can change it: the review stays"


def test_a_patient_over_the_upper_age_limit_is_told_nothing_can_make_them_eligible() -> None:
    old = eligible_patient()
    old.patient["birthDate"] = "1950-01-01"  # 76; NCT06946485 I5 "Aged 18-65 years"
    html = real_page(old, "NCT06946485", "2025-10-03.2")
    nothing = html.split('id="nothing-to-send"')[1].split("</p>")[0]
    assert "no data sent and no passing of time can make this patient eligible" in nothing
    assert "I5" in nothing
    assert 'class="need-groups"' not in html, "no list of items to send"
    assert "Next automatic review" not in html
    assert "nothing that time changes can make this patient eligible" in html


def test_the_next_review_says_why_and_what_to_send_is_grouped_by_kind() -> None:
    html = real_page(PatientBuilder(), "NCT06946485", "2025-10-03.2")  # birth date and sex only
    why = html.split('id="review-why">')[1].split("</span>")[0]
    # I5 "Aged 18-65": met at 35, it can change only on the 66th birthday (not the next one).
    # Fresh user: '66th birthday (I5)' read as 'could become eligible at 66'; it is the day
    # the patient becomes too old for I5
    assert why == "66th birthday: from then too old for the age limit, no longer met (I5)", why
    kinds = [h.split(" <span")[0] for h in html.split('<h3 class="need-kind">')[1:]]
    assert kinds[0] == "Lab results and measurements", kinds
    assert {"Medication history", "Investigator or clinician statements"} <= set(kinds)
    assert len(kinds) == len(set(kinds))


def test_what_to_send_writes_dates_as_the_rest_of_the_page_does() -> None:
    """The engine writes ISO-8601 instants in its need items ("... on record since
    2020-10-18T23:36:43Z is current"); the page shows them as days, "18 Oct 2020", as it shows
    evidence dates (``readable.human_date``, in the site's zone)."""
    builder = eligible_patient()
    builder.condition("http://snomed.info/sct", "72892002", onset_days=6 * 365)  # Synthea
    html = real_page(builder, "NCT06920433", "2025-11-14.2")
    needs = html.split('id="needs"')[1]
    item = next(li for li in needs.split("<li>")[1:] if "pregnancy on record since" in li)
    assert re.search(r"since \d{1,2} [A-Z][a-z]{2} \d{4} is current", item), item
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", item), item


def test_statements_to_record_say_a_yes_or_a_no_settles_them() -> None:
    """"investigator: patient unsuitable for the trial (documented within 30 days)" read as an
    instruction to document that the patient is unsuitable; it asks for the answer, either way."""
    facts = "https://trialwatch.dev/fhir/CodeSystem/eligibility-facts"
    html = real_page(eligible_patient().without(facts, "investigator-deems-unsuitable"),
                     "NCT06920433", "2025-11-14.2")
    statements = html.split("Investigator or clinician statements")[1].split("</ul>")[0]
    assert "ask the investigator, then record yes or no: patient unsuitable for the trial" \
        in statements
    assert "yes or no" in statements


def test_a_criterions_missing_line_asks_for_a_statement_as_the_list_at_the_top_does() -> None:
    """Fresh user (ux): the criteria table's E13 line said "Missing: investigator: patient
    unsuitable for the trial (documented within 30 days)", which reads as a finding (the
    investigator found the patient unsuitable), while "What to send next" above it asked "ask the
    investigator, then record yes or no: ...". Both say the task now."""
    facts = "https://trialwatch.dev/fhir/CodeSystem/eligibility-facts"
    html = real_page(eligible_patient().without(facts, "investigator-deems-unsuitable"),
                     "NCT06920433", "2025-11-14.2")
    row = html.split('id="criterion-E13"')[1].split("</tr>")[0]
    missing = row.split('class="missing"')[1].split("</p>")[0]
    assert "ask the investigator, then record yes or no: patient unsuitable for the trial" \
        in missing, missing
    assert "Missing: investigator:" not in missing, missing


def test_a_criterions_missing_line_says_a_need_once_as_the_list_at_the_top_does() -> None:
    gc = "record of systemic glucocorticoids use"
    decision = Decision(
        trial=TrialRef(id="NCT06920433", version="2025-11-14.2"), as_of=AS_OF,
        status=Status.UNDETERMINED, engine_version="t",
        criteria=(CriterionResult(id="I2", kind=CriterionKind.INCLUSION, outcome=Outcome.UNKNOWN,
                                  reason="I2: cannot be decided",
                                  missing=(gc + " started at least 6 months ago", gc)),))
    (view,) = criterion_views(decision, trial_text(decision.trial), ZoneInfo("UTC"))
    assert view.missing == [gc + " started at least 6 months ago"]


def test_a_not_eligible_patient_is_told_items_to_send_matter_only_if_the_failure_changes() -> None:
    # fresh-user report M6: a Not eligible page listed "What to send next: 44 items" as if
    # sending them could make the patient eligible; a platelet count of 15 x10^9/L fails I6
    low = PatientBuilder()
    low.lab("777-3", 15, "10*9/L")
    html = real_page(low, "NCT06920433", "2025-11-14.2")
    assert 'class="need-groups"' in html, "the items stay listed"
    only_if = html.split('id="needs-only-if"')[1].split("</p>")[0]
    assert "Not eligible now on" in only_if
    assert "I6" in only_if
    assert "matter only if" in only_if
    assert html.index('id="needs-only-if"') < html.index('class="need-groups"')


def test_a_long_list_to_send_is_one_line_per_kind_with_the_items_behind_it() -> None:
    """Fresh user (ux; earlier report: 44-48 items): the README's patient (one platelet count)
    got "46 items" on NCT06920433, listed in full above the actions and the criteria (a page
    6,300 px tall). A list longer than the worklist's short one (6) is now one closed line per
    kind with its count, the items behind it; a short list stays open."""
    from shared.eligibility.readable import needs

    bare = PatientBuilder()  # a birth date and a sex: nearly everything is missing
    html = real_page(bare, "NCT06920433", "2025-11-14.2")
    decision = evaluate(load_trial("NCT06920433", "2025-11-14.2"),
                        facts_from_updates(parse_fhir(bare.bundle(), source_system="ehr")),
                        AS_OF)
    wanted = needs(decision)
    assert len(wanted) > 6
    said = html.split('id="needs-summary"')[1].split("</p>")[0]
    assert f"{len(wanted)} items" in said, said
    kinds = need_groups(wanted)
    groups = html.split('id="needs"')[1].split("</section>")[0]
    lines = re.findall(r"<summary><h3 class=\"need-kind\">(.+?) <span class=\"hint\">\((\d+)\)",
                       groups)
    assert lines == [(kind, str(len(group))) for kind, group in kinds], lines
    assert groups.count("<details") == len(kinds), "one closed line per kind"
    assert "<details open" not in groups
    assert groups.count("<li>") == len(wanted), "every item is still there, once"

    short = real_page(eligible_patient().without("http://loinc.org", "777-3"),
                      "NCT06920433", "2025-11-14.2")
    assert 'id="needs-summary"' not in short
    assert "<details" not in short.split('id="needs"')[1].split("</section>")[0], \
        "a short list is shown as it is"


def test_an_item_is_said_to_be_needed_for_a_criterion_not_to_settle_it_alone() -> None:
    """Fresh user (ux): with both the platelet count and the hemoglobin missing, each was listed
    as "... settles I6, I6.1", though neither decides I6.1 without the other. Each item now
    says the criteria it is needed for."""
    both = eligible_patient().without("http://loinc.org", "777-3").without(
        "http://loinc.org", "718-7")
    html = real_page(both, "NCT06920433", "2025-11-14.2")
    items = re.findall(r"<li>([^<]+) <span class=\"unblocks\">([^<]+)</span></li>", html)
    said = {item.strip(): unblocks for item, unblocks in items}
    assert said["hemoglobin within 30 days"] == "needed for I6, I6.1", said
    assert said["platelet count within 30 days"] == "needed for I6, I6.1", said
    assert "settles" not in html.split('id="needs"')[1].split("</section>")[0]
