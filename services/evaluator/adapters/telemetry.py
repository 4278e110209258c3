"""The screening core's ``EvaluatorTelemetry`` as Prometheus metrics (``adapters.metrics``) and
structlog lines: the same counters and log events the core emitted before it had this port,
never PHI beyond the surrogate patient key."""

from __future__ import annotations

from contextlib import AbstractContextManager
from uuid import UUID

import structlog

from services.evaluator.adapters.metrics import ENGINE_FAILURES
from shared.eligibility.decision import TrialRef

log = structlog.get_logger("services.evaluator")


class MetricsAndLogs:
    def handling(self, event_id: UUID, patient_key: str) -> AbstractContextManager[object]:
        return structlog.contextvars.bound_contextvars(event_id=str(event_id),
                                                       patient_key=patient_key)

    def event_dead_lettered(self, error: BaseException) -> None:
        log.error("patient event dead-lettered", exc_info=error)

    def engine_failed(self, trial: TrialRef, error: BaseException) -> None:
        ENGINE_FAILURES.inc()
        log.error("criteria engine failed", trial=trial.id, version=trial.version,
                  exc_info=error)

    def clock_stepped_back(self, ahead_s: float) -> None:
        log.warning("previous evaluation lies in the future; the wall clock was stepped back",
                    ahead_s=ahead_s)
