"""``RequestLimits`` (shared/infra/server.py) reads a non-FHIR JSON body once: the document it
checks (text bounds, NUL, controls, lone surrogates) is the one the route validates, parsed with
orjson where orjson reads it as ``json.loads`` does (``shared.infra.fast_json``). Before, the
middleware parsed every JSON body with ``json.loads`` and FastAPI parsed it again: two parses
per request. The limits still hold: size (413), depth (a 100,000-deep array: 4xx, never 5xx),
lone surrogates and over-long strings (422 naming the field), NaN and Infinity (4xx, never
5xx), an integer beyond 64 bits read exactly."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict

from shared.infra.http import install_http_problems, install_request_limits
from shared.infra.server import ParsedOnceRoute, RequestLimits
from shared.text_safety import MAX_TEXT_CHARS

LIMIT = 256 * 1024


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str
    value: float | None = None
    count: int | None = None
    tags: list[Any] = []


def app() -> FastAPI:
    application = FastAPI()
    router = APIRouter(route_class=ParsedOnceRoute)

    @router.post("/items")
    async def post(item: Item) -> dict[str, Any]:
        return {"name": item.name, "count": str(item.count), "tags": len(item.tags)}

    application.include_router(router)
    install_request_limits(application)
    install_http_problems(application)
    application.add_middleware(RequestLimits, max_body_bytes=LIMIT)
    return application


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every JSON parse made while serving: json.loads (the standard library, as Starlette's
    Request.json and the old middleware call it) and orjson.loads."""
    seen: list[str] = []
    stdlib, fast = json.loads, orjson.loads

    def counted_json(*args: Any, **kwargs: Any) -> Any:
        seen.append("json")
        return stdlib(*args, **kwargs)

    def counted_orjson(*args: Any, **kwargs: Any) -> Any:
        seen.append("orjson")
        return fast(*args, **kwargs)

    monkeypatch.setattr(json, "loads", counted_json)
    monkeypatch.setattr(orjson, "loads", counted_orjson)
    return seen


async def post(body: bytes | str, content_type: str = "application/json") -> httpx.Response:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/items", content=body, headers={"content-type": content_type})


async def test_a_json_body_is_parsed_once(parses: list[str]) -> None:
    answer = await post(json.dumps({"name": "ward-a", "value": 1.5, "tags": [1, 2]}))
    served = list(parses)  # before this test reads the answer
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"name": "ward-a", "count": "None", "tags": 2}
    assert served == ["orjson"]


async def test_an_integer_beyond_64_bits_is_read_exactly(parses: list[str]) -> None:
    answer = await post('{"name": "x", "count": 123456789012345678901234567890}')
    served = list(parses)
    assert answer.json()["count"] == "123456789012345678901234567890"
    assert served == ["json"]  # 19+ digits: json.loads's exact integer, once


async def test_a_body_over_the_size_limit_is_413() -> None:
    answer = await post(json.dumps({"name": "x" * (LIMIT + 1)}))
    assert answer.status_code == 413


async def test_a_deeply_nested_body_is_refused_never_a_server_error(parses: list[str]) -> None:
    depth = 100_000
    answer = await post('{"name": "x", "tags": ' + "[" * depth + "]" * depth + "}")
    assert 400 <= answer.status_code < 500, answer.text
    assert parses == ["orjson", "json"]  # orjson's depth limit, json.loads's recursion: once


@pytest.mark.parametrize("body", [
    '{"name": "\\ud800"}', '{"name": "x", "tags": ["\\udfff"]}'])
async def test_a_lone_surrogate_is_refused_naming_its_field(body: str) -> None:
    answer = await post(body)
    assert answer.status_code == 422
    paths = [e["path"] for e in answer.json()["errors"]]
    assert paths in (["body.name"], ["body.tags.0"]), paths


async def test_an_over_long_string_is_refused_naming_its_field() -> None:
    answer = await post(json.dumps({"name": "x", "tags": ["y" * (MAX_TEXT_CHARS + 1)]}))
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["errors"]] == ["body.tags.0"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_nan_and_infinity_are_refused_never_a_server_error(number: str) -> None:
    answer = await post('{"name": "x", "value": ' + number + "}")
    assert answer.status_code == 422, answer.text
    assert [e["path"] for e in answer.json()["errors"]] == ["body.value"]


async def test_a_body_that_is_not_json_is_the_routes_own_422(parses: list[str]) -> None:
    answer = await post('{"name": ')
    served = list(parses)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["path"].startswith("body")
    assert served == ["orjson", "json"]  # json.loads's error (with its position), once


@pytest.mark.parametrize("service", ["intake", "evaluator", "audit"])
def test_every_route_of_every_service_reads_the_body_parsed_once(service: str,
                                                                 tmp_path: Any) -> None:
    from fastapi.routing import APIRoute

    from services.audit.bootstrap import build_app as audit_app
    from services.evaluator.bootstrap import build_app as evaluator_app
    from services.intake.bootstrap import build_app as intake_app
    from shared.settings import AuditSettings, EvaluatorSettings, IntakeSettings

    url = f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"
    built = {
        "intake": lambda: intake_app(IntakeSettings(database_url=url)),
        "evaluator": lambda: evaluator_app(EvaluatorSettings(database_url=url)),
        "audit": lambda: audit_app(AuditSettings(database_url=url,
                                                 checkpoint_dir=tmp_path / "checkpoints")),
    }[service]()
    routes: list[APIRoute] = []
    pending = list(built.routes)
    while pending:  # included routers (FastAPI 0.165: _IncludedRouter) hold their own routes
        route = pending.pop()
        included = getattr(route, "original_router", None)
        if included is not None:
            pending.extend(included.routes)
        elif isinstance(route, APIRoute) and route.path not in (
                "/docs", "/redoc", "/docs/oauth2-redirect"):  # the offline docs pages
            routes.append(route)
    assert routes
    assert [r.path for r in routes if not isinstance(r, ParsedOnceRoute)] == []
