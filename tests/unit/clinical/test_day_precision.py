"""Times sent without a time of day: kept as the whole day, judged at both ends of it.

FHIR R4 dateTime: "a date, or partial date ... If hours and minutes are specified, a time
zone SHALL be populated" - ``2026-02-26`` names a day in a zone it does not give (UTC-12 to
UTC+14). HL7 v2.5.1 ch. 2A.3.22 DTM: the precision is what the sender gave; ``20260226`` is the
whole day in the sender's zone (MSH-7's offset, else the configured zone).

Reading it as 00:00Z (the earlier reading) ordered a platelet count of 8 "of 26 February"
before the 180 of 26 February 09:00Z, so the 180 decided and the patient was eligible; a
clinician cannot tell which came first. Each case is the eligible vignette (platelets 180 on
2026-02-26T09:00Z, as of 2026-03-01T09:00Z, NCT06920433 I6.1 platelets >= 20) plus one result.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.times import WIDEST_DST_SAVE
from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import (
    UCUM,
    Json,
    _add,
    _bundle,
    _observation,
    _oru,
    _reason,
    decide,
    outcome,
)

PLATELETS = "I6.1"


def _low_platelets(when: str) -> Json:
    return _bundle(
        _add(
            _observation(
                "plt-day", "777-3", when,
                valueQuantity={"value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"},
            )
        )
    )


def test_a_low_count_known_only_to_the_day_of_the_180_leaves_i6_1_unknown() -> None:
    decision = decide(_low_platelets("2026-02-26"))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = _reason(decision, PLATELETS)
    assert "time of day" in reason
    missing = next(r.missing for r in decision.criteria if r.id == PLATELETS)
    assert any("time of day" in item for item in missing)


def test_a_low_count_known_only_to_a_later_day_decides_as_the_newest() -> None:
    # 28 February is after 26 February 09:00Z in every zone: no ambiguity, it decides
    assert outcome(decide(_low_platelets("2026-02-28")), PLATELETS) == Outcome.FAIL


def test_a_good_count_known_only_to_an_older_day_leaves_the_180_deciding() -> None:
    bundle = _bundle(
        _add(
            _observation(
                "plt-old", "777-3", "2026-02-20",
                valueQuantity={"value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"},
            )
        )
    )
    assert decide(bundle).status == Status.ELIGIBLE


def test_a_fhir_date_keeps_the_whole_day_in_any_zone_as_its_bounds() -> None:
    (update,) = parse_fhir(
        _observation("plt-day", "8480-6", "2026-02-26", valueInteger=1)["resource"],
        source_system="ehr",
    )
    (fact,) = update.facts
    assert fact.effective_start == datetime(2026, 2, 26, tzinfo=UTC)
    assert fact.time_bounds is not None
    assert fact.time_bounds.start_earliest == datetime(2026, 2, 25, 10, tzinfo=UTC)
    assert fact.time_bounds.start_latest == datetime(2026, 2, 27, 11, 59, 59, 999999, tzinfo=UTC)
    assert fact.time_bounds.note.path == "Observation.effectiveDateTime"


def test_an_instant_has_no_bounds() -> None:
    (update,) = parse_fhir(
        _observation("plt", "8480-6", "2026-02-26T09:00:00Z", valueInteger=1)["resource"],
        source_system="ehr",
    )
    assert update.facts[0].time_bounds is None


def test_condition_medication_and_procedure_dates_keep_their_bounds() -> None:
    condition: dict[str, Any] = {
        "resourceType": "Condition", "id": "c1",
        "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "55464009"}]},
        "onsetDateTime": "2020-05-01", "abatementDateTime": "2021-01",
    }
    statement: dict[str, Any] = {
        "resourceType": "MedicationStatement", "id": "m1", "status": "completed",
        "subject": {"reference": "Patient/p"},
        "medicationCodeableConcept": {"coding": [{
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "121191"}]},
        "effectivePeriod": {"start": "2025-10-01", "end": "2025-10-31T10:00:00Z"},
    }
    (c,) = parse_fhir(condition, source_system="ehr")[0].facts
    (m,) = parse_fhir(statement, source_system="ehr")[0].facts
    assert c.time_bounds is not None
    assert c.time_bounds.start_earliest == datetime(2020, 4, 30, 10, tzinfo=UTC)
    assert c.time_bounds.end_latest == datetime(2021, 2, 1, 11, 59, 59, 999999, tzinfo=UTC)
    assert m.time_bounds is not None
    assert m.time_bounds.start_latest == datetime(2025, 10, 2, 11, 59, 59, 999999, tzinfo=UTC)
    assert m.time_bounds.end_latest is None  # the end is an instant


# HL7 v2.5.1 2A.3.22 DTM at day precision, in the sender's zone (MSH-7's offset)


def test_an_hl7_result_of_day_precision_on_the_day_of_the_180_leaves_i6_1_unknown() -> None:
    obx = "OBX|1|NM|777-3^Platelets^LN||8|10*9/L|150-400|LL|||F|||20260226"
    message = _oru("M-DAY", obx, obr="OBR|1|ORD-D|FIL-D|57021-8^CBC^LN", at="20260226230000-0500")
    (update,) = parse_hl7v2(message)
    (fact,) = update.facts
    assert fact.time_bounds is not None
    # the day at MSH-7's -05:00, widened by the widest daylight-saving difference on each side:
    # no zone is configured, so MSH-7's offset may not be the sender's offset on that day
    # (test_hl7v2_msh7_offset_dst)
    assert fact.time_bounds.start_earliest == (
        datetime(2026, 2, 26, 5, tzinfo=UTC) - WIDEST_DST_SAVE)
    assert fact.time_bounds.start_latest == (
        datetime(2026, 2, 27, 4, 59, 59, 999999, tzinfo=UTC) + WIDEST_DST_SAVE)
    decision = decide(_bundle(), message)
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_an_hl7_result_to_the_minute_is_an_instant() -> None:
    obx = "OBX|1|NM|777-3^Platelets^LN||8|10*9/L|150-400|LL|||F|||202602260800-0500"
    message = _oru("M-MIN", obx, obr="OBR|1|ORD-M|FIL-M|57021-8^CBC^LN")
    (update,) = parse_hl7v2(message)
    assert update.facts[0].time_bounds is None
    # 08:00-05:00 is 13:00Z, after the 180 of 09:00Z: the 8 decides
    assert outcome(decide(_bundle(), message), PLATELETS) == Outcome.FAIL


# A look-back window edge: NCT06920433 E12 excludes on a positive hCG within 7 days (window
# start 2026-02-22T09:00Z), read as the most recent hCG in the window. The vignette's negative
# hCG of 27 February is removed so the dated-by-day positive is the only one. A positive test
# "of 22 February" was read as 00:00Z, outside the window, so E12 did not apply; it may have
# been taken after 09:00Z that day.


def _positive_hcg(when: str) -> Json:
    positive = {"coding": [{"system": "http://snomed.info/sct", "code": "10828004"}]}

    def change(bundle: Json) -> None:
        bundle["entry"] = [
            e for e in bundle["entry"]
            if not any(c.get("code") == "2106-3"
                       for c in e["resource"].get("code", {}).get("coding", []))
        ]
        bundle["entry"].append(
            _observation("hcg-day", "2106-3", when, valueCodeableConcept=positive)
        )

    return _bundle(change)


def test_a_positive_hcg_of_the_window_start_day_leaves_e12_unknown() -> None:
    decision = decide(_positive_hcg("2026-02-22"))
    assert outcome(decision, "E12") == Outcome.UNKNOWN
    assert "time of day" in _reason(decision, "E12")
    assert decision.status != Status.ELIGIBLE


def test_a_positive_hcg_of_a_day_wholly_before_the_window_is_outside_it() -> None:
    # 20 February ends by 2026-02-21T12:00Z in every zone: before the window in all of them,
    # so E12 is judged without it (unknown here only because no hCG lies in the window)
    decision = decide(_positive_hcg("2026-02-20"))
    assert "time of day" not in _reason(decision, "E12")
    assert "no readable hCG" in _reason(decision, "E12")


def test_a_positive_hcg_of_a_day_wholly_inside_the_window_excludes() -> None:
    assert outcome(decide(_positive_hcg("2026-02-25")), "E12") == Outcome.FAIL


# FHIR R4 dateTime (https://hl7.org/fhir/R4/datatypes.html#dateTime): "a date, or partial date
# (e.g. just year or year + month) as used in human communication". ``2026-03`` is some instant
# of March 2026 (in a zone it does not give), ``2026`` some instant of 2026. Dated at the last
# instant of its period, a result of the current month or year (as of 2026-03-01T09:00Z) lay
# in the future: it was skipped, and the older 180 of 26 February decided (eligible).


def test_a_month_keeps_the_whole_month_in_any_zone_as_its_bounds() -> None:
    (update,) = parse_fhir(
        _observation("plt-month", "777-3", "2026-03",
                     valueQuantity={"value": 8, "unit": "10*9/L", "system": UCUM,
                                    "code": "10*9/L"})["resource"],
        source_system="ehr",
    )
    (fact,) = update.facts
    assert fact.unread is None
    assert fact.value_quantity is not None
    assert fact.effective_start == datetime(2026, 3, 1, tzinfo=UTC)
    assert fact.time_bounds is not None
    assert fact.time_bounds.start_earliest == datetime(2026, 2, 28, 10, tzinfo=UTC)
    assert fact.time_bounds.start_latest == datetime(2026, 4, 1, 11, 59, 59, 999999, tzinfo=UTC)
    assert fact.time_bounds.note.path == "Observation.effectiveDateTime"
    assert "month" in fact.time_bounds.note.reason


def test_a_low_count_known_only_to_the_current_month_decides_as_the_newest() -> None:
    # March 2026 began after 26 February 09:00Z in every zone, and as of 1 March 09:00Z the
    # count was taken by now: it is the newest, whatever instant of March it was
    decision = decide(_low_platelets("2026-03"))
    assert outcome(decision, PLATELETS) == Outcome.FAIL
    assert decision.status != Status.ELIGIBLE


def test_a_low_count_known_only_to_the_current_year_leaves_i6_1_unknown() -> None:
    # some instant of 2026 up to now: before or after the 180 of 26 February
    decision = decide(_low_platelets("2026"))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_a_low_count_known_only_to_an_earlier_month_than_the_180_leaves_it_deciding() -> None:
    # January 2026 ended before 26 February in every zone: the 180 is the newest
    assert decide(_low_platelets("2026-01")).status == Status.ELIGIBLE


def test_a_positive_hcg_known_only_to_the_current_month_excludes() -> None:
    # March 2026 up to now lies wholly inside the 7-day window (from 2026-02-22T09:00Z)
    assert outcome(decide(_positive_hcg("2026-03")), "E12") == Outcome.FAIL


def test_a_positive_hcg_known_only_to_a_month_across_the_window_start_leaves_e12_unknown() -> (
    None
):
    decision = decide(_positive_hcg("2026-02"))
    assert outcome(decision, "E12") == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
