"""What an operator tunes on the evaluator (cache sizes, batch, fetch wait, alert queue) is read
from EVALUATOR_* settings, with the defaults the constructors had, and refused when nonsensical."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.evaluator.adapters.criteria_engine import DEFAULT_PATIENTS as ENGINE_DEFAULT
from services.evaluator.adapters.criteria_engine import default_screener
from services.evaluator.adapters.patient_cache import DEFAULT_PATIENTS as CACHE_DEFAULT
from services.evaluator.adapters.patient_cache import PatientCache
from services.evaluator.core.patient_state import PatientState
from shared.clinical.facts import PatientFacts
from shared.settings import EvaluatorSettings


def test_the_defaults_are_the_sizes_the_constructors_had() -> None:
    settings = EvaluatorSettings()
    assert settings.patient_cache_size == CACHE_DEFAULT == 2_000
    assert settings.engine_state_cache_size == ENGINE_DEFAULT == 1_000
    assert (settings.batch_size, settings.fetch_max_wait_ms, settings.alert_queue_size) == (
        200, 20, 1_000)


def test_each_is_read_from_its_evaluator_environment_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"PATIENT_CACHE_SIZE": "10", "ENGINE_STATE_CACHE_SIZE": "0",
                        "BATCH_SIZE": "50", "FETCH_MAX_WAIT_MS": "100",
                        "ALERT_QUEUE_SIZE": "5"}.items():
        monkeypatch.setenv(f"EVALUATOR_{name}", value)
    settings = EvaluatorSettings()
    assert (settings.patient_cache_size, settings.engine_state_cache_size, settings.batch_size,
            settings.fetch_max_wait_ms, settings.alert_queue_size) == (10, 0, 50, 100, 5)


@pytest.mark.parametrize("name", ["PATIENT_CACHE_SIZE", "ENGINE_STATE_CACHE_SIZE",
                                  "BATCH_SIZE", "ALERT_QUEUE_SIZE"])
def test_a_negative_or_zero_batch_or_queue_is_refused(
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(f"EVALUATOR_{name}", "-1")
    with pytest.raises(ValidationError):
        EvaluatorSettings()


def test_a_patient_cache_of_size_zero_keeps_no_patient() -> None:
    cache = PatientCache(0)
    state = PatientState("pk-1", 1, PatientFacts(), None)
    cache.commit({"pk-1": state}, {}, set())
    assert len(cache) == 0
    assert cache.facts("pk-1", 1) is None


def test_the_engine_state_cache_size_reaches_the_screener() -> None:
    assert default_screener(max_patients=7)._max_patients == 7
