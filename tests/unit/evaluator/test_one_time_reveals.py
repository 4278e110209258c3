"""The re-identification's answer between its POST and the page it redirects to (Post/Redirect/
Get): handed out once, to the session that asked, for that patient and trial, for a minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.evaluator.adapters.http.ui.pages import OneTimeReveals

NOW = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
WHO = {"source_system": "ehr", "source_patient_id": "MRN-1"}


def test_the_identity_is_handed_out_once_to_the_session_that_asked() -> None:
    reveals = OneTimeReveals()
    reveals.keep("csrf-a", "pt_1", "NCT1", WHO, NOW)
    assert reveals.take("csrf-b", "pt_1", "NCT1", NOW) is None, "another session"
    assert reveals.take("csrf-a", "pt_2", "NCT1", NOW) is None, "another patient"
    assert reveals.take("csrf-a", "pt_1", "NCT2", NOW) is None, "another trial"
    assert reveals.take("csrf-a", "pt_1", "NCT1", NOW) == WHO
    assert reveals.take("csrf-a", "pt_1", "NCT1", NOW) is None, "a reload shows nothing"


def test_an_identity_not_fetched_in_time_is_dropped_and_the_store_is_bounded() -> None:
    reveals = OneTimeReveals(ttl=timedelta(seconds=60), limit=2)
    reveals.keep("a", "pt_1", "T", WHO, NOW)
    assert reveals.take("a", "pt_1", "T", NOW + timedelta(seconds=61)) is None
    for n in range(3):
        reveals.keep("a", f"pt_{n}", "T", WHO, NOW)
    assert reveals.take("a", "pt_0", "T", NOW) is None, "the oldest was dropped"
    assert reveals.take("a", "pt_2", "T", NOW) == WHO
