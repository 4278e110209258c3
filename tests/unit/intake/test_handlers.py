from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.intake.adapters.messaging import RawIntakeHandler
from tests.unit.intake.conftest import NOW
from tests.unit.intake.fakes import FakeUnitOfWork


@dataclass
class Record:
    value: bytes
    topic: str = "intake.raw.v1"
    partition: int = 0
    offset: int = 7
    key: bytes | None = None


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, str]] = []

    async def send(self, record: Any, reason: str) -> None:
        self.sent.append((record, reason))


class BrokenUnitOfWork:
    def __call__(self) -> Any:
        raise ConnectionError("database away")


def handler(uow: Any, dead: FakeDeadLetters, woken: list[int] | None = None) -> RawIntakeHandler:
    return RawIntakeHandler(uow, dead, lambda: NOW, default_source="raw-feed",  # type: ignore[arg-type]
                            max_body_bytes=10_000,
                            on_accepted=lambda: (woken if woken is not None else []).append(1))


async def test_a_raw_fhir_message_is_accepted_like_a_post(fixtures: Path) -> None:
    uow, dead, woken = FakeUnitOfWork(), FakeDeadLetters(), []
    body = (fixtures / "observation_hemoglobin.json").read_bytes()
    await handler(uow, dead, woken).handle(
        Record(body), {"content-type": "application/fhir+json", "source-system": "ehr-1"})
    [(_, event)] = uow.committed.outbox
    assert event.source == "ehr-1"
    assert dead.sent == []
    assert woken == [1]


async def test_a_raw_message_without_source_header_uses_the_default_source(fixtures: Path) -> None:
    uow, dead = FakeUnitOfWork(), FakeDeadLetters()
    body = (fixtures / "oru_hemoglobin.hl7").read_bytes()
    await handler(uow, dead).handle(Record(body), {"content-type": "x-application/hl7-v2+er7"})
    [(_, event)] = uow.committed.outbox
    assert event.source == "raw-feed"


async def test_a_redelivered_raw_message_publishes_nothing_new(fixtures: Path) -> None:
    uow, dead = FakeUnitOfWork(), FakeDeadLetters()
    record = Record((fixtures / "oru_hemoglobin.hl7").read_bytes())
    headers = {"content-type": "x-application/hl7-v2+er7"}
    await handler(uow, dead).handle(record, headers)
    await handler(uow, dead).handle(record, headers)
    assert len(uow.committed.outbox) == 1


@pytest.mark.parametrize(("body", "headers", "status"), [
    (b"{}", {}, "415"),
    (b"{oops", {"content-type": "application/json"}, "400"),
    (b"MSH|^~\\&|x", {"content-type": "text/plain", "source-system": "\x00bad"}, "400"),
    (b" " * 10_001, {"content-type": "application/json"}, "413"),
])
async def test_what_intake_refuses_goes_to_the_dead_letter_topic_with_the_reason(
    body: bytes, headers: dict[str, str], status: str
) -> None:
    uow, dead = FakeUnitOfWork(), FakeDeadLetters()
    await handler(uow, dead).handle(Record(body), headers)
    [(record, reason)] = dead.sent
    assert record.offset == 7
    assert reason.startswith(status)
    assert uow.committed.outbox == []


async def test_hemoglobin_in_g_per_ml_is_dead_lettered_naming_the_segment(fixtures: Path) -> None:
    dead = FakeDeadLetters()
    await handler(FakeUnitOfWork(), dead).handle(
        Record((fixtures / "oru_hemoglobin_g_per_ml.hl7").read_bytes()),
        {"content-type": "text/plain"})
    [(_, reason)] = dead.sent
    assert "OBX[1].6" in reason
    assert reason.startswith("422")


async def test_a_database_failure_raises_so_the_message_is_redelivered(fixtures: Path) -> None:
    dead = FakeDeadLetters()
    with pytest.raises(ConnectionError):
        await handler(BrokenUnitOfWork(), dead).handle(
            Record((fixtures / "oru_hemoglobin.hl7").read_bytes()), {"content-type": "text/plain"})
    assert dead.sent == []
