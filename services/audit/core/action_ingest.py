"""Coordinator actions from ``coordinator.actions.v1`` into the audit database.

Acknowledgements, "contacted", "not a candidate" (with the reason), "enrolled" and every
re-identification a coordinator asked for are kept append-only, idempotent by action id. A
record that is not a ``CoordinatorActed``, or that no trusted evaluator key signed, goes to the
dead-letter topic with the reason; nothing of it is stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.audit.core.ports import (
    ActionStore,
    AuditTelemetry,
    DeadLetterSink,
    SignatureCheck,
    Unobserved,
)
from shared.contracts.events import CoordinatorActed
from shared.contracts.signatures import event_digest


class ActionIngest:
    def __init__(self, store: ActionStore, dead_letters: DeadLetterSink,
                 clock: Callable[[], datetime], keys: SignatureCheck,
                 telemetry: AuditTelemetry | None = None) -> None:
        self._keys = keys
        self._telemetry = telemetry or Unobserved()
        self._store = store
        self._dead_letters = dead_letters
        self._clock = clock

    async def handle_batch(self, messages: Sequence[tuple[bytes, Any]]) -> int:
        """Store every readable action (duplicates ignored); returns how many were readable."""
        rows = []
        now = self._clock()
        for body, record in messages:
            try:
                event = CoordinatorActed.model_validate_json(body)
            except ValidationError as error:
                await self._dead_letters.send(
                    record, f"not a CoordinatorActed: {error.error_count()} validation errors")
                self._telemetry.action_dead_lettered()
                continue
            refusal = self._keys.refusal(event.signature, event_digest(json.loads(body)))
            if refusal is not None:
                await self._dead_letters.send(
                    record, f"coordinator action refused: signature {refusal.kind}: "
                            f"{refusal.detail}")
                self._telemetry.action_refused(refusal, event.event_id)
                continue
            rows.append({
                "action_id": str(event.action_id), "patient_key": event.patient_key,
                "trial_id": event.trial_id, "action": event.action, "actor": event.actor,
                "reason": event.reason,
                "alert_id": str(event.alert_id) if event.alert_id else None,
                "occurred_at": event.occurred_at, "recorded_at": now,
                "event": event.model_dump(mode="json"),
            })
        if rows:
            await self._store.add(rows)
            for row in rows:
                self._telemetry.action_recorded(str(row["action"]), str(row["patient_key"]),
                                                str(row["trial_id"]))
        return len(rows)
