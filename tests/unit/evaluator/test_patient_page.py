"""The patient x trial page says why a patient is not eligible, at the top, and asks before an
enrollment TrialWatch did not find eligible is recorded (rendered from the real template)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from jinja2 import Environment, FileSystemLoader

from services.evaluator.adapters.http.ui.views import CriterionView

TEMPLATES = (Path(__file__).resolve().parents[3] / "services" / "evaluator" / "adapters" / "http"
             / "ui" / "templates")


def render(status: str, criteria: list[CriterionView], *, died: str | None = None) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    env.filters["when"] = str
    env.filters["detail"] = str
    env.filters["trial_name"] = lambda trial_id, version=None: trial_id
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
