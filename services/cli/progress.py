"""What the pipeline is doing, for the terminal of ``trialwatch run``: counts of patient
updates received, screening decisions made (by status) and alerts raised since the run
started, one line whenever they change (at most every few seconds). Counts only: no patient
key, no clinical value, so the terminal can be shown or pasted without exposing anyone."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.contracts.topics import ALERTS, DECISIONS, PATIENT_EVENTS
from shared.settings import KafkaSettings

_STATUS_WORDS = (("eligible", "eligible"), ("ineligible", "not eligible"),
                 ("undetermined", "not yet decided (data missing)"))
_ALERT_WORDS = {"newly-eligible": "newly eligible", "no-longer-eligible": "no longer eligible",
                "closed": "trial closed"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class Progress:
    """Counts the events recorded since ``since`` (a refilled broker carries an earlier run's
    events again: they are older, and not counted), each once by ``event_id``."""

    def __init__(self, since: datetime) -> None:
        self._since = since
        self._seen: set[str] = set()
        self._patients: set[str] = set()  # only counted, never said
        self._updates = 0
        # decision id -> status: a decision counted once, whether its alert or its own event
        # is read first (an alert carries its decision's id and status: EligibilityAlert)
        self._decisions: dict[str, str] = {}
        self._alerts: Counter[str] = Counter()
        self._said: str | None = None

    def alert_shown(self, alert: dict[str, object]) -> None:
        """Count an alert whose ALERT line was just printed (``alerts_tail.show``): the next
        progress line counts it even when this reader has not reached it yet."""
        self.see(ALERTS, alert)

    def see(self, topic: str, event: dict[str, object]) -> None:
        """Count one event read from ``topic`` (its JSON as a dict)."""
        event_id = str(event.get("event_id"))
        if event_id in self._seen:
            return
        try:
            recorded = datetime.fromisoformat(str(event.get("recorded_at")))
        except ValueError:
            return
        if recorded < self._since:
            return
        self._seen.add(event_id)
        kind = event.get("event_type")
        if topic == PATIENT_EVENTS and kind == "patient.updated":
            self._updates += 1
            self._patients.add(str(event.get("patient_key")))
        elif topic == DECISIONS and kind == "eligibility.decided":
            decision = event.get("decision")
            if isinstance(decision, dict):
                self._decided(event.get("decision_id"), decision.get("status"), event_id)
        elif topic == ALERTS and kind == "eligibility.alert":
            self._alerts[str(event.get("alert"))] += 1
            # the decision it announces is made, even if its own event is not read yet: never
            # "no screening decision yet; 1 alert raised"
            if event.get("decision_id") is not None:
                self._decided(event.get("decision_id"), event.get("status"), None)

    def _decided(self, decision_id: object, status: object, event_id: str | None) -> None:
        key = str(decision_id) if decision_id is not None else f"event:{event_id}"
        self._decisions.setdefault(key, str(status))

    def line(self) -> str | None:
        """The progress line when it changed since the last one returned, else None (also
        None before anything happened)."""
        if not self._updates and not self._decisions and not self._alerts:
            return None
        updates = (f"{_plural(self._updates, 'patient update')} received "
                   f"({_plural(len(self._patients), 'patient')})")
        statuses = Counter(self._decisions.values())
        decided = len(self._decisions)
        if decided:
            parts = [f"{statuses[s]} {words}" for s, words in _STATUS_WORDS if statuses[s]]
            decisions = f"{_plural(decided, 'screening decision')} made: {', '.join(parts)}"
        else:
            decisions = "no screening decision yet"
        raised = sum(self._alerts.values())
        if raised:
            kinds = ", ".join(f"{n} {_ALERT_WORDS.get(k, k)}" for k, n in self._alerts.items())
            alerts = f"{_plural(raised, 'alert')} raised ({kinds})"
        else:
            alerts = "no alert raised"
        line = f"progress: {updates}; {decisions}; {alerts}"
        if line == self._said:
            return None
        self._said = line
        return line


async def tail_progress(kafka: KafkaSettings, print_line: Callable[[str], None],
                        since: datetime, every_s: float = 3.0,
                        progress: Progress | None = None) -> None:
    """Read patient events, decisions and alerts (no consumer group: a reader, not a member)
    and print ``Progress.line()`` at most every ``every_s`` seconds, across broker restarts.
    ``progress``: the counts to print, shared with the alert tail, which counts each alert as
    it prints it (``alerts_tail.show``); a new one when None."""
    progress = progress if progress is not None else Progress(since)
    while True:
        try:
            await _tail(kafka, progress, print_line, every_s)
        except asyncio.CancelledError:
            raise
        except Exception:  # the broker went away: read again once it is back
            await asyncio.sleep(1.0)


async def _tail(kafka: KafkaSettings, progress: Progress, print_line: Callable[[str], None],
                every_s: float) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions: list[TopicPartition] = []
        for topic in (PATIENT_EVENTS, DECISIONS, ALERTS):
            partitions += await _partitions(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while True:
            batches = await consumer.getmany(timeout_ms=int(every_s * 1000))
            for tp, records in batches.items():
                for record in records:
                    try:
                        event = json.loads(record.value or b"{}")
                    except ValueError:
                        continue
                    if isinstance(event, dict):
                        progress.see(tp.topic, event)
            line = progress.line()
            if line is not None:
                print_line(line)
            if batches:
                await asyncio.sleep(every_s)  # one line per few seconds while busy
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    while True:
        numbers = consumer.partitions_for_topic(topic)
        if numbers:
            return [TopicPartition(topic, n) for n in sorted(numbers)]
        await consumer.topics()  # refreshes metadata
        await asyncio.sleep(0.1)
