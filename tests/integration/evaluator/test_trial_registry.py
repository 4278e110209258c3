"""Trials as runtime data on a running evaluator: three trials from its folder, a change that
matters to one trial re-screens all three, an amendment added and activated, a trial retired,
all with no restart; the real broker and database."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.evaluator.adapters.sql.amendments import activate_and_rescreen, stop_screening
from services.evaluator.adapters.sql.dialects import immediate_sqlite_transactions
from services.evaluator.bootstrap import default_screener
from shared.clinical.facts import ClinicalFact, PatientFacts
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.contracts.events import DecisionMade
from shared.eligibility.decision import Status, TrialRef
from shared.eligibility.loader import TRIALS_DIR
from shared.infra.clock import utc_now
from shared.infra.sql_engine import make_engine, make_sessionmaker
from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import (
    collect,
    evaluator_in_process,
    fresh_settings,
    publish,
    until,
)
from tests.unit.eligibility.fhir_builder import PatientBuilder
from tests.unit.eligibility.more_trials import eligible_for_all
from tests.unit.evaluator.fakes import patient_updated

pytestmark = pytest.mark.integration
THREE = {"NCT06920433", "NCT06946485", "TRIALX-323795"}


def _facts(builder: PatientBuilder) -> PatientFacts:
    return facts_from_updates(parse_fhir(builder.bundle(), source_system="registry-test"))


def _new_results(builder: PatientBuilder, tag: str) -> tuple[ClinicalFact, ...]:
    """The builder's observations as a later message: their own resource ids, no Patient."""
    for resource in builder.resources:
        resource["id"] = f"{tag}-{resource['id']}"
    updates = parse_fhir(builder.bundle(), source_system="registry-test")
    return tuple(f for u in updates for f in u.facts)


def _latest(decisions: list[DecisionMade]) -> dict[str, DecisionMade]:
    return {d.decision.trial.id: d for d in decisions}


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "trials"
    for trial_id in sorted(THREE):
        shutil.copytree(TRIALS_DIR / trial_id, folder / trial_id)
    return folder


async def test_three_trials_a_change_for_one_rescreens_all_an_amendment_and_a_retirement_live(
    kafka_settings: KafkaSettings,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = _folder(tmp_path)
    settings = await fresh_settings(
        database_url,
        kafka_settings,
        "evaluator",
        timer_poll_interval_s=0.2,
        trials_dir=folder,
        registry_poll_interval_s=0.3,
    )
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    # the vignette patient, built relative to now: eligible for all three trials at once
    monkeypatch.setattr("tests.unit.eligibility.fhir_builder.AS_OF", now)
    facts = _facts(eligible_for_all())
    engine = make_engine(database_url)
    immediate_sqlite_transactions(engine)
    sessions = make_sessionmaker(engine)
    try:
        async with (
            evaluator_in_process(settings, kafka_settings, default_screener(folder)),
            collect(kafka_settings, [patient]) as seen,
        ):
            await publish(
                kafka_settings,
                [patient_updated(patient, facts.facts, now, demographics=facts.demographics)],
            )
            assert await until(lambda: len(seen.decisions) == 3, 30)
            first = _latest(seen.decisions)
            assert set(first) == THREE
            assert {d.decision.status for d in first.values()} == {Status.ELIGIBLE}, {
                t: [c.reason for c in d.decision.criteria if c.outcome.value != "pass"]
                for t, d in first.items()
            }
            assert await until(lambda: len(seen.alerts) == 3, 30)
            assert all(
                d.trial_content_hash and d.trial_content_hash.startswith("sha256:")
                for d in first.values()
            )

            # an INR only NCT06946485 reads: every active trial is screened, only NCT06946485's
            # decision changes and is written; the others' standing decisions stay the answer
            inr = _new_results(PatientBuilder().lab("6301-6", 1.9, "1", days=0), "inr")
            await publish(kafka_settings, [patient_updated(patient, inr, now)])
            assert await until(lambda: len(seen.decisions) >= 4, 30)
            await until(lambda: False, 1.0)
            second = _latest(seen.decisions[3:])
            assert set(second) == {"NCT06946485"}
            assert second["NCT06946485"].state_version == 2
            assert second["NCT06946485"].decision.status is Status.INELIGIBLE
            assert second["NCT06946485"].previous_status is Status.ELIGIBLE

            # an amendment: a new version file, added and activated on the running pipeline
            amended = (folder / "TRIALX-323795" / "2025-12-01.5.yaml").read_text(encoding="utf-8")
            amended = amended.replace('version: "2025-12-01.5"', 'version: "2025-12-01.6"')
            amended = amended.replace("  sledai_min:\n    value: 8", "  sledai_min:\n    value: 10")
            (folder / "TRIALX-323795" / "2025-12-01.6.yaml").write_text(amended, encoding="utf-8")
            amendment = TrialRef(id="TRIALX-323795", version="2025-12-01.6")
            count = await activate_and_rescreen(
                sessions, default_screener(folder), amendment, utc_now, actor="cli:protocol-author"
            )
            assert count == 1
            assert await until(
                lambda: any(d.decision.trial == amendment for d in seen.decisions), 30
            )
            [rescreened] = [d for d in seen.decisions if d.decision.trial == amendment]
            assert rescreened.registry_change is not None
            assert rescreened.registry_change.actor == "cli:protocol-author"
            assert rescreened.registry_change.action == "activate"
            assert rescreened.registry_change.content_hash == rescreened.trial_content_hash

            # retire the amended trial: its open alert is closed with the reason
            await stop_screening(
                sessions,
                "TRIALX-323795",
                "retire",
                "enrolment complete",
                "cli:protocol-author",
                utc_now,
            )
            assert await until(lambda: any(a.alert == "closed" for a in seen.alerts), 30)
            closed = next(a for a in seen.alerts if a.alert == "closed")
            assert closed.trial.id == "TRIALX-323795"
            assert "enrolment complete" in closed.reasons[0]
            assert closed.registry_change is not None
            assert closed.registry_change.action == "retire"

            # the next change screens the two trials still active
            hb = _new_results(PatientBuilder().lab("718-7", 111, "g/L", days=0), "hb")
            await publish(kafka_settings, [patient_updated(patient, hb, now)])
            before = len(seen.decisions)
            assert await until(lambda: len(seen.decisions) >= before + 1, 30)
            await until(lambda: False, 1.0)
            # a haemoglobin both active trials read; the retired trial gets no decision
            assert {d.decision.trial.id for d in seen.decisions[before:]} == THREE - {
                "TRIALX-323795"
            }
    finally:
        await engine.dispose()
