"""``trialwatch outbox`` on fakes of the services' admin entry points: what it prints, what it
passes on, and how it refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.cli import outbox as cli
from services.cli.main import main
from shared.infra.outbox_sql import DeadLetterEntry, DeadLetterRefused
from shared.infra.runtime_settings import MAX_REQUEST_SIZE, RecordedSetting

WHEN = datetime(2026, 11, 30, 22, 41, 57, tzinfo=UTC)
ENTRY = DeadLetterEntry(
    id=3, message_id="9f1c2d4e-0000-4000-8000-000000000001", key="pt_4b1e9c", topic=
    "eligibility.decisions.v1", reason="MessageSizeTooLargeError: larger than the producer's "
    "max_request_size or the topic's max.message.bytes", size_bytes=262_144,
    dead_lettered_at=WHEN, held_behind=4)


class FakeAdmin:
    def __init__(self, entries: list[DeadLetterEntry], refuse: str | None = None) -> None:
        self.entries = entries
        self.refuse = refuse
        self.calls: list[dict[str, Any]] = []

    async def listing(self, url: str, *, include_resolved: bool = False) -> list[DeadLetterEntry]:
        self.calls.append({"url": url, "include_resolved": include_resolved})
        return self.entries

    async def resolving(self, url: str, dead_letter_id: int, action: str, **kwargs: Any,
                        ) -> DeadLetterEntry:
        self.calls.append({"url": url, "id": dead_letter_id, "action": action, **kwargs})
        if self.refuse:
            raise DeadLetterRefused(self.refuse)
        return self.entries[0]


@pytest.fixture
def database(tmp_path: Path) -> str:
    path = tmp_path / "service.db"
    path.touch()
    return f"sqlite+aiosqlite:///{path}"


def _use(monkeypatch: pytest.MonkeyPatch, fake: FakeAdmin, service: str) -> None:
    monkeypatch.setattr(cli, "_admin", lambda chosen: (fake.listing, fake.resolving)
                        if chosen == service else pytest.fail(f"asked {chosen}"))


def test_list_shows_id_key_topic_size_time_held_rows_and_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database: str,
) -> None:
    fake = FakeAdmin([ENTRY])
    _use(monkeypatch, fake, "evaluator")
    assert main(["outbox", "list", "--service", "evaluator", "--database-url", database]) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert header.split()[:6] == ["ID", "KEY", "TOPIC", "SIZE", "DEAD-LETTERED", "(UTC)"]
    assert row.split()[:7] == ["3", "pt_4b1e9c", "eligibility.decisions.v1", "262,144", "B",
                               "2026-11-30T22:41:57Z", "4"]
    assert "MessageSizeTooLargeError" in row
    assert "1 unresolved; 4 row(s) held" in out
    assert fake.calls == [{"url": database, "include_resolved": False}]


def test_list_all_shows_how_each_resolved_dead_letter_was_resolved(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database: str,
) -> None:
    dropped = DeadLetterEntry(
        id=2, message_id="m2", key="pt_aa", topic="patient.events.v1", reason="r",
        size_bytes=None, dead_lettered_at=WHEN, held_behind=0, released_at=WHEN,
        release_action="drop", release_reason="INC-42: sender re-sent it in parts",
        released_by="cli:ops")
    fake = FakeAdmin([dropped])
    _use(monkeypatch, fake, "intake")
    assert main(["outbox", "list", "--service", "intake", "--database-url", database,
                 "--all"]) == 0
    out = capsys.readouterr().out
    assert "#2: drop at 2026-11-30T22:41:57Z by cli:ops: INC-42: sender re-sent it in parts" in out
    assert fake.calls[0]["include_resolved"] is True


def test_an_empty_outbox_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database: str,
) -> None:
    _use(monkeypatch, FakeAdmin([]), "intake")
    assert main(["outbox", "list", "--service", "intake", "--database-url", database]) == 0
    assert capsys.readouterr().out.strip() == "intake: no unresolved outbox dead letters"


def test_release_retries_by_default_with_the_reason_the_actor_and_the_configured_limit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database: str,
) -> None:
    fake = FakeAdmin([ENTRY])
    _use(monkeypatch, fake, "evaluator")
    monkeypatch.setenv("KAFKA_MAX_REQUEST_SIZE", "4194304")
    assert main(["outbox", "release", "3", "--service", "evaluator", "--database-url", database,
                 "--reason", "limit raised to 4 MiB", "--actor", "ops:ana"]) == 0
    [call] = fake.calls
    assert (call["id"], call["action"], call["reason"], call["by"], call["limit_bytes"]) == (
        3, "retry", "limit raised to 4 MiB", "ops:ana", 4_194_304)
    assert "released #3" in capsys.readouterr().out


def test_release_drop_passes_drop_and_says_the_held_rows_now_flow(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database: str,
) -> None:
    fake = FakeAdmin([ENTRY])
    _use(monkeypatch, fake, "evaluator")
    assert main(["outbox", "release", "3", "--service", "evaluator", "--database-url", database,
                 "--reason", "snapshot superseded", "--drop"]) == 0
    assert fake.calls[0]["action"] == "drop"
    assert str(fake.calls[0]["by"]).startswith("cli:")
    out = capsys.readouterr().out
    assert "dropped #3" in out
    assert "The 4 row(s) held" in out


def test_a_refused_release_exits_2_with_the_reason_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database: str,
) -> None:
    _use(monkeypatch, FakeAdmin([ENTRY], refuse="no dead letter #9"), "intake")
    assert main(["outbox", "release", "9", "--service", "intake", "--database-url", database,
                 "--reason", "x"]) == 2
    refused, checked = capsys.readouterr().err.strip().splitlines()
    assert refused == "refused: no dead letter #9"
    # a retry says which size limit it was checked against, and where that value came from
    assert checked.startswith("a retry's size was checked against KAFKA_MAX_REQUEST_SIZE = ")


def test_a_retry_is_checked_against_the_limit_the_service_recorded_not_this_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database: str,
) -> None:
    fake = FakeAdmin([ENTRY])
    _use(monkeypatch, fake, "evaluator")

    async def recorded(url: str) -> RecordedSetting:
        assert url == database
        return RecordedSetting(MAX_REQUEST_SIZE, "2097152", WHEN, "evaluator-host:4242")

    monkeypatch.setattr(cli, "_recorded_limit", lambda service: recorded)
    monkeypatch.setenv("KAFKA_MAX_REQUEST_SIZE", "4194304")  # this shell's, not the service's
    assert main(["outbox", "release", "3", "--service", "evaluator", "--database-url", database,
                 "--reason", "limit raised"]) == 0
    assert fake.calls[0]["limit_bytes"] == 2_097_152
    out = capsys.readouterr().out
    assert ("checked against KAFKA_MAX_REQUEST_SIZE = 2,097,152 bytes (recorded by the "
            "evaluator service in its database when it started at 2026-11-30T22:41:57Z "
            "(evaluator-host:4242)") in out


def test_without_a_recorded_limit_the_fallback_to_this_environment_is_said(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database: str,
) -> None:
    fake = FakeAdmin([ENTRY])
    _use(monkeypatch, fake, "intake")  # the touched database has no recorded-settings table
    monkeypatch.setenv("KAFKA_MAX_REQUEST_SIZE", "4194304")
    assert main(["outbox", "release", "3", "--service", "intake", "--database-url", database,
                 "--reason", "limit raised"]) == 0
    assert fake.calls[0]["limit_bytes"] == 4_194_304
    out = capsys.readouterr().out
    assert "= 4,194,304 bytes (as set in this command's environment; the intake service has " \
           "recorded no limit in its database" in out


def test_a_reason_and_a_known_service_are_required(database: str) -> None:
    with pytest.raises(SystemExit) as no_reason:
        main(["outbox", "release", "3", "--service", "intake", "--database-url", database])
    assert no_reason.value.code == 2
    with pytest.raises(SystemExit) as unknown:
        main(["outbox", "list", "--service", "audit", "--database-url", database])
    assert unknown.value.code == 2


def test_a_missing_sqlite_database_is_named_not_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    missing = tmp_path / "var" / "intake.db"
    assert main(["outbox", "list", "--service", "intake", "--database-url",
                 f"sqlite+aiosqlite:///{missing}"]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not missing.parent.exists()
