"""A count estimated from a blood smear is a newer result of its analyte, never the count itself.

LOINC 49497-1 "Platelets [#/volume] in Blood by Estimate" and 49498-9 "Leukocytes [#/volume]
in Blood by Estimate" (long names in the GECCO laboratory value set of github.com/ehrbase/
fhir-bridge, src/main/java/org/ehrbase/fhirbridge/ehr/opt/geccolaborbefundcomposition/
definition/UntersuchterAnalytDefiningCode.java, beside 777-3 / 778-1 and 6690-2 / 804-5; OMOP
concept 3031586 names 49497-1 the same): a technologist's semi-quantitative estimate from the
number of cells per oil-immersion field of a smear, not the count a numeric threshold
("platelets >= 20 x 10^9/L", NCT06920433 I6.1) names. Before (probe round 5), 49497-1 was not
catalogued: a newer estimate of 8 was ignored and the older automated count of 180 decided I6.1:
ELIGIBLE. Now the estimate is kept as an unread result of the platelet (leukocyte) concept: it
decides nothing, and no older count decides in its place.
"""

from __future__ import annotations

from shared.eligibility.decision import Outcome, Status
from shared.eligibility.reference_tables import load_tables
from tests.unit.test_real_feed_examples import (
    UCUM,
    _add,
    _bundle,
    _observation,
    _oru,
    _reason,
    decide,
    outcome,
)

PLATELETS = "I6.1"  # bone marrow function: platelets >= 20e9/L (NCT06920433)
ESTIMATE = "an estimate from a smear, not a count"
COUNT = {"value": 8, "unit": "10*3/uL", "system": UCUM, "code": "10*3/uL"}


def test_a_newer_platelet_estimate_leaves_i6_1_unknown() -> None:
    estimate = _observation("plt-est", "49497-1", "2026-02-28T09:00:00Z", valueQuantity=COUNT)
    decision = decide(_bundle(_add(estimate)))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    assert ESTIMATE in _reason(decision, PLATELETS)


def test_an_hl7_platelet_estimate_leaves_i6_1_unknown() -> None:
    obx = "OBX|1|NM|49497-1^Platelet estimate^LN||8|10*3/uL|150-400|L|||F|||20260228080000+0000"
    decision = decide(_bundle(), _oru("M-EST", obx))
    assert outcome(decision, PLATELETS) == Outcome.UNKNOWN
    assert ESTIMATE in _reason(decision, PLATELETS)


def test_an_older_estimate_and_a_newer_count_the_count_decides() -> None:
    # the vignette's automated count (777-3, 180 x10^9/L) is of 2026-02-26; the estimate older
    estimate = _observation("plt-est", "49497-1", "2026-02-20T09:00:00Z", valueQuantity=COUNT)
    decision = decide(_bundle(_add(estimate)))
    assert outcome(decision, PLATELETS) == Outcome.PASS
    assert decision.status == Status.ELIGIBLE
    newer = _observation("plt-new", "777-3", "2026-02-28T09:00:00Z", valueQuantity=COUNT)
    assert outcome(decide(_bundle(_add(estimate, newer))), PLATELETS) == Outcome.FAIL


def test_the_estimate_codes_are_catalogued_unread() -> None:
    concepts = load_tables().concepts
    loinc = "http://loinc.org"
    assert dict(concepts["platelets"].unread_keys) == {f"{loinc}|49497-1": ESTIMATE}
    assert dict(concepts["leukocytes"].unread_keys) == {f"{loinc}|49498-9": ESTIMATE}
    assert f"{loinc}|49497-1" in concepts["platelets"].keys
    assert f"{loinc}|49498-9" in concepts["leukocytes"].keys


def test_the_data_dictionary_says_the_estimate_is_kept_unread() -> None:
    from shared.eligibility.data_elements import codes_text

    text = codes_text(load_tables().concepts["platelets"])
    assert f"LOINC `49497-1` (kept unread: {ESTIMATE})" in text
    assert "LOINC `777-3`," in text
