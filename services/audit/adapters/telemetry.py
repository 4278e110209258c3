"""The core's ``AuditTelemetry`` as Prometheus metrics (``services.audit.metrics``) and structlog
lines: the same counters and log events the service has always emitted, never PHI beyond the
surrogate patient key."""

from __future__ import annotations

from uuid import UUID

import structlog

from services.audit import metrics
from shared.contracts.signatures import Refusal

log = structlog.get_logger("services.audit")


class MetricsAndLogs:
    def decision_refused(self, refusal: Refusal, event_id: UUID) -> None:
        metrics.DECISIONS_REFUSED.labels(reason=refusal.kind).inc()
        log.warning("decision refused: not signed by a trusted evaluator key",
                    refusal=refusal.kind, event_id=str(event_id), key_id=refusal.key_id)

    def decision_dead_lettered(self, reason: str) -> None:
        metrics.DEAD_LETTERS.inc()
        log.warning("decision dead-lettered", reason=reason[:200])

    def store_unavailable(self, error: str, pause_s: float) -> None:
        metrics.STORE_FAILURES.inc()
        log.warning("audit database unavailable; pausing before redelivery",
                    error=error, pause_s=pause_s)

    def decision_recorded(self, event_id: UUID, patient_key: str, decision_id: UUID,
                          sequence: int | None) -> None:
        with structlog.contextvars.bound_contextvars(event_id=str(event_id),
                                                     patient_key=patient_key):
            if sequence is None:
                metrics.DUPLICATE_DECISIONS.inc()
                log.info("duplicate decision ignored", decision_id=str(decision_id))
            else:
                metrics.DECISIONS_STORED.inc()
                metrics.CHAIN_HEAD.set(sequence)
                log.info("decision recorded", decision_id=str(decision_id), sequence=sequence)

    def snapshot_missing(self, decision_id: UUID, sequence: int, snapshot_hash: str) -> None:
        metrics.SNAPSHOTS_MISSING.inc()
        log.warning("decision recorded without its input snapshot",
                    decision_id=str(decision_id), sequence=sequence, snapshot_hash=snapshot_hash)

    def snapshots_received(self, count: int) -> None:
        metrics.SNAPSHOTS_RECEIVED.inc(count)

    def action_dead_lettered(self) -> None:
        log.warning("coordinator action dead-lettered")

    def action_refused(self, refusal: Refusal, event_id: UUID) -> None:
        metrics.ACTIONS_REFUSED.labels(reason=refusal.kind).inc()
        log.warning("coordinator action refused: not signed by a trusted evaluator key",
                    refusal=refusal.kind, event_id=str(event_id), key_id=refusal.key_id)

    def action_recorded(self, action: str, patient_key: str, trial_id: str) -> None:
        log.info("coordinator action recorded", action=action, patient_key=patient_key,
                 trial=trial_id)

    def checkpoint_written(self, sequence: int,
                           signed: tuple[int, int, int] | None = None) -> None:
        metrics.CHECKPOINTS_WRITTEN.inc()
        if signed is None:
            log.info("checkpoint written", sequence=sequence)
            return
        for part, value in zip(("sequence", "access_entry", "action"), signed, strict=True):
            metrics.CHECKPOINT_NEWEST.labels(part).set(value)
        log.info("checkpoint written", sequence=sequence,
                 checkpoint="-".join(map(str, signed)))

    def checkpoint_failed(self, error: str) -> None:
        log.warning("checkpoint failed", error=error)

    def record_unvouched(self, sequence: int, problem: str) -> None:
        metrics.RECORDS_UNVOUCHED.inc()
        log.error("a stored record fails its check: its checkpoint does not vouch for it "
                  "(written past ingest?); run trialwatch audit verify",
                  sequence=sequence, problem=problem[:200])
