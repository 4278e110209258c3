"""`trialwatch run` says in the terminal what the pipeline does (fresh user: after the banner
the terminal stayed silent while 26 patients were read and screened): updates received,
decisions made by status, alerts raised; counts only, never a patient key."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from services.cli.progress import Progress

START = datetime(2026, 12, 2, 21, 0, tzinfo=UTC)


def _event(event_type: str, at: datetime, key: str, **more: object) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "event_type": event_type,
            "recorded_at": at.isoformat(), "patient_key": key, **more}


def test_progress_counts_updates_decisions_and_alerts_without_patient_keys() -> None:
    progress = Progress(since=START)
    assert progress.line() is None, "nothing happened: nothing to say"
    later = START + timedelta(seconds=3)
    progress.see("patient.events.v1", _event("patient.updated", later, "pt_aaaa"))
    progress.see("patient.events.v1", _event("patient.updated", later, "pt_bbbb"))
    for status in ("eligible", "undetermined", "undetermined", "ineligible"):
        progress.see("eligibility.decisions.v1", _event(
            "eligibility.decided", later, "pt_aaaa", decision={"status": status}))
    # a snapshot on the decisions topic is no decision
    progress.see("eligibility.decisions.v1", _event("eligibility.snapshot", later, "pt_aaaa"))
    progress.see("eligibility.alerts.v1", _event("eligibility.alert", later, "pt_aaaa",
                                                 alert="newly-eligible"))
    line = progress.line()
    assert line == ("progress: 2 patient updates received (2 patients); 4 screening decisions "
                    "made: 1 eligible, 1 not eligible, 2 not yet decided (data missing); "
                    "1 alert raised (1 newly eligible)"), line
    assert "pt_" not in line
    assert progress.line() is None, "said once until something changes"


def test_events_of_an_earlier_run_replayed_into_the_broker_are_not_counted() -> None:
    progress = Progress(since=START)
    old = _event("patient.updated", START - timedelta(days=1), "pt_aaaa")
    progress.see("patient.events.v1", old)
    assert progress.line() is None
    new = _event("patient.updated", START + timedelta(seconds=1), "pt_aaaa")
    progress.see("patient.events.v1", new)
    progress.see("patient.events.v1", new)  # redelivered: counted once
    assert progress.line() == ("progress: 1 patient update received (1 patient); "
                               "no screening decision yet; no alert raised")


def test_a_progress_line_after_an_alert_line_counts_that_alert() -> None:
    """Fresh user ux: an ALERT line, then "progress: ...; no alert raised": the progress reader
    had not reached the alert the alert reader had just printed. The alert tail now tells the
    shared count of each alert it prints, before the next progress line."""
    from services.cli.alerts_tail import show

    progress = Progress(since=START)
    later = START + timedelta(seconds=2)
    progress.see("eligibility.decisions.v1", _event(
        "eligibility.decided", later, "pt_aaaa", decision={"status": "eligible"}))
    assert progress.line() is not None
    lines: list[str] = []
    alert = _event("eligibility.alert", later, "pt_aaaa", alert="newly-eligible",
                   trial={"id": "NCT06920433", "version": "2025-11-14.4"}, headline="")
    show(json.dumps(alert).encode(), 7, lines.append, START, set(), progress.alert_shown)
    assert len(lines) == 1, lines
    assert lines[0].startswith("ALERT NEWLY ELIGIBLE"), lines
    line = progress.line()
    assert line is not None
    assert line.endswith("1 alert raised (1 newly eligible)"), line
    # the progress reader reaching the same alert later counts it once
    progress.see("eligibility.alerts.v1", alert)
    assert progress.line() is None


def test_an_alert_read_before_its_decision_is_counted_as_that_decision_once() -> None:
    """Brief (ux): the line said "1 patient update received (1 patient); no screening decision
    yet; 1 alert raised": the alert tail had counted the alert before the progress reader reached
    the decision it announces. An alert carries its decision's id and status
    (``EligibilityAlert.decision_id``/``status``): that decision is made, and counted once when
    its own event arrives."""
    progress = Progress(since=START)
    later = START + timedelta(seconds=2)
    decision_id = str(uuid.uuid4())
    progress.see("patient.events.v1", _event("patient.updated", later, "pt_aaaa"))
    progress.alert_shown(_event("eligibility.alert", later, "pt_aaaa", alert="newly-eligible",
                                decision_id=decision_id, status="eligible"))
    line = progress.line()
    assert line == ("progress: 1 patient update received (1 patient); 1 screening decision "
                    "made: 1 eligible; 1 alert raised (1 newly eligible)"), line
    progress.see("eligibility.decisions.v1", _event(
        "eligibility.decided", later, "pt_aaaa", decision_id=decision_id,
        decision={"status": "eligible"}))
    assert progress.line() is None, "the decision the alert announced is not counted twice"
    progress.see("eligibility.decisions.v1", _event(
        "eligibility.decided", later, "pt_aaaa", decision_id=str(uuid.uuid4()),
        decision={"status": "undetermined"}))
    assert progress.line() == ("progress: 1 patient update received (1 patient); 2 screening "
                               "decisions made: 1 eligible, 1 not yet decided (data missing); "
                               "1 alert raised (1 newly eligible)")
