"""What intake tells operators about each submission: Prometheus counts and structured logs.

Surrogate keys, ids, statuses and error types only: the source identifiers and the payload stay
in intake's database (a payload may carry PHI).
"""

from __future__ import annotations

import re

import structlog

from services.intake.adapters import metrics
from services.intake.core.accept import Acceptance
from services.intake.core.refusals import NormaliserDefect, Refusal

log = structlog.get_logger(__name__)


# what a sender wrote, as a reason quotes it ('abc', "Roe^Jane"), and any date or date-time
# (ISO 8601 YYYY-MM-DD..., HL7 v2 DTM YYYYMMDD[HHMM[SS]]): a reason may name a birth date
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_DATES = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?|\b\d{8,14}\b")


def without_sent_text(reason: str) -> str:
    """``reason`` with every quoted sent text and every date replaced by ``…``: what a log
    line may say of a refusal (the path and the rule broken, never what was sent)."""
    return _DATES.sub("…", _QUOTED.sub("'…'", reason))


def count_refusal(refusal: Refusal, *, channel: str, format_name: str) -> None:
    """Count a refused submission and log it: its status, kind, number of problems and the
    first problem's path and reason without the sent text (``without_sent_text``), so the
    operator's terminal (``trialwatch run``) shows a refusal without PHI. A normaliser defect
    is also counted and logged by type."""
    metrics.SUBMISSIONS.labels(channel, format_name, refusal.slug).inc()
    first = refusal.problems[0] if refusal.problems else None
    log.info("submission_refused", channel=channel, format=format_name,
             status=refusal.status, kind=refusal.slug, problems=len(refusal.problems),
             first_path=first.path if first else None,
             first_reason=without_sent_text(first.reason) if first else None)
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
