"""Liveness, readiness and Prometheus metrics endpoints, the same on every HTTP service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Check = Callable[[], Awaitable[None]]


def health_router(checks: Mapping[str, Check]) -> APIRouter:
    """``/livez``: the process runs. ``/readyz``: broker and database answer."""
    router = APIRouter(tags=["operations"])

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
                results[name] = f"failing: {type(error).__name__}"
        ready = all(v == "ok" for v in results.values())
        return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)

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
        body = {"type": "about:blank", "title": "The request is not valid", "status": 422,
                "detail": "see errors", "instance": request.url.path, "errors": errors}
        return JSONResponse(body, status_code=422, media_type="application/problem+json")
