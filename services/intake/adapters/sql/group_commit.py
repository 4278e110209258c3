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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.adapters.sql.database import WriteTurns
from services.intake.adapters.sql.store import SqlIntakeStore
from services.intake.core.ports import Conflict, IntakeStore

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


class GroupCommit:
    """A ``UnitOfWork`` whose concurrent transactions share one database transaction.

    ``commits`` counts the database commits made (for tests and the benchmark)."""

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
        self.commits = 0

    def __call__(self) -> contextlib.AbstractAsyncContextManager[IntakeStore]:
        return self._member()

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
