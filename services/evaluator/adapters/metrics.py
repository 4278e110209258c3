"""Prometheus metrics of the evaluator (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS = Counter(
    "evaluator_patient_events_total", "Patient events by outcome", ["outcome"]
)
EVENT_SECONDS = Histogram(
    "evaluator_patient_event_seconds", "Time to apply, screen and publish one patient event"
)
TIMERS_FIRED = Counter("evaluator_timers_fired_total", "Review timers fired")
WEBHOOK_ATTEMPTS = Counter(
    "evaluator_webhook_attempts_total", "Webhook delivery attempts by result", ["result"]
)
ENGINE_FAILURES = Counter(
    "evaluator_engine_failures_total", "Evaluations where the criteria engine raised"
)
