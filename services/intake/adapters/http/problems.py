"""RFC 9457 problem documents (application/problem+json) for every error intake returns."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from services.intake.core.refusals import PROBLEM_BASE, Refusal

PROBLEM_JSON = "application/problem+json"


class ProblemDetail(BaseModel):
    path: str = Field(description="where in the input: FHIRPath-like, or e.g. OBX[2].6 for HL7 v2")
    reason: str


class ProblemDocument(BaseModel):
    """RFC 9457; ``errors`` lists every problem found, each with its path."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemDetail] = []


def problem_response(
    status: int, title: str, detail: str | None, *, type_uri: str, request: Request,
    errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_uri, "title": title, "status": status,
                            "detail": detail, "instance": request.url.path,
                            "errors": errors or []}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Refusal)
    async def refused(request: Request, refusal: Refusal) -> JSONResponse:
        errors = [{"path": p.path, "reason": p.reason} for p in refusal.problems]
        return problem_response(refusal.status, refusal.title, refusal.detail,
                                type_uri=refusal.type_uri, request=request, errors=errors)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return problem_response(error.status_code, _title(error.status_code), str(error.detail),
                                type_uri="about:blank", request=request,
                                headers=dict(error.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"path": ".".join(str(p) for p in e["loc"]), "reason": str(e["msg"])}
                  for e in error.errors()]
        return problem_response(422, "The request is not valid", "see errors",
                                type_uri=PROBLEM_BASE + "invalid-request", request=request,
                                errors=errors)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these statuses, all as problem documents."""
    return {
        status: {"model": ProblemDocument, "content": {PROBLEM_JSON: {}},
                 "description": _title(status)}
        for status in statuses
    }
