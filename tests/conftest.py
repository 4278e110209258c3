"""Shared fixtures: the real broker and the real databases, chosen by what this machine has.

Broker: ``KAFKA_BOOTSTRAP_SERVERS`` when set (e.g. an Apache Kafka cluster), else Apache Kafka
in testcontainers when a Docker engine answers, else the embedded Tansu broker.
Databases: every database test runs on SQLite and on PostgreSQL (``TEST_POSTGRES_ADMIN_URL``,
default 127.0.0.1:5432 as user postgres); PostgreSQL is skipped cleanly where none answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.settings import KafkaSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
HANDOUT_DATA = REPO_ROOT.parent / "shared" / "data"
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


_TASK_DUMP_LEAD_S = 15


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: object) -> None:
    """Just before pytest-timeout ends a hung run, print the stack of every pending asyncio task.

    A hang here is nearly always an awaited broker call or a lifespan that never ends, which the
    thread stacks pytest-timeout prints (the loop waiting in select) do not show. Returns None so
    pytest-timeout still sets its own timer.
    """
    timeout = float(getattr(settings, "timeout", 0) or 0)
    if timeout > _TASK_DUMP_LEAD_S:
        timer = threading.Timer(timeout - _TASK_DUMP_LEAD_S, _print_pending_tasks, (item.nodeid,))
        timer.daemon = True
        timer.start()
        item.stash[_TASK_DUMP_TIMER] = timer


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> None:
    timer = item.stash.get(_TASK_DUMP_TIMER, None)
    if timer is not None:
        timer.cancel()


_TASK_DUMP_TIMER = pytest.StashKey[threading.Timer]()


def _print_pending_tasks(nodeid: str) -> None:
    # Read from another thread on purpose: the loop is stuck. asyncio keeps every task in a
    # WeakSet (asyncio.tasks._all_tasks), so the copy below is only a diagnostic snapshot.
    tasks = [t for t in list(asyncio.tasks._all_tasks) if not t.done()]  # type: ignore[attr-defined]
    print(f"\n+++ {nodeid}: {len(tasks)} pending asyncio task(s) +++", file=sys.stderr)
    for task in tasks:
        task.print_stack(file=sys.stderr)
        # print_stack shows only the task's own coroutine frame: follow what it awaits, down to
        # the innermost coroutine, generator or future (where a cancelled task is stuck)
        for line in _await_chain(task.get_coro()):
            print(f"    awaiting {line}", file=sys.stderr)
    sys.stderr.flush()


def _await_chain(awaitable: object) -> list[str]:
    chain: list[str] = []
    seen: set[int] = set()
    while awaitable is not None and id(awaitable) not in seen and len(chain) < 50:
        seen.add(id(awaitable))
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None) \
            or getattr(awaitable, "ag_frame", None)
        if frame is not None:
            code = frame.f_code
            chain.append(f"{code.co_filename}:{frame.f_lineno} in {code.co_name}")
        else:
            chain.append(repr(awaitable)[:300])
        awaitable = (getattr(awaitable, "cr_await", None)
                     or getattr(awaitable, "gi_yieldfrom", None)
                     or getattr(awaitable, "ag_await", None))
    return chain


def handout_data(*parts: str) -> Path:
    """A path in ../shared/data, or a clean skip on a machine that has no handout folder."""
    path = HANDOUT_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"handout data not present at {path}")
    return path


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    container = _kafka_container()
    if container is not None:
        with container:
            yield container.get_bootstrap_server()
        return
    from shared.infra.embedded_broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


def _kafka_container():  # type: ignore[no-untyped-def]
    try:
        from testcontainers.community.kafka import KafkaContainer

        return KafkaContainer().with_kraft()
    except Exception:  # no Docker engine: docker.errors.DockerException, or module missing
        return None


@pytest.fixture(scope="session")
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    from shared.infra.kafka import ensure_topics

    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, partitions=4)
    asyncio.run(ensure_topics(settings))
    return settings


async def seek_to_end(
    consumer: Any, partitions: list[Any], timeout_s: float = 30,
) -> dict[Any, int]:
    """Position an assigned ``consumer`` (aiokafka, no group) at the end of ``partitions``, so it
    reads only what is published from now on (session-wide topics hold other tests' records);
    returns each partition's end. The end is the high watermark of a fetch answer: the bundled
    broker (Tansu 0.6.0) answers ListOffsets "latest" (``seek_to_end``, ``end_offsets``) with
    the base offset of the partition's last record batch plus one, inside a batch of several."""
    await consumer.seek_to_end(*partitions)  # at or just before the end: little to fetch
    ends: dict[Any, int] = {}
    async with asyncio.timeout(timeout_s):
        while len(ends) < len(partitions):
            await consumer.getmany(*partitions, timeout_ms=200)
            ends = {tp: end for tp in partitions if (end := consumer.highwater(tp)) is not None}
    for tp, end in ends.items():
        consumer.seek(tp, end)
    return ends


async def _postgres_answers() -> bool:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with asyncio.timeout(3), engine.connect():
            return True
    except Exception:
        return False
    finally:
        await engine.dispose()


async def _create_postgres_database() -> str:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"trialwatch_test_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


async def _drop_postgres_database(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    name = make_url(url).database
    engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


@contextlib.asynccontextmanager
async def fresh_database(kind: str, folder: Path) -> AsyncIterator[str]:
    """A fresh, empty database of ``kind`` ("sqlite": ``folder``/test.db; "postgresql": a new
    database, dropped on leaving; a clean skip where PostgreSQL does not answer). For a
    module-scoped fixture whose tests only read what it stores; ``database_url`` is the
    per-test one."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'test.db'}"
        return
    if not await _postgres_answers():
        pytest.skip("PostgreSQL does not answer at " + POSTGRES_ADMIN_URL)
    url = await _create_postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database of each kind; the test migrates it as it needs."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    if not await _postgres_answers():
        pytest.skip("PostgreSQL does not answer at " + POSTGRES_ADMIN_URL)
    url = await _create_postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(url)


def unique_group(prefix: str = "test") -> str:
    """Tansu makes a second member reusing a group id wait: each test gets a fresh group."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
