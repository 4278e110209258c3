"""Intake hands HL7 v2 bytes to the normaliser: MSH-18, sender zones, correction identity."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.intake.adapters.http.api import IntakeRuntime, create_api
from services.intake.core.accept import Submission, accept
from services.intake.core.idempotency import content_key
from services.intake.core.media import MediaType, media_type
from services.intake.core.refusals import InvalidClinicalInput
from shared.clinical.hl7v2 import parse_hl7v2
from shared.infra.auth import Principal, Role, TokenRegistry
from shared.settings import IntakeSettings
from tests.unit.intake.conftest import NOW
from tests.unit.intake.fakes import FakeUnitOfWork

HL7 = MediaType("hl7v2", "utf-8")


def clock() -> datetime:
    return NOW


def oru(*, sent: str = "20261128090000+0000", control: str = "MSG-1", value: str = "150",
        status: str = "F", charset: str = "", display: str = "Platelets",
        observed: str = "20261128073000+0000") -> str:
    return "\r".join([
        f"MSH|^~\\&|LIS|CITY-LAB|TW|TW|{sent}||ORU^R01^ORU_R01|{control}|P|2.5.1||||||{charset}",
        "PID|1||MRN-7^^^CITY^MR||Roe^Jane||19900412|F",
        "OBR|1|PLC-1|FIL-1|58410-2^CBC panel^LN|||20261128073000+0000",
        f"OBX|1|NM|777-3^{display}^LN||{value}|10*9/L|150-400||||{status}|||{observed}",
    ]) + "\r"


@pytest.fixture
def keep_displays(monkeypatch: pytest.MonkeyPatch) -> None:
    """The display is where these tests see the decoded text; intake drops displays from events
    (services/intake/core/free_text.py), so the decoding is observed before that step."""
    monkeypatch.setattr("services.intake.core.normalise.without_free_text", lambda updates: updates)


def submission(body: bytes, media: MediaType = HL7, **kwargs: object) -> Submission:
    return Submission(body=body, media=media, client="lab-a", received_at=NOW,
                      **kwargs)  # type: ignore[arg-type]


async def test_a_latin_1_message_naming_8859_1_in_msh18_is_accepted_without_a_charset(
    keep_displays: None,
) -> None:
    uow = FakeUnitOfWork()
    body = oru(charset="8859/1", display="Thrombozyten µ").encode("iso8859-1")
    await accept(submission(body, media_type("text/plain")), uow, clock)
    [(_, event)] = uow.committed.outbox
    assert event.facts[0].codes[0].display == "Thrombozyten µ"


async def test_msh18_wins_over_a_content_type_charset_that_disagrees(
    keep_displays: None,
) -> None:
    uow = FakeUnitOfWork()
    body = oru(charset="8859/1", display="Thrombozyten µ").encode("iso8859-1")
    await accept(submission(body, media_type("text/plain; charset=utf-8")), uow, clock)
    [(_, event)] = uow.committed.outbox
    assert event.facts[0].codes[0].display == "Thrombozyten µ"


async def test_latin_1_bytes_without_msh18_are_refused_at_msh18_with_422() -> None:
    body = oru(display="Thrombozyten µ").encode("iso8859-1")
    with pytest.raises(InvalidClinicalInput) as refused:
        await accept(submission(body), FakeUnitOfWork(), clock)
    assert [problem.path for problem in refused.value.problems] == ["MSH.18"]


async def test_a_sender_zone_reads_times_without_offset_and_none_refuses_them() -> None:
    body = oru(sent="20261127093000", observed="20261127083000").encode()
    uow = FakeUnitOfWork()
    await accept(submission(body, sender_zone=ZoneInfo("America/New_York")), uow, clock)
    [(_, event)] = uow.committed.outbox
    assert event.facts[0].effective_start == datetime(2026, 11, 27, 13, 30, tzinfo=UTC)
    with pytest.raises(InvalidClinicalInput) as refused:
        await accept(submission(body), FakeUnitOfWork(), clock)
    assert [problem.path for problem in refused.value.problems] == ["OBX[1].14"]


def test_sender_zones_are_configured_per_source_and_a_wrong_zone_fails_at_start() -> None:
    settings = IntakeSettings(hl7v2_zones="lab-a=America/New_York, lab-b=Europe/Berlin")
    assert settings.hl7v2_zone("lab-a") == ZoneInfo("America/New_York")
    assert settings.hl7v2_zone("lab-c") is None
    with pytest.raises(ValueError, match="not an IANA time zone"):
        IntakeSettings(hl7v2_zones="lab-a=Mars/Olympus")


async def test_a_correction_is_a_new_receipt_for_the_same_fact_and_a_resend_is_replayed() -> None:
    final, corrected = oru(value="150").encode(), oru(value="15", status="C",
                                                      control="MSG-2").encode()
    (first,), (second,) = parse_hl7v2(final, source_system="lab-a"), parse_hl7v2(
        corrected, source_system="lab-a")
    assert first.facts[0].fact_id == second.facts[0].fact_id
    assert content_key([first]) != content_key([second])
    uow = FakeUnitOfWork()
    assert not (await accept(submission(final), uow, clock)).replayed
    assert not (await accept(submission(corrected), uow, clock)).replayed
    assert (await accept(submission(final), uow, clock)).replayed


async def test_the_http_endpoint_reads_local_times_in_the_zone_configured_for_the_client(
) -> None:
    uow = FakeUnitOfWork()
    app = create_api()
    app.state.tokens = TokenRegistry({
        "a": Principal("lab-a", Role.LAB_SYSTEM), "b": Principal("lab-b", Role.LAB_SYSTEM)
    })
    settings = IntakeSettings(hl7v2_zones="lab-a=Europe/Berlin")
    app.state.intake = IntakeRuntime(settings, uow, clock, lambda: None)
    body = oru(sent="20260715093000", observed="20260715083000").encode()
    headers = {"Content-Type": "x-application/hl7-v2+er7"}
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        berlin = await client.post("/hl7v2", headers=headers | {"Authorization": "Bearer a"},
                                   content=body)
        unknown = await client.post("/hl7v2", headers=headers | {"Authorization": "Bearer b"},
                                    content=body)
    assert berlin.status_code == 202
    [(_, event)] = uow.committed.outbox
    assert event.facts[0].effective_start == datetime(2026, 7, 15, 6, 30, tzinfo=UTC)  # CEST
    assert unknown.status_code == 422
    assert [error["path"] for error in unknown.json()["errors"]] == ["OBX[1].14"]


async def test_two_messages_in_one_posted_body_are_refused_at_the_second_msh_and_none_kept(
) -> None:
    # a body carries one message (v2.5.1 2.14.9: each MSH starts one); before, the second
    # message's result was published under the first message's MSH-10 and MSH-7
    body = (oru(control="MSG-1") + oru(control="MSG-2", value="15")).encode()
    uow = FakeUnitOfWork()
    with pytest.raises(InvalidClinicalInput) as refused:
        await accept(submission(body), uow, clock)
    assert [problem.path for problem in refused.value.problems] == ["MSH[2]"]
    assert not uow.committed.outbox


async def test_a_result_later_than_the_message_arrived_is_refused_with_422() -> None:
    # NOW (the fake clock) is 1 Dec 2026 04:00 UTC: a result observed a day later
    body = oru(sent="20261128090000+0000", observed="20261202040000+0000").encode()
    with pytest.raises(InvalidClinicalInput) as refused:
        await accept(submission(body), FakeUnitOfWork(), clock)
    assert [problem.path for problem in refused.value.problems] == ["OBX[1].14"]
