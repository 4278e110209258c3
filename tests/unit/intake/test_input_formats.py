"""Input formats are a registry: a format registered in one place gets its HTTP route, its
OpenAPI body, the raw topic and its receipts, with nothing else in intake edited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.intake.adapters.http.api import IntakeRuntime, create_api
from services.intake.core import input_formats as registry
from services.intake.core.formats import fhir_r4
from services.intake.core.input_formats import InputFormat, input_format, input_formats, register
from services.intake.core.media import media_type
from services.intake.core.refusals import UnsupportedMediaType
from shared.infra.auth import Principal, Role, TokenRegistry
from shared.settings import IntakeSettings
from tests.unit.intake.conftest import NOW
from tests.unit.intake.fakes import FakeUnitOfWork
from tests.unit.intake.test_handlers import FakeDeadLetters, Record, handler

LAB = {"Authorization": "Bearer lab-token"}
# A format read only at its own route or when named: it shares FHIR's media type.
NAMED_ONLY = InputFormat(
    name="fhir-r4-named", media_types=fhir_r4.MEDIA_TYPES, read=fhir_r4.read,
    route="/fhir/named", summary="FHIR read under another name",
    body_schema={"type": "object"}, reads_media_types_by_default=False,
)


@pytest.fixture
def named_only(monkeypatch: pytest.MonkeyPatch) -> InputFormat:
    input_formats()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    return register(NAMED_ONLY)


@pytest.fixture
async def client(named_only: InputFormat) -> AsyncIterator[tuple[httpx.AsyncClient,
                                                                  FakeUnitOfWork]]:
    uow = FakeUnitOfWork()
    app = create_api()
    app.state.tokens = TokenRegistry({"lab-token": Principal("lab-a", Role.LAB_SYSTEM)})
    app.state.intake = IntakeRuntime(IntakeSettings(max_body_bytes=100_000), uow, lambda: NOW,
                                     lambda: None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://intake") as http:
        yield http, uow


def test_the_built_in_formats_are_registered_by_their_modules() -> None:
    routes = {f.name: f.route for f in input_formats()}
    assert routes.items() >= {"fhir-r4": "/fhir", "hl7v2": "/hl7v2"}.items()
    assert input_format("hl7v2").media_types == ("x-application/hl7-v2+er7", "text/plain")


def test_a_second_format_reading_a_media_type_by_default_is_refused_at_registration(
    named_only: InputFormat,
) -> None:
    clash = InputFormat(name="json-too", media_types=("application/json",), read=fhir_r4.read,
                        route="/json", summary="clash")
    with pytest.raises(ValueError, match="clashes with 'fhir-r4'"):
        register(clash)
    with pytest.raises(ValueError, match="clashes"):
        register(NAMED_ONLY)


def test_a_format_sharing_a_media_type_is_read_only_when_named(named_only: InputFormat) -> None:
    assert media_type("application/fhir+json").format == "fhir-r4"
    assert media_type("application/fhir+json", "fhir-r4-named").format == "fhir-r4-named"
    with pytest.raises(UnsupportedMediaType):
        media_type("application/fhir+json", "no-such-format")


async def test_a_registered_format_is_posted_at_its_route_and_named_in_its_receipt(
    client: tuple[httpx.AsyncClient, FakeUnitOfWork], fixtures: Path,
) -> None:
    http, uow = client
    body = (fixtures / "observation_hemoglobin.json").read_bytes()
    response = await http.post("/fhir/named", content=body,
                               headers=LAB | {"Content-Type": "application/fhir+json"})
    assert response.status_code == 202, response.text
    assert response.json()["format"] == "fhir-r4-named"
    assert len(uow.committed.outbox) == 1
    wrong = await http.post("/fhir/named", content=b"MSH|^~\\&|",
                            headers=LAB | {"Content-Type": "text/plain"})
    assert wrong.status_code == 415
    spec = (await http.get("/openapi.json")).json()
    assert set(spec["paths"]["/fhir/named"]["post"]["requestBody"]["content"]) == set(
        fhir_r4.MEDIA_TYPES)


async def test_the_raw_topic_reads_a_format_named_by_its_format_header(
    named_only: InputFormat, fixtures: Path,
) -> None:
    uow, dead = FakeUnitOfWork(), FakeDeadLetters()
    record = Record((fixtures / "observation_hemoglobin.json").read_bytes())
    await handler(uow, dead).handle(record, {"content-type": "application/fhir+json",
                                             "format": "fhir-r4-named"})
    [receipt] = uow.committed.receipts.values()
    assert receipt.format == "fhir-r4-named"
    await handler(uow, dead).handle(record, {"content-type": "application/fhir+json",
                                             "format": "unknown"})
    [(_, reason)] = dead.sent
    assert reason.startswith("415 unsupported-media-type")
