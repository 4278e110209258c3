"""RFC 9457 problem documents (application/problem+json) for every error intake returns."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from services.intake.core.refusals import Refusal
from shared.infra.problem_error import problem_slug
from shared.problems import PROBLEM_JSON, problem_document, problem_type_for_status

__all__ = ["PROBLEM_JSON", "install_problem_handlers", "problem_response", "problem_responses"]


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
    kind: str | int, detail: str | None, *, request: Request, status: int | None = None,
    errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The problem document of ``kind`` (a registered slug or an HTTP status, see
    :func:`shared.problems.problem_document`) as an ``application/problem+json`` response."""
    body = problem_document(kind, detail=detail, status=status, instance=request.url.path,
                            errors=errors or [])
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON,
                        headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Refusal)
    async def refused(request: Request, refusal: Refusal) -> JSONResponse:
        errors = [{"path": p.path, "reason": p.reason} for p in refusal.problems]
        return problem_response(refusal.slug, refusal.detail, status=refusal.status,
                                request=request, errors=errors)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return problem_response(problem_slug(error) or error.status_code, str(error.detail),
                                status=error.status_code, request=request,
                                headers=dict(error.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"path": ".".join(str(p) for p in e["loc"]), "reason": str(e["msg"])}
                  for e in error.errors()]
        return problem_response("invalid-request", "see errors", request=request,
                                errors=errors)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these statuses, all as problem documents."""
    return {
        status: {"model": ProblemDocument, "content": {PROBLEM_JSON: {}},
                 "description": problem_type_for_status(status).title}
        for status in statuses
    }
