"""EVALUATOR_SITE_TIMEZONE, the zone every coordinator page writes times in: an IANA zone name
read through zoneinfo, UTC by default, and refused at start-up with the setting named (a wrong
name failed later as a bare ZoneInfoNotFoundError, naming no setting)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import EvaluatorSettings


def test_the_default_is_utc_and_an_iana_zone_is_read_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert EvaluatorSettings().site_timezone == "UTC"
    monkeypatch.setenv("EVALUATOR_SITE_TIMEZONE", "Europe/Berlin")
    assert EvaluatorSettings().site_timezone == "Europe/Berlin"


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "Europe/berlin ", "", "../etc/passwd"])
def test_a_name_that_is_no_iana_zone_is_refused_at_start_naming_the_setting(
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("EVALUATOR_SITE_TIMEZONE", name)
    with pytest.raises(ValidationError) as refused:
        EvaluatorSettings()
    said = str(refused.value)
    assert f"EVALUATOR_SITE_TIMEZONE={name!r} is not an IANA time zone name" in said, said
    assert "e.g. Europe/Berlin" in said, said
