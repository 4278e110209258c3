"""A full disk or a read-only database: 503 with Retry-After and a problem document, and not
ready; never a bare 500 while /readyz stays green. Real file systems (a tmpfs mounted here,
filled up or read-only; needs root) and a real PostgreSQL with default_transaction_read_only.
"""

from __future__ import annotations

import contextlib
import errno
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from shared.infra.http import STORAGE_UNAVAILABLE
from shared.settings import KafkaSettings
from tests.conftest import (
    POSTGRES_ADMIN_URL,
    _create_postgres_database,
    _drop_postgres_database,
    _postgres_answers,
    unique_group,
)
from tests.e2e.pipeline import EXAMPLE_OBSERVATION
from tests.integration.audit import harness as audit_harness
from tests.integration.intake import harness as intake_harness

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of its own, unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs",
                              str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN): "
                    + mounted.stderr.decode(errors="replace").strip())
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Write zeros until the file system refuses (ENOSPC); returns the filler file."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    refused = 0
    with filler.open("wb", buffering=0) as out:
        while not refused:
            try:
                out.write(chunk)
            except OSError as error:
                refused = error.errno or -1
    assert refused == errno.ENOSPC
    return filler


def remount_read_only(mount_point: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], check=True)


def assert_storage_problem(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    problem = response.json()
    assert problem["type"] == STORAGE_UNAVAILABLE
    assert problem["status"] == 503
    assert reason in problem["detail"]


async def not_ready_because(client: httpx.AsyncClient, reason: str) -> None:
    readiness = await client.get("/readyz")
    assert readiness.status_code == 503, readiness.text
    assert "retry-after" in readiness.headers
    assert reason in readiness.json()["checks"]["database-writes"]


async def post_example(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/fhir", content=EXAMPLE_OBSERVATION.read_bytes(),
                             headers={**intake_harness.LAB, **intake_harness.FHIR})


async def test_intake_on_a_full_disk_answers_503_with_retry_after_is_not_ready_and_recovers(
    small_disk: Path, kafka_settings: KafkaSettings,
) -> None:
    url = f"sqlite+aiosqlite:///{small_disk / 'intake.db'}"
    await intake_harness.migrate(url)
    settings = intake_harness.settings_for(url)
    async with intake_harness.running_intake(settings, kafka_settings) as client:
        filler = fill(small_disk)
        assert_storage_problem(await post_example(client), "disk is full")
        await not_ready_because(client, "disk is full")
        assert (await client.get("/livez")).status_code == 200

        filler.unlink()
        assert (await post_example(client)).status_code == 202
        assert (await client.get("/readyz")).status_code == 200


async def test_intake_on_a_read_only_file_system_answers_503_and_is_not_ready(
    small_disk: Path, kafka_settings: KafkaSettings,
) -> None:
    url = f"sqlite+aiosqlite:///{small_disk / 'intake.db'}"
    await intake_harness.migrate(url)
    remount_read_only(small_disk)
    settings = intake_harness.settings_for(url)
    async with intake_harness.running_intake(settings, kafka_settings) as client:
        assert_storage_problem(await post_example(client), "read-only")
        await not_ready_because(client, "read-only")


@contextlib.asynccontextmanager
async def read_only_postgres(database_url: str) -> AsyncIterator[None]:
    """Every new session of this database starts read-only, as on a standby or after an
    operator's ALTER DATABASE ... SET default_transaction_read_only = on."""
    name = make_url(database_url).database
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(
                text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        yield
    finally:
        async with admin.connect() as connection:
            await connection.execute(
                text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = off'))
        await admin.dispose()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    if not await _postgres_answers():
        pytest.skip("PostgreSQL does not answer at " + POSTGRES_ADMIN_URL)
    url = await _create_postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(url)


async def test_audit_on_a_read_only_database_refuses_readiness_and_answers_queries_503(
    postgres_url: str, kafka_settings: KafkaSettings, tmp_path: Path,
) -> None:
    database_url = postgres_url
    await audit_harness.migrate(database_url)
    settings = audit_harness.audit_settings(database_url, tmp_path, unique_group("audit"))
    async with read_only_postgres(database_url):
        app = audit_harness.audit_app(settings, kafka_settings)
        async with audit_harness.running(app) as client:
            await not_ready_because(client, "read-only")
            # Every auditor query is itself recorded: it cannot be served without a write.
            response = await client.get(
                "/decisions", headers={"Authorization": f"Bearer {audit_harness.AUDITOR_TOKEN}"})
            assert_storage_problem(response, "read-only")
            assert "INSERT" not in response.text, "the driver's message (SQL) is not echoed"


async def test_audit_on_a_read_only_file_system_refuses_readiness(
    small_disk: Path, kafka_settings: KafkaSettings, tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{small_disk / 'audit.db'}"
    await audit_harness.migrate(url)
    remount_read_only(small_disk)
    settings = audit_harness.audit_settings(url, tmp_path, unique_group("audit"))
    app = audit_harness.audit_app(settings, kafka_settings)
    async with audit_harness.running(app) as client:
        await not_ready_because(client, "read-only")
