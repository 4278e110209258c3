"""CDS Hooks patient-view cards write a moment the way the coordinator app does: no raw
ISO-8601 instant or date in a card's text, days in the site's zone (EVALUATOR_SITE_TIMEZONE),
as the worklist writes the same "what to send" items."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from services.evaluator.adapters.http.cds_hooks import _card
from services.evaluator.core.ports import TrialStanding
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import AS_OF, SNOMED, eligible_patient

ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
HONOLULU = ZoneInfo("Pacific/Honolulu")  # UTC-10: a UTC midnight is the day before there


def test_a_close_to_eligible_card_names_days_as_the_app_does_not_iso_instants() -> None:
    builder = eligible_patient()
    # an "active" pregnancy with onset six years ago (Synthea's "Normal pregnancy"): E12 asks
    # for confirmation whether the pregnancy on record since <onset> is current
    builder.condition(SNOMED, "72892002", onset_days=6 * 365)
    decision = evaluate(load_trial("NCT06920433", "2025-11-14.2"),
                        facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr")),
                        AS_OF)
    unknown = [c for c in decision.criteria if c.outcome is Outcome.UNKNOWN]
    assert decision.status is Status.UNDETERMINED
    assert any(ISO.search(m) for c in unknown for m in c.missing), "the engine writes ISO"
    row = TrialStanding(trial_id="NCT06920433", status=decision.status,
                        unknown_criteria=len(unknown), decision=decision)
    card = _card(row, "https://tw.example/ui/x", HONOLULU)
    assert card is not None
    assert card["summary"] == "Close to eligible for trial NCT06920433"
    assert ISO.search(card["detail"]) is None, card["detail"]
    onset = next(c for c in decision.criteria if c.id == "E12").evidence[0].effective
    assert onset is not None
    local = onset.astimezone(HONOLULU)
    assert f"since {local.day} {local:%b} {local.year} is current" in card["detail"]
