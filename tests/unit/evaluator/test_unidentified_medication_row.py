"""The E11 row of a Synthea-shaped patient is short and actionable (fresh user ux, top item).

Before: NCT06920433 E11 (immunosuppressant or biologic within five half-lives) on a patient
with two RxNorm products TrialWatch cannot identify (Synthea: simvastatin 316672, naproxen
198014 ordered in 1987 and still ``active``) showed each code with its full system URL
(``http://www.nlm.nih.gov/research/umls/rxnorm|316672``) three times and the long
"site medication crosswalk" instruction once per code. Now each code is named by its code
system's short name ("RxNorm 316672"), its day kept, and the instruction said once. The
decision is unchanged: E11 stays unknown on both records (an ``active`` order without an end
is ongoing, so it may be within any washout; the engine already leaves out a stopped one whose
washout window has passed: ``WashoutActive._may_be_within``)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader

from services.evaluator.adapters.http.ui.views import patient_context
from services.evaluator.adapters.trial_text import trial_name
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from shared.eligibility.readable import (
    UNIDENTIFIED_MEDICATION_HINT,
    fold_unidentified,
    need_groups,
    need_words,
    status_words,
)
from tests.unit.eligibility.fhir_builder import AS_OF, eligible_patient

TEMPLATES = (Path(__file__).resolve().parents[3] / "services" / "evaluator" / "adapters" / "http"
             / "ui" / "templates")
CROSSWALK = "site medication crosswalk"


def _page() -> tuple[str, Outcome]:
    builder = eligible_patient()
    builder.medication("316672", start_days=6 * 365)            # active, no end (Synthea)
    builder.medication("198014", start_days=39 * 365 + 50)      # active since 1987
    trial = load_trial("NCT06920433", "2025-11-14.4")
    decision = evaluate(trial, facts_from_updates(parse_fhir(builder.bundle(),
                                                             source_system="ehr")), AS_OF)
    e11 = next(c for c in decision.criteria if c.id == "E11")
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    for name, rule in (("when", str), ("detail", str), ("need_groups", need_groups),
                       ("need_words", need_words), ("status", status_words)):
        env.filters[name] = rule
    env.filters["trial_name"] = trial_name  # the app's own: "NCT... — <title>"
    env.globals["action_words"] = {}
    env.globals["unidentified_hint"] = UNIDENTIFIED_MEDICATION_HINT
    html = env.get_template("patient.html").render(
        **patient_context(decision, ZoneInfo("UTC")),
        view=SimpleNamespace(patient_key="pt_1", trial_id="NCT06920433", alerts=[], actions=[],
                             history=[]),
        identity=None, who=SimpleNamespace(subject="c", role="coordinator"), csrf="x", trials=())
    return html, e11.outcome


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_the_e11_row_names_each_code_shortly_and_says_the_instruction_once() -> None:
    html, outcome = _page()
    assert outcome is Outcome.UNKNOWN  # presentation only: the decision is the engine's
    row = _text(html.split('id="criterion-E11"')[1].split("</tr>")[0])
    assert "http://" not in row, row
    assert "|" not in row, row
    assert "RxNorm 316672" in row, row
    assert "RxNorm 198014" in row, row
    assert row.count(CROSSWALK) == 1, row
    assert "not in the product table" not in row, row  # the engine's internal reason
    assert len(row) < 1300, (len(row), row)


def test_what_to_send_lists_each_code_under_medication_history_with_one_instruction() -> None:
    html, _ = _page()
    needs = html.split('id="needs"')[1].split("<h2>")[0]
    medication = needs.split("Medication history")[1].split('<h3 class="need-kind">')[0]
    assert "a medication TrialWatch cannot identify (RxNorm 316672" in medication
    assert "a medication TrialWatch cannot identify (RxNorm 198014" in medication
    assert _text(needs).count(CROSSWALK) == 1, _text(needs)


def test_folding_keeps_every_code_and_day_and_other_items() -> None:
    item = ("medication of {} could not be read: medication coded as"
            " http://www.nlm.nih.gov/research/umls/rxnorm|{} not identified: RxNorm code {}"
            " is not in the product table nor in a drug value set; which drug it is is unknown")
    folded = fold_unidentified([item.format("17 Nov 2020", "316672", "316672"),
                                "clinician: medication history reconciled",
                                item.format("11 Oct 1987", "198014", "198014")])
    assert folded[0].startswith("2 medications TrialWatch cannot identify (RxNorm 316672,"
                                " recorded 17 Nov 2020; RxNorm 198014, recorded 11 Oct 1987)")
    assert folded[1] == "clinician: medication history reconciled"
    assert len(folded) == 2


def test_the_patient_page_says_the_trial_title_once() -> None:
    """Fresh user ux: the heading said "NCT06920433 — UCAR T-cell Therapy Targeting CD19/BCMA in
    Patients With…" and the line under it the same title in full."""
    html, _ = _page()
    title = "UCAR T-cell Therapy Targeting CD19/BCMA"
    heading = html.split("<h1>")[1].split("</h1>")[0]
    assert title not in heading, heading
    assert "NCT06920433" in heading
    assert _text(html.split("<main")[-1]).count(title) == 1, _text(html)
