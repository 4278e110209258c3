"""An HL7 v2 time without an offset, read with only MSH-7's offset to go on, carries the
daylight-saving doubt instead of a guess.

HL7 v2.5.1 ch. 2A.3.22 (DTM): "If the time zone is not included, the time zone defaults to that
of the local time zone of the sender" - a zone with daylight-saving rules, not MSH-7's one
offset. With no zone configured for the source, TrialWatch reads such a time in MSH-7's offset
(``hl7v2._sender_zone``); a result taken before a daylight-saving change and sent after it is
then off by the change. The reading now keeps the instant read in MSH-7's offset and widens the
fact's ``time_bounds`` by ``times.WIDEST_DST_SAVE`` (the largest daylight-saving difference any
zone of the IANA tz database shows, computed below from zoneinfo ``dst()``) on each side; the
engine judges every criterion at both bounds (README "Times") and says unknown when the hour
decides. The zone configured for the source (an IANA zone) keeps the exact reading.

Cases: the eligible vignette shifted so that its as-of falls a week after a daylight-saving
change (every date moved by the same span; it is eligible as it stands), its own hCG removed,
plus a urine hCG panel whose negative hCG was taken the day before the change and sent after it.
NCT06920433 I8 needs a negative hCG within 7 days of as-of; the window starts between the true
instant and the instant read in MSH-7's offset.

Before (main 508794b): Europe/Berlin, taken 2026-10-24 10:30 CEST (08:30Z, outside the window
that starts 2026-10-24T09:00Z), sent 2026-10-26 with MSH-7 +0100: read 09:30Z, I8 PASS,
ELIGIBLE. America/New_York, taken 2026-10-31 05:30 EDT (09:30Z), sent 2026-11-02 with MSH-7
-0500: read 10:30Z, window from 10:00Z, I8 PASS, ELIGIBLE. Now: I8 unknown, not eligible.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest

from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.clinical.times import WIDEST_DST_SAVE
from shared.eligibility.decision import Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.test_real_feed_examples import AS_OF, _bundle, outcome

HCG_NEGATIVE = "I8"
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _shifted(value: Any, span: timedelta, key: str | None = None) -> Any:
    """The vignette with every date and time moved by ``span`` (birth date kept)."""
    if isinstance(value, dict):
        return {k: _shifted(v, span, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_shifted(v, span) for v in value]
    if isinstance(value, str) and key != "birthDate":
        if _DATETIME.match(value):
            moved = datetime.fromisoformat(value.replace("Z", "+00:00")) + span
            return moved.isoformat().replace("+00:00", "Z")
        if _DATE.match(value):
            return (date.fromisoformat(value) + timedelta(days=span.days)).isoformat()
    return value


def _vignette_as_of(as_of: datetime) -> Any:
    bundle = _shifted(_bundle(), as_of - AS_OF)
    bundle["entry"] = [
        entry for entry in bundle["entry"]
        if not any(c.get("code") == "2106-3"
                   for c in entry["resource"].get("code", {}).get("coding", []))
    ]
    return bundle


def _urine_hcg(sent: str, taken: str) -> str:
    """A urine hCG panel as the lab's interface engine sends it: MSH-7 with the offset in force
    when it was sent, OBR-7 and OBX-14 in local time without an offset (v2.5.1 2A.3.22)."""
    return "\r".join([
        f"MSH|^~\\&|SOFTLAB|NORTH-CLINIC-LAB^2.16.840.1.113883.3.9120^ISO|TRIALWATCH|TW-INTAKE|"
        f"{sent}||ORU^R01^ORU_R01|SL-{sent[:12]}|P|2.5.1|||AL|NE",
        "PID|1||vignette^^^TEST-EHR^MR||Doe^Jane||19900101|F",
        "ORC|RE|ORD-3310^EPIC|FIL-7781^SOFTLAB||CM",
        f"OBR|1|ORD-3310^EPIC|FIL-7781^SOFTLAB|24357-6^Urinalysis macro panel^LN|||{taken}",
        "OBX|1|NM|2965-2^Specific gravity of Urine by Test strip^LN||1.015|1^^UCUM|1.005-1.030|N"
        f"|||F|||{taken}",
        "OBX|2|CWE|2106-3^Choriogonadotropin (pregnancy test) [Presence] in Urine^LN||"
        f"260385009^Negative^SCT||Negative|N|||F|||{taken}",
    ]) + "\r"


def _decide(as_of: datetime, message: str, zone: ZoneInfo | None = None) -> Decision:
    updates = parse_fhir(_vignette_as_of(as_of), source_system="test-ehr")
    updates += parse_hl7v2(message, source_system="north-clinic-lab", sender_zone=zone)
    return evaluate(load_trial("NCT06920433"), facts_from_updates(updates), as_of)


# Europe/Berlin: CEST (+02:00) ends 2026-10-25 01:00Z. Window of I8 from 2026-10-24T09:00Z.
BERLIN_AS_OF = datetime(2026, 10, 31, 9, 0, tzinfo=UTC)
BERLIN = _urine_hcg("20261026081500+0100", "20261024103000")
# America/New_York: EDT (-04:00) ends 2026-11-01 06:00Z. Window of I8 from 2026-10-31T10:00Z.
NEW_YORK_AS_OF = datetime(2026, 11, 7, 10, 0, tzinfo=UTC)
NEW_YORK = _urine_hcg("20261102081500-0500", "20261031053000")


def test_the_shifted_vignette_with_an_hcg_inside_the_window_is_eligible() -> None:
    # the same panel taken well inside the window: the hour decides nothing
    decision = _decide(BERLIN_AS_OF, _urine_hcg("20261026081500+0100", "20261026073000"))
    assert decision.status == Status.ELIGIBLE


@pytest.mark.parametrize(("as_of", "message"), [
    (BERLIN_AS_OF, BERLIN), (NEW_YORK_AS_OF, NEW_YORK),
])
def test_a_result_taken_before_a_dst_change_and_sent_after_it_leaves_i8_unknown(
    as_of: datetime, message: str
) -> None:
    decision = _decide(as_of, message)
    assert outcome(decision, HCG_NEGATIVE) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_the_time_read_in_msh_7_offset_is_bounded_by_the_widest_dst_save() -> None:
    (update,) = parse_hl7v2(BERLIN, source_system="north-clinic-lab")
    hcg = update.facts[1]
    read = datetime(2026, 10, 24, 9, 30, tzinfo=UTC)  # 10:30 in MSH-7's +01:00
    assert hcg.effective_start == read
    assert hcg.time_bounds is not None
    assert hcg.time_bounds.start_earliest == read - WIDEST_DST_SAVE
    assert hcg.time_bounds.start_latest == read + WIDEST_DST_SAVE
    note = hcg.time_bounds.note
    assert note.path == "OBX[2].14"
    assert "2A.3.22" in note.reason
    assert "daylight-saving" in note.reason
    assert "MSH-7" in note.reason
    # where the zone came from is still said
    assert any("MSH-7's offset UTC+01:00" in n.reason for n in hcg.notes)


def test_a_day_precision_time_in_msh_7_offset_is_widened_too() -> None:
    (update,) = parse_hl7v2(_urine_hcg("20261026081500+0100", "20261024"))
    hcg = update.facts[1]
    assert hcg.time_bounds is not None
    day_start = datetime(2026, 10, 23, 23, 0, tzinfo=UTC)  # 24 October at +01:00
    assert hcg.time_bounds.start_earliest == day_start - WIDEST_DST_SAVE
    assert hcg.time_bounds.start_latest == (
        day_start + timedelta(days=1) - timedelta(microseconds=1) + WIDEST_DST_SAVE)


@pytest.mark.parametrize(("as_of", "message", "zone", "instant"), [
    (BERLIN_AS_OF, BERLIN, "Europe/Berlin", datetime(2026, 10, 24, 8, 30, tzinfo=UTC)),
    (NEW_YORK_AS_OF, NEW_YORK, "America/New_York", datetime(2026, 10, 31, 9, 30, tzinfo=UTC)),
])
def test_the_configured_zone_reads_the_exact_instant(
    as_of: datetime, message: str, zone: str, instant: datetime
) -> None:
    (update,) = parse_hl7v2(message, source_system="north-clinic-lab", sender_zone=ZoneInfo(zone))
    hcg = update.facts[1]
    assert hcg.effective_start == instant
    assert hcg.time_bounds is None
    # the true instant lies before the window: no negative hCG within 7 days
    decision = _decide(as_of, message, ZoneInfo(zone))
    assert outcome(decision, HCG_NEGATIVE) != Outcome.PASS
    assert decision.status != Status.ELIGIBLE


def test_a_time_with_its_own_offset_is_exact() -> None:
    (update,) = parse_hl7v2(_urine_hcg("20261026081500+0100", "20261024103000+0200"))
    assert update.facts[1].time_bounds is None


def _widest_dst_save() -> timedelta:
    """The largest daylight-saving difference (``|dst()|``) any zone of the installed IANA tz
    database shows from 1970 (the tz database's reliable scope, tz theory.html) to 2037,
    sampled weekly (no daylight-saving period in the database is shorter than a week)."""
    start, end, step = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2038, 1, 1, tzinfo=UTC),
                        timedelta(days=7))
    widest = timedelta(0)
    for name in available_timezones():
        zone = ZoneInfo(name)
        at = start
        while at < end:
            widest = max(widest, abs(at.astimezone(zone).dst() or timedelta(0)))
            at += step
    return widest


def test_the_widest_dst_save_is_what_the_tz_database_shows() -> None:
    assert _widest_dst_save() == WIDEST_DST_SAVE


# Pharmacy times (v2.5.1 ch. 4A RXA-3/4) are the sender's local time the same way: an
# administration the day before the change, sent after it, with only MSH-7's offset.
def _administration(start: str, end: str = "") -> str:
    return "\r".join([
        "MSH|^~\\&|OMNICELL|NORTH-CLINIC^2.16.840.1.113883.3.9120^ISO|TRIALWATCH|TW-INTAKE|"
        "20261026081500+0100||RAS^O17^RAS_O17|RAS-8812|P|2.5.1|||AL|NE",
        "PID|1||vignette^^^TEST-EHR^MR||Doe^Jane||19900101|F",
        "ORC|RE|PL-551^EPIC|FL-9114^PHARM||CM||||20261024100000+0200",
        f"RXA|0|1|{start}|{end}|CYC500^Cyclophosphamide 500 mg^L^3002^cyclophosphamide^RXN|500|"
        "mg^milligram^UCUM|||||||||||||CP|A",
        "RXR|IV^Intravenous^HL70162",
    ]) + "\r"


def test_an_administration_read_in_msh_7_offset_is_bounded_by_the_widest_dst_save() -> None:
    (update,) = parse_hl7v2(_administration("202610241030", "202610241130"))
    (fact,) = update.facts
    start, end = datetime(2026, 10, 24, 9, 30, tzinfo=UTC), datetime(2026, 10, 24, 10, 30,
                                                                         tzinfo=UTC)
    assert (fact.effective_start, fact.effective_end) == (start, end)
    assert fact.time_bounds is not None
    assert fact.time_bounds.start_earliest == start - WIDEST_DST_SAVE
    assert fact.time_bounds.start_latest == start + WIDEST_DST_SAVE
    assert fact.time_bounds.end_earliest == end - WIDEST_DST_SAVE
    assert fact.time_bounds.end_latest == end + WIDEST_DST_SAVE
    assert "daylight-saving" in fact.time_bounds.note.reason
    assert "MSH-7's offset UTC+01:00" in fact.time_bounds.note.reason


def test_an_administration_in_the_configured_zone_is_exact() -> None:
    (update,) = parse_hl7v2(
        _administration("202610241030", "202610241130"), sender_zone=ZoneInfo("Europe/Berlin"))
    (fact,) = update.facts
    assert fact.effective_start == datetime(2026, 10, 24, 8, 30, tzinfo=UTC)
    assert fact.time_bounds is None
