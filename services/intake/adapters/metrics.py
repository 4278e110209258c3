"""Prometheus metrics of intake: counts and latencies only, never identifiers."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SUBMISSIONS = Counter(
    "intake_submissions_total", "Submissions by channel, format and outcome",
    ["channel", "format", "outcome"],
)
NORMALISER_DEFECTS = Counter(
    "intake_normaliser_defects_total",
    "Inputs the shared normaliser failed on with an unexpected exception (refused with 422)",
    ["format"],
)
EVENTS_PUBLISHED = Counter("intake_events_published_total", "Outbox events acknowledged by Kafka")
RELAY_FAILURES = Counter("intake_relay_failures_total", "Failed publish attempts (retried)")
OUTBOX_PENDING = Gauge("intake_outbox_pending", "Outbox events not yet acknowledged by Kafka")
ACCEPT_SECONDS = Histogram(
    "intake_accept_seconds", "Time from body read to durable receipt",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
