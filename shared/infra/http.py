"""Liveness, readiness and Prometheus metrics endpoints, the same on every HTTP service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from html import escape
from http import HTTPStatus
from typing import Annotated

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AfterValidator, AwareDatetime
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.infra.problem_error import problem_slug
from shared.infra.server import ParsedOnceRoute
from shared.infra.storage import storage_unavailable
from shared.problems import PROBLEM_JSON, problem_document, problem_type, problem_type_for_status

__all__ = ["PROBLEM_JSON", "STORAGE_UNAVAILABLE"]

log = structlog.get_logger(__name__)

STORAGE_UNAVAILABLE = problem_type("storage-unavailable").uri
# Seconds a client should wait before trying again while storage is unavailable.
RETRY_AFTER_S = 30

Check = Callable[[], Awaitable[None]]


def health_router(checks: Mapping[str, Check]) -> APIRouter:
    """``/livez``: the process runs. ``/readyz``: every check passes (broker answers, database
    answers and takes a write); 503 naming the failing checks otherwise."""
    router = APIRouter(tags=["operations"], route_class=ParsedOnceRoute)

    @router.get("/livez", summary="The process is alive")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Broker and database answer")
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as error:  # a readiness probe reports, it does not raise
                results[name] = f"failing: {storage_unavailable(error) or type(error).__name__}"
        ready = all(v == "ok" for v in results.values())
        if ready:
            return JSONResponse({"ready": True, "checks": results})
        return JSONResponse({"ready": False, "checks": results}, status_code=503,
                            headers={"Retry-After": "5"})

    @router.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def install_request_limits(app: FastAPI) -> None:
    """Validation errors name the parameter and never echo its input.

    FastAPI's default 422 body repeats the offending value: a 50 MB field comes back whole, and a
    lone surrogate or a NaN cannot be encoded at all (a 500). Here each error is its location and
    message only (RFC 9457 problem document).
    """

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"path": ".".join(str(p) for p in e.get("loc", ())),
                   "reason": str(e.get("msg", "invalid"))[:300]} for e in error.errors()]
        body = problem_document("invalid-request", detail="see errors",
                                instance=request.url.path, errors=errors)
        return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON)


def install_http_problems(app: FastAPI, html_prefix: str | None = None) -> None:
    """Every ``HTTPException`` (401, 403, 404, 409...) answers an RFC 9457 problem document
    (``application/problem+json``, :func:`shared.problems.problem_document`: the status's
    ``https://trialwatch.dev/problems/<slug>`` type, title, status, detail, instance; a
    ``shared.infra.problem_error.Problem`` its own registered type), with the
    exception's headers (``WWW-Authenticate``, ``Retry-After``). A list as detail becomes
    ``errors``. Under ``html_prefix`` (the coordinator app's pages) a browser gets a short HTML
    page instead, its ``main`` element naming the type (``data-problem-type``).
    """

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(request: Request, error: StarletteHTTPException) -> Response:
        detail = error.detail if isinstance(error.detail, str) else "see errors"
        if detail == _phrase(error.status_code):  # Starlette's default: no more than the title
            detail = _PLAIN_DETAIL.get(error.status_code, detail)
        slug = problem_slug(error)
        kind = problem_type(slug) if slug else problem_type_for_status(error.status_code)
        title = kind.title
        if html_prefix and request.url.path.startswith(html_prefix):
            said = _sentence("there is no page at this address" if error.status_code == 404
                             and detail == _PLAIN_DETAIL[404] else detail)
            page = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}"
                    f"</title><link rel=stylesheet href=\"{html_prefix}static/app.css\">"
                    f"<body class=narrow><main data-problem-type=\"{escape(kind.uri)}\">"
                    f"<h1>{escape(title)}</h1><p>{escape(said)}</p>"
                    f"<p><a href=\"{html_prefix}alerts\">Back to the alerts</a></p></main>")
            return HTMLResponse(page, status_code=error.status_code, headers=error.headers)
        listed: list[object] = error.detail if isinstance(error.detail, list) else []
        errors = [("", str(d)) for d in listed]
        body = problem_document(kind, status=error.status_code, detail=detail,
                                instance=request.url.path, errors=errors)
        return JSONResponse(body, status_code=error.status_code, media_type=PROBLEM_JSON,
                            headers=error.headers)


# A detail for an HTTPException raised with none (Starlette then repeats the status phrase).
_PLAIN_DETAIL = {404: "there is nothing at this address",
                 405: "this address does not take this method"}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _sentence(text: str) -> str:
    """``text`` as a sentence on a page: capital first letter, a full stop at the end."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def install_storage_problem_handler(app: FastAPI, retry_after_s: int = RETRY_AFTER_S) -> None:
    """Database and file-system failures become RFC 9457 problem documents: 503 with
    Retry-After when storage cannot take writes now (read-only, disk full, database away;
    nothing was stored, the same request can be sent again), else 500. Never a bare text 500,
    never the driver's message (it can quote SQL and the values in it)."""

    async def storage_problem(request: Request, error: Exception) -> JSONResponse:
        reason = storage_unavailable(error)
        log.error("storage_failure", path=request.url.path, error=type(error).__name__,
                  unavailable=reason)
        if reason is None:
            return _problem(request, "internal-error",
                            "the request failed on the server; nothing was stored", {})
        return _problem(request, "storage-unavailable",
                        f"{reason}: nothing was stored; send the same request again later",
                        {"Retry-After": str(retry_after_s)})

    app.add_exception_handler(SQLAlchemyError, storage_problem)
    app.add_exception_handler(OSError, storage_problem)


def _problem(request: Request, slug: str, detail: str, headers: dict[str, str]) -> JSONResponse:
    body = problem_document(slug, detail=detail, instance=request.url.path)
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON,
                        headers=headers)


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the instant is outside the range of UTC date-times") from None


# Query parameters of every HTTP API: an instant must convert to UTC (0001-01-01T00:00+14:00
# does not: OverflowError, a 500), a cursor must fit a 64-bit column, a free string a bound.
QueryInstant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
MAX_CURSOR = 2**63 - 1
QUERY_TEXT_MAX = 200
