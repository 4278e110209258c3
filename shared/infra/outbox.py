"""The one outbox relay: events committed with the state change are published afterwards, each
marked published only once the broker acknowledged it (producers run with acks=all).

Two ways of using it, chosen by the service (both are what the services did before, now one
piece of code):

- **relay-only** (intake): every row goes out through ``run()``, a loop woken after each
  commit; one replica relays at a time (``leadership``), so rows are read and marked in separate
  short transactions.
- **writer-first** (evaluator): the writer publishes its own rows right after its commit
  (``publish_now``); ``relay_once`` only takes rows older than ``grace`` that an interrupted
  writer left behind, under row locks (``SqlOutboxStore(lock_rows=True)``: PostgreSQL
  ``FOR UPDATE SKIP LOCKED``), checking first which of them did reach the topic
  (``already_published``), so processes never both send a row.

Per-key order: rows are taken in outbox order; the rows of one key are sent one after another,
and after a failure none of that key's later rows is sent in the same round, so a retry never
overtakes an earlier event. Different keys go concurrently, which lets the producer batch.

A row the broker can never take (larger than the producer's ``max_request_size`` or the topic's
limit, refused as invalid, not serializable: ``shared.infra.transient.UNPUBLISHABLE``) is
dead-lettered: recorded in the service's outbox dead-letter table with its reason, counted
(``trialwatch_outbox_dead_letters_total``) and logged at error level without its payload, and
never tried again by itself. A transient failure (broker or database away) keeps the row pending
and the loop backs off.

What happens to the later rows of a key whose row was dead-lettered: they are **held**, not
sent, until an operator releases the dead letter (``release``, after raising the limit or
fixing the producer: the dead-lettered row is then tried again, in its place, and the held rows
follow it in order). Rows of a key are one patient's updates (intake) or decisions (evaluator),
each read against the ones before it: sending the later ones without the dead-lettered one
would silently skip or reorder that patient's history, and a decision could then rest on a
state that never existed. Holding stops only that patient, visibly: the held rows are counted
(``trialwatch_outbox_held_rows``), the dead letter is logged at error level, and every other
patient keeps flowing.

Delivery is at-least-once: a publish whose acknowledgement is lost is sent again, and
consumers drop the duplicate by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from prometheus_client import Counter, Gauge

from shared.infra.backoff import Backoff
from shared.infra.transient import is_unpublishable

log = structlog.get_logger(__name__)

DEAD_LETTERS = Counter("trialwatch_outbox_dead_letters_total",
                       "Outbox rows the broker can never take, set aside with their reason",
                       ["outbox", "topic"])
HELD_ROWS = Gauge("trialwatch_outbox_held_rows",
                  "Outbox rows held behind a dead-lettered row of the same key", ["outbox"])


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One staged event. ``position`` is its place in the outbox (per-key order is position
    order), ``message_id`` the event's own id, ``payload`` the stored value as the service
    wrote it (its ``Publish`` turns it into the record)."""

    position: int
    message_id: str
    key: str
    topic: str
    payload: Any
    created_at: datetime | None = None
    """When the row was staged (the already-published check scans the topic from shortly
    before); None where the caller does not know it."""


class Claim(Protocol):
    """Rows taken for one round; what is marked inside it is kept when the claim closes."""

    rows: list[OutboxRow]

    async def published(self, rows: Sequence[OutboxRow], at: datetime) -> None: ...

    async def dead_lettered(self, row: OutboxRow, reason: str, at: datetime) -> None: ...


class OutboxStore(Protocol):
    """The service's outbox table and its dead-letter table."""

    def claim(
        self, limit: int, *, older_than: datetime | None = None, key: str | None = None,
        rows: Sequence[OutboxRow] | None = None,
    ) -> AbstractAsyncContextManager[Claim]:
        """Unpublished rows, oldest first, never one of a key held behind a dead letter.
        ``older_than`` / ``key`` narrow the choice; ``rows`` claims exactly these (the writer's
        own rows, just committed)."""
        ...

    async def pending_count(self, key: str | None = None) -> int:
        """Unpublished rows that are not held (of ``key`` only, when given)."""
        ...

    async def held_count(self) -> int: ...

    async def release(self, message_id: str, at: datetime) -> bool:
        """Let a dead-lettered row be tried again (and the rows held behind it follow)."""
        ...


Publish = Callable[[OutboxRow], Awaitable[object]]
PublishBatch = Callable[[Sequence[OutboxRow]], Awaitable[Sequence[BaseException | None]]]
"""Sends rows at once and reports, per row in order, None (acknowledged) or why not: the
error, or ``SendAlone``. It must never let a row be acknowledged after an earlier row of its
key failed (``shared.infra.kafka_batch``: whole record batches per partition, one after
another)."""


class SendAlone(Exception):
    """A ``PublishBatch`` outcome: the row was refused in a batch with other rows as
    unpublishable (or such a batch came before it), so which row is at fault is unknown; the
    relay sends it (and its key's later rows) one at a time through ``Publish``."""
AlreadyPublished = Callable[[Sequence[OutboxRow]], Awaitable[set[str]]]


class Leadership(Protocol):
    async def hold(self) -> bool: ...

    async def release(self) -> None: ...


class AlwaysLeader:
    async def hold(self) -> bool:
        return True

    async def release(self) -> None:
        return None


@dataclass
class RelayHooks:
    """The service's own metrics (names that dashboards already use)."""

    published: Callable[[int], None] = lambda count: None
    round_failed: Callable[[], None] = lambda: None
    pending: Callable[[int], None] = lambda count: None


@dataclass
class RelayOptions:
    """``grace``: rows younger than this belong to their writer (writer-first); zero for
    relay-only. ``already_published``: which claimed rows already reached their topic (the
    writer died between publishing and marking). ``leadership``: one relaying replica."""

    batch_size: int = 200
    poll_interval_s: float = 0.05
    linger_s: float = 0.005
    first_backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    grace: timedelta = timedelta(0)
    already_published: AlreadyPublished | None = None
    leadership: Leadership = field(default_factory=AlwaysLeader)
    standby_poll_s: float = 2.0
    hooks: RelayHooks = field(default_factory=RelayHooks)
    publish_batch: PublishBatch | None = None
    """When given, a round's rows go out through it at once (one produce round trip per
    partition batch) instead of one ``Publish`` per row."""


class RelayRoundFailed(Exception):
    """Some rows could not be published this round (transient); they stay pending."""


@dataclass
class _KeyOutcome:
    delivered: list[OutboxRow] = field(default_factory=list)
    dead: tuple[OutboxRow, BaseException] | None = None
    error: BaseException | None = None


class OutboxRelay:
    """Publishes ``store``'s rows through ``publish``. ``name`` labels metrics and logs
    (``intake``, ``evaluator``); ``clock`` stamps ``published_at`` and dead letters."""

    def __init__(
        self, name: str, store: OutboxStore, publish: Publish,
        clock: Callable[[], datetime], options: RelayOptions | None = None,
    ) -> None:
        self.name = name
        self._store = store
        self._publish = publish
        self._clock = clock
        self._options = options or RelayOptions()
        self._backoff = Backoff(first_s=self._options.first_backoff_s,
                                max_s=self._options.max_backoff_s)
        self._wake = asyncio.Event()
        self._gauges_updated = 0.0

    def wake(self) -> None:
        """New rows were committed: do not wait for the next poll."""
        self._wake.set()

    async def publish_now(self, rows: Sequence[OutboxRow]) -> int:
        """Writer-first: publish rows the caller just committed, then mark them. Raises on a
        transient failure (the rows stay pending; the caller's redelivery or the relay sends
        them); an unpublishable row is dead-lettered, not raised. Rows of a key held behind a
        dead letter are left pending (held), not sent."""
        if not rows:
            return 0
        async with self._store.claim(len(rows), rows=rows) as claim:
            _, sent, error = await self._round(claim, check_already_published=False)
        return _raise_cause_or(sent, error)

    async def settle_key(self, key: str) -> int:
        """Writer-first, for a redelivered event of ``key``: make sure what its first attempt
        staged is published before its offset is committed. Rows younger than ``grace`` belong
        to a writer that may still be publishing them (another process, before a rebalance):
        wait for it, up to ``grace`` + 0.5 s; older ones are orphans: publish them (after the
        already-published check). Returns how many rows this call published; raises the
        transient error itself (the caller's transient set decides)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._options.grace.total_seconds() + 0.5
        total = 0
        while True:
            try:
                total += await self.relay_once(key=key)
            except RelayRoundFailed as failed:
                _raise_cause_or(0, failed)
            if not await self._store.pending_count(key) or loop.time() > deadline:
                return total
            await asyncio.sleep(0.1)

    async def relay_once(self, *, grace: timedelta | None = None, key: str | None = None) -> int:
        """One round over the oldest pending rows (older than ``grace``, default the option);
        returns how many were acknowledged. Raises ``RelayRoundFailed`` when some could not
        be sent for a transient reason (the rest is marked)."""
        older = self._clock() - (self._options.grace if grace is None else grace)
        _, sent, error = await self._relay_round(older, key)
        return _raise_or(sent, error)

    async def _relay_round(
        self, older: datetime, key: str | None
    ) -> tuple[int, int, RelayRoundFailed | None]:
        async with self._store.claim(self._options.batch_size, older_than=older,
                                     key=key) as claim:
            return await self._round(claim, check_already_published=True)

    async def publish_backlog(self) -> int:
        """Every pending row, however young, oldest first: what an earlier run left behind, or
        the whole outbox after a refill of a fresh broker. Goes on while a round claimed
        anything (a round whose rows were all dead-lettered sent none, yet rows of other keys
        may follow); raises ``RelayRoundFailed`` on a transient failure."""
        total = 0
        while True:
            claimed, sent, error = await self._relay_round(self._clock(), None)
            total += _raise_or(sent, error)
            if not claimed:
                return total

    async def run(self) -> None:
        """Relay until cancelled: at once after ``wake``, else every poll interval; backs off
        while the broker or the database is away."""
        try:
            await self._run()
        finally:
            await self._options.leadership.release()

    async def _run(self) -> None:
        options = self._options
        while True:
            try:
                if not await options.leadership.hold():
                    await asyncio.sleep(options.standby_poll_s)  # another replica relays
                    continue
                published = await self.relay_once()
                self._backoff.reset()
            except Exception as error:  # broker or database away: keep everything, retry later
                options.hooks.round_failed()
                log.warning("relay_round_failed", outbox=self.name, error=type(error).__name__,
                            retry_in_s=self._backoff.next_delay_s)
                await self._backoff.pause()
                continue
            await self._refresh_gauges()
            if published < options.batch_size:
                await self._idle()

    async def _round(
        self, claim: Claim, *, check_already_published: bool
    ) -> tuple[int, int, RelayRoundFailed | None]:
        """Send the claimed rows and mark what happened inside the claim; returns (claimed,
        acknowledged, transient failure); the failure is raised by the caller once the claim
        closed (so the marks are kept)."""
        rows = claim.rows
        if not rows:
            return 0, 0, None
        done: set[str] = set()
        if check_already_published and self._options.already_published is not None:
            done = await self._options.already_published(rows)
            if done:
                log.info("orphaned outbox rows were already published", outbox=self.name,
                         skipped=len(done), republished=len(rows) - len(done))
        by_key: dict[str, list[OutboxRow]] = {}
        for row in rows:
            by_key.setdefault(row.key, []).append(row)
        if self._options.publish_batch is not None:
            outcomes = await self._send_batched(list(by_key.values()), done,
                                                self._options.publish_batch)
        else:
            outcomes = list(await asyncio.gather(
                *(self._send_in_order(key_rows, done) for key_rows in by_key.values())))
        now = self._clock()
        delivered = sorted((row for o in outcomes for row in o.delivered),
                           key=lambda r: r.position)
        await claim.published(delivered, now)
        for outcome in outcomes:
            if outcome.dead is not None:
                await self._dead_letter(claim, *outcome.dead, now)
        self._options.hooks.published(len(delivered))
        errors = [o.error for o in outcomes if o.error is not None]
        if not errors:
            return len(rows), len(delivered), None
        failed = RelayRoundFailed(f"{len(errors)} key(s) not published")
        failed.__cause__ = errors[0]
        return len(rows), len(delivered), failed

    async def _send_batched(
        self, keyed: list[list[OutboxRow]], done: set[str], publish_batch: PublishBatch,
    ) -> list[_KeyOutcome]:
        """Every row not ``done`` through ``publish_batch`` at once; per key, rows count as
        delivered up to its first failure, which decides as in ``_send_in_order`` (dead letter
        or transient error; nothing later of the key counts). ``SendAlone`` rows, and the rest
        of their key, are sent one at a time."""
        sending = [row for rows in keyed for row in rows if row.message_id not in done]
        try:
            results = list(await publish_batch(sending)) if sending else []
        except Exception as failure:  # nothing was sent (the topic's metadata unreadable)
            results = [failure] * len(sending)
        outcome_of = {id(row): result for row, result in zip(sending, results, strict=True)}
        outcomes: list[_KeyOutcome] = []
        alone: list[tuple[_KeyOutcome, list[OutboxRow]]] = []
        for rows in keyed:
            outcome = _KeyOutcome()
            outcomes.append(outcome)
            for position, row in enumerate(rows):
                failed = None if row.message_id in done else outcome_of[id(row)]
                if failed is None:
                    outcome.delivered.append(row)
                    continue
                if isinstance(failed, SendAlone):
                    alone.append((outcome, rows[position:]))
                elif is_unpublishable(failed):
                    outcome.dead = (row, failed)
                else:
                    outcome.error = failed
                break
        one_by_one = await asyncio.gather(*(self._send_in_order(rest, done)
                                            for _, rest in alone))
        for (outcome, _), more in zip(alone, one_by_one, strict=True):
            outcome.delivered += more.delivered
            outcome.dead, outcome.error = more.dead, more.error
        return outcomes

    async def _send_in_order(self, rows: list[OutboxRow], done: set[str]) -> _KeyOutcome:
        outcome = _KeyOutcome()
        for row in rows:
            if row.message_id not in done:
                try:
                    await self._publish(row)
                except Exception as error:
                    if is_unpublishable(error):
                        outcome.dead = (row, error)
                    else:
                        outcome.error = error
                    return outcome  # later rows of this key wait: never overtake this one
            outcome.delivered.append(row)
        return outcome

    async def _dead_letter(
        self, claim: Claim, row: OutboxRow, error: BaseException, now: datetime
    ) -> None:
        reason = unpublishable_reason(error)
        await claim.dead_lettered(row, reason, now)
        DEAD_LETTERS.labels(self.name, row.topic).inc()
        # No payload, no error text that could quote it: the type and our own description.
        log.error("outbox_row_dead_lettered", outbox=self.name, topic=row.topic,
                  message_id=row.message_id, key=row.key, reason=reason,
                  later_rows_of_key="held until released")

    async def _idle(self) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the inner result and
        # drops a cancellation that arrives as the wake-up completes (CPython gh-86296), and the
        # cancelled relay then polled for ever while its service's shutdown waited for it.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._options.poll_interval_s):
                await self._wake.wait()
            # Woken by a commit: linger a moment so a burst goes out as one round (one read,
            # one update) instead of one round per request.
            await asyncio.sleep(self._options.linger_s)
        self._wake.clear()

    async def _refresh_gauges(self) -> None:
        if time.monotonic() - self._gauges_updated >= 1.0:
            self._gauges_updated = time.monotonic()
            self._options.hooks.pending(await self._store.pending_count())
            HELD_ROWS.labels(self.name).set(await self._store.held_count())


def _raise_or(sent: int, error: RelayRoundFailed | None) -> int:
    if error is not None:
        raise error
    return sent


def _raise_cause_or(sent: int, error: RelayRoundFailed | None) -> int:
    """For a writer: the transient error itself (its handler's transient set decides whether
    to back off and redeliver), not the relay's wrapper."""
    if error is not None and isinstance(error.__cause__, Exception):
        raise error.__cause__
    return _raise_or(sent, error)


_EXPLAINED = {
    "MessageSizeTooLargeError": "larger than the producer's max_request_size or the topic's "
                                "max.message.bytes",
    "RecordTooLargeError": "larger than the broker accepts",
    "RecordListTooLargeError": "larger than the broker accepts",
    "CorruptRecordException": "refused by the broker as corrupt",
    "InvalidTopicError": "refused by the broker: invalid topic",
    "UnsupportedForMessageFormatError": "refused by the broker: unsupported record format",
}


def unpublishable_reason(error: BaseException) -> str:
    """Why a row can never be published, in words that quote nothing of its payload."""
    name = type(error).__name__
    return f"{name}: {_EXPLAINED.get(name, 'the value cannot be serialized as a record')}"

