"""Group commit: concurrent intake transactions share one database transaction and one commit.

Each commit of intake's database waits for the disk (SQLite ``synchronous=FULL``, PostgreSQL
``synchronous_commit=on``): with one transaction per submission, that wait bounds throughput.
Here the submissions that arrive while a group is open join it. The group holds one session
(on SQLite, the one write turn); members run their work one after another, each inside its own
SAVEPOINT, so a member that fails (a ``Conflict``, a database error) is rolled back alone and
the others go on. When every member that joined has finished, the group commits once, and only
then does each member's ``async with`` return: a 202 is never sent before its commit. If the
commit fails, every member of the group raises, as each would have alone.

What one transaction per submission guaranteed still holds:
- idempotency: members run in order in one transaction, so a later member sees an earlier
  one's receipt keys and replays its receipt instead of conflicting;
- per-patient order: outbox rows are inserted in member order within the group, and groups
  commit in turn (SQLite) or serialise on the patient's alias rows (PostgreSQL FOR UPDATE);
- a PostgreSQL deadlock or serialisation failure between two groups rolls back the member's
  savepoint and is raised as ``Conflict``, which ``accept`` retries.

Groups form by themselves: while one group commits (and holds SQLite's write turn), the next
collects the submissions that arrive; ``max_members`` bounds a group, so the first member of a
group never waits for an unbounded number of later ones.

On SQLite, ``run(work)`` (what ``accept`` uses, ``core.ports.RunsWork``) goes further: the
members of a group are queued, and when the group gets the write turn all of them run in
**one** call on a worker thread, over one synchronous ``sqlite3`` connection to the same file
(same pragmas, ``BEGIN IMMEDIATE``), each in its SAVEPOINT, then the one commit. Through
aiosqlite every statement was its own hand-off to aiosqlite's thread and back (about 39 stack
resumptions per request, ~29% of intake's CPU, issue 13); now a group costs one hand-off.
A member's work awaits only its store, whose calls complete synchronously there
(``store._SyncExecution``), so it is driven to completion without an event loop; one that
tried to suspend is a programming error and fails alone. Every guarantee above holds: members
run in arrival order in one transaction, their futures are answered only after the commit,
and a failed commit fails every member.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.intake.adapters.sql.database import WriteTurns, make_intake_sync_engine
from services.intake.adapters.sql.store import SqlIntakeStore
from services.intake.core.ports import Conflict, IntakeStore

_T = TypeVar("_T")
_Work = Callable[[IntakeStore], Awaitable[Any]]

# PostgreSQL SQLSTATE 40P01 deadlock_detected, 40001 serialization_failure: retry the member.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


class _Group:
    def __init__(self) -> None:
        self.joined = 0
        self.finished = 0
        self.closed = False
        self.session: AsyncSession | None = None
        self.now: datetime | None = None
        self.opened = asyncio.Event()
        self.all_finished = asyncio.Event()
        self.lock = asyncio.Lock()
        self.committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # a failed commit no member waits for (each failed alone) is not an unhandled error
        self.committed.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.leader: asyncio.Task[None] | None = None

    def join(self) -> None:
        self.joined += 1
        self.all_finished.clear()

    def finish(self) -> None:
        self.finished += 1
        if self.finished == self.joined:
            self.all_finished.set()


class _Batch:
    """The queued works of one SQLite group, run together in the worker thread."""

    def __init__(self) -> None:
        self.works: list[tuple[_Work, asyncio.Future[Any]]] = []
        self.started = False
        self.task: asyncio.Task[None] | None = None


class GroupCommit:
    """A ``UnitOfWork`` whose concurrent transactions share one database transaction.

    ``commits`` counts the database commits made (for tests and the benchmark). On SQLite,
    ``run`` uses a synchronous engine on the same file in one worker thread; ``close``
    releases both."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        turns: WriteTurns | None = None,
        *,
        max_members: int = 64,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._turns = turns or WriteTurns()
        self._max_members = max(1, max_members)
        self._open: _Group | None = None
        self._batch: _Batch | None = None
        bind = sessions.kw.get("bind")
        self._sync_engine: Engine | None = (
            make_intake_sync_engine(bind.url) if isinstance(bind, AsyncEngine)
            and bind.dialect.name == "sqlite" else None)
        self._thread: ThreadPoolExecutor | None = None
        self.commits = 0

    def __call__(self) -> contextlib.AbstractAsyncContextManager[IntakeStore]:
        return self._member()

    async def run(self, work: Callable[[IntakeStore], Awaitable[_T]]) -> _T:
        """``work(store)`` as a member of a group; returns after the group's commit."""
        if self._sync_engine is None:
            async with self() as store:
                return await work(store)
        batch = self._batch
        if batch is None or batch.started or len(batch.works) >= self._max_members:
            batch = self._batch = _Batch()
            batch.task = asyncio.create_task(self._run_batch(batch), name="intake-group-commit")
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        batch.works.append((work, done))
        # shielded: a member cancelled now must not cancel what the others wait for
        result: _T = await asyncio.shield(done)
        return result

    def close(self) -> None:
        """Release the worker thread and the synchronous engine (SQLite)."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._sync_engine is not None:
            self._sync_engine.dispose()

    async def _run_batch(self, batch: _Batch) -> None:
        try:
            async with self._turns.turn():
                batch.started = True
                if self._batch is batch:
                    self._batch = None
                if self._thread is None:
                    self._thread = ThreadPoolExecutor(1, thread_name_prefix="intake-commit")
                outcomes = await asyncio.get_running_loop().run_in_executor(
                    self._thread, self._run_works, [work for work, _ in batch.works],
                    self._clock())
            self.commits += 1
        except BaseException as error:
            batch.started = True
            if self._batch is batch:
                self._batch = None
            failure = error if isinstance(error, Exception) else ConnectionError("cancelled")
            for _, done in batch.works:
                if not done.done():
                    done.set_exception(failure)
            if not isinstance(error, Exception):
                raise
            return
        for (_, done), (ok, value) in zip(batch.works, outcomes, strict=True):
            if done.done():
                continue
            if ok:
                done.set_result(value)
            else:
                done.set_exception(value)

    def _run_works(self, works: list[_Work], now: datetime) -> list[tuple[bool, Any]]:
        """In the worker thread: every work in its SAVEPOINT, then one commit."""
        assert self._sync_engine is not None
        assert threading.current_thread() is not threading.main_thread()
        outcomes: list[tuple[bool, Any]] = []
        with self._sync_engine.connect() as connection:
            connection.begin()
            for work in works:
                savepoint = connection.begin_nested()
                try:
                    value = _complete(work(SqlIntakeStore(connection, now)))
                except Exception as error:
                    savepoint.rollback()
                    outcomes.append((False, error))
                else:
                    savepoint.commit()
                    outcomes.append((True, value))
            connection.commit()
        return outcomes

    @contextlib.asynccontextmanager
    async def _member(self) -> AsyncIterator[IntakeStore]:
        group = self._group_to_join()
        group.join()
        try:
            await group.opened.wait()
            if group.session is None or group.now is None:
                await group.committed  # the group could not open: raises its error
                raise AssertionError("unreachable")
            async with group.lock:
                try:
                    async with group.session.begin_nested():
                        yield SqlIntakeStore(group.session, group.now)
                except DBAPIError as error:
                    if _sqlstate(error) in _RETRYABLE_SQLSTATES:
                        raise Conflict("the database chose this transaction to retry") from error
                    raise
        finally:
            group.finish()
        # shielded: a member cancelled now must not cancel the commit the others wait for
        await asyncio.shield(group.committed)

    def _group_to_join(self) -> _Group:
        group = self._open
        if group is None or group.closed or group.joined >= self._max_members:
            group = _Group()
            self._open = group
            group.leader = asyncio.create_task(self._lead(group), name="intake-group-commit")
        return group

    async def _lead(self, group: _Group) -> None:
        try:
            async with self._turns.turn(), self._sessions() as session:
                await session.begin()
                group.session, group.now = session, self._clock()
                group.opened.set()
                while True:
                    await group.all_finished.wait()
                    if group.finished == group.joined:
                        break  # nothing awaited since the check: no member can join unseen
                group.closed = True
                if self._open is group:
                    self._open = None
                await session.commit()
                self.commits += 1
        except BaseException as error:
            group.closed = True
            if self._open is group:
                self._open = None
            if not group.committed.done():
                group.committed.set_exception(
                    error if isinstance(error, Exception) else ConnectionError("cancelled"))
            group.opened.set()
            if not isinstance(error, Exception):
                raise
            return
        group.committed.set_result(None)


def _sqlstate(error: DBAPIError) -> str | None:
    original = error.orig
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return code if isinstance(code, str) else None


def _complete(work: Awaitable[_T]) -> _T:
    """Drive a coroutine that never suspends (it awaits only a synchronous store) to its end."""
    coroutine: Coroutine[Any, Any, _T] = work  # type: ignore[assignment]
    try:
        coroutine.send(None)
    except StopIteration as finished:
        value: _T = finished.value
        return value
    coroutine.close()
    raise RuntimeError("a group commit member awaited something other than its store")
