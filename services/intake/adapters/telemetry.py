"""What intake tells operators about each submission: Prometheus counts and structured logs.

Surrogate keys, ids, statuses and error types only: the source identifiers and the payload stay
in intake's database (a payload may carry PHI).
"""

from __future__ import annotations

import structlog

from services.intake.adapters import metrics
from services.intake.core.accept import Acceptance
from services.intake.core.refusals import NormaliserDefect, Refusal

log = structlog.get_logger(__name__)


def count_refusal(refusal: Refusal, *, channel: str, format_name: str) -> None:
    """Count a refused submission; a normaliser defect is also counted and logged by type."""
    metrics.SUBMISSIONS.labels(channel, format_name, refusal.slug).inc()
    if isinstance(refusal, NormaliserDefect):
        metrics.NORMALISER_DEFECTS.labels(refusal.format_name).inc()
        log.error("normaliser_defect", format=refusal.format_name, error=refusal.error_type)


def log_acceptance(acceptance: Acceptance, *, channel: str, client: str) -> None:
    """Surrogate keys and ids only: the source identifiers stay in intake's database."""
    receipt = acceptance.receipt
    with structlog.contextvars.bound_contextvars(receipt_id=str(receipt.receipt_id)):
        log.info("submission_replayed" if acceptance.replayed else "submission_accepted",
                 channel=channel, client=client, format=receipt.format,
                 patient_keys=list(receipt.patient_keys),
                 event_ids=[str(e) for e in receipt.event_ids])
