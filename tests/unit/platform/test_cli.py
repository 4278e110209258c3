from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli.alerts_tail import format_alert
from services.cli.asyncapi import document
from services.cli.main import build_parser, main

REPO = Path(__file__).resolve().parents[3]


def test_help_lists_the_pipeline_and_the_single_services(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "intake", "evaluator", "audit", "migrate", "asyncapi"):
        assert command in out


def test_run_defaults_to_the_documented_ports() -> None:
    args = build_parser().parse_args(["run"])
    assert (args.intake_port, args.evaluator_port, args.audit_port) == (8081, 8082, 8083)
    assert args.demo is False


def test_the_published_asyncapi_document_matches_the_code() -> None:
    published = json.loads((REPO / "docs" / "asyncapi.json").read_text())
    assert published == document(), "regenerate with: trialwatch asyncapi"


def test_the_asyncapi_document_describes_every_event_schema() -> None:
    schemas = document()["components"]["schemas"]  # type: ignore[index]
    for name in ("PatientUpdated", "DecisionMade", "EligibilityAlert", "DeadLetter"):
        assert name in schemas


# the trial's id and the short title a coordinator recognises (issue 11)
NAME = "NCT06920433 — UCAR T-cell Therapy Targeting CD19/BCMA in Patients With…"


def test_an_alert_prints_as_one_readable_line_without_phi() -> None:
    line = format_alert({
        "alert": "newly-eligible", "patient_key": "pt_1",
        "trial": {"id": "NCT06920433", "version": "1"}, "reasons": ["all criteria pass"],
    })
    assert line == f"ALERT NEWLY ELIGIBLE: patient pt_1 for {NAME} (v1) (all criteria pass)"


def test_an_alert_with_many_reasons_says_how_many_more_the_app_shows() -> None:
    # the first reason alone ("I1: age at least 18 years: met") reads as if age decided it
    line = format_alert({
        "alert": "newly-eligible", "patient_key": "pt_1",
        "trial": {"id": "NCT06920433", "version": "1"},
        "reasons": ["I1: age at least 18 years: met", "I2: met", "I3: met"],
    })
    assert line == (f"ALERT NEWLY ELIGIBLE: patient pt_1 for {NAME} (v1) "
                    "(I1: age at least 18 years: met; +2 more in the coordinator app)")


def test_an_alert_prints_what_changed_when_the_evaluator_says_it() -> None:
    # the headline is what moved since the previous decision, not the first criterion (issue 11)
    line = format_alert({
        "alert": "no-longer-eligible", "patient_key": "pt_1",
        "trial": {"id": "NCT06920433", "version": "1"},
        "reasons": ["I1: age at least 18 years: met", "E11: not met"],
        "headline": "no longer eligible: E11 rituximab 2 Dec, washout until 19 Aug 2027",
    })
    assert line == (f"ALERT NO LONGER ELIGIBLE: patient pt_1 for {NAME} (v1) — "
                    "E11 rituximab 2 Dec, washout until 19 Aug 2027")


def test_a_closed_alert_says_the_trial_closed_in_words_as_the_app_does() -> None:
    line = format_alert({
        "alert": "closed", "patient_key": "pt_1", "headline": "",
        "trial": {"id": "NCT06920433", "version": "1"},
        "reasons": ["trial NCT06920433 deactivated by api:pi at 2 Dec 2026, 14:18 CET: paused"],
    })
    assert line == (f"ALERT TRIAL CLOSED: patient pt_1 for {NAME} (v1) (trial NCT06920433 "
                    "deactivated by api:pi at 2 Dec 2026, 14:18 CET: paused)")
