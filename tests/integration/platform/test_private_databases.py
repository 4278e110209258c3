"""A service's SQLite database is private however the service was started (issue 14 section 5).

``trialwatch run`` makes its data directory 0700 and sets umask 077 (``shared.infra.private``);
a service started on its own (``trialwatch migrate`` then ``trialwatch intake`` with
``INTAKE_DATABASE_URL=sqlite...``, as the README's configuration table allows) ran under the
shell's umask, usually 022: ``intake.db``, which maps surrogate keys back to MRNs, and its WAL
were created world-readable (0644). The database file is the one place to hold it: SQLite
creates the ``-wal`` and ``-shm`` files with the database file's own permissions.

The real intake process, started as an operator would under umask 022, on a real SQLite file and
the real broker; modes are read from the file system.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.infra.embedded_broker import free_port
from shared.settings import KafkaSettings
from tests.integration.intake.harness import FHIR, LAB, migrate
from tests.integration.intake.test_broker_outage import observation
from tests.integration.intake.test_crash_recovery import start_intake, wait_answering

pytestmark = pytest.mark.integration


@pytest.fixture
def shell_umask() -> Iterator[None]:
    """The umask of an operator's shell (022): what a service started by hand inherits."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(folder: Path) -> dict[str, int]:
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()}


async def test_intake_started_alone_keeps_its_database_and_wal_private(
    tmp_path: Path, kafka_settings: KafkaSettings, shell_umask: None
) -> None:
    data = tmp_path / "var"
    data.mkdir()  # the operator's folder (0755 under umask 022): its mode is theirs to choose
    database_url = f"sqlite+aiosqlite:///{data / 'intake.db'}"
    await migrate(database_url)
    assert oct(modes(data)["intake.db"]) == oct(0o600), "trialwatch migrate made it readable"
    port = free_port()
    process = start_intake(database_url, kafka_settings.bootstrap_servers, port)
    try:
        await wait_answering(f"http://127.0.0.1:{port}")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=LAB | FHIR,
                                     timeout=30) as client:
            response = await client.post("/fhir", content=observation(512, 1))
        assert response.status_code == 202, response.text
        seen = modes(data)
    finally:
        process.terminate()
        process.wait(15)
    assert {"intake.db", "intake.db-wal"} <= set(seen), seen
    assert {name: oct(mode) for name, mode in seen.items() if mode != 0o600} == {}


async def test_a_world_readable_database_left_by_an_older_version_is_made_private(
    tmp_path: Path, shell_umask: None
) -> None:
    data = tmp_path / "var"
    data.mkdir()
    database_url = f"sqlite+aiosqlite:///{data / 'intake.db'}"
    await migrate(database_url)
    for path in data.iterdir():
        path.chmod(0o644)
    await migrate(database_url)  # any start opens the database through the same engine
    assert {name: oct(mode) for name, mode in modes(data).items() if mode != 0o600} == {}
