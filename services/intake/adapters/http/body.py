"""Read a request body without ever holding more than the configured limit."""

from __future__ import annotations

from fastapi import Request

from services.intake.core.refusals import MalformedInput, PayloadTooLarge


async def read_limited_body(request: Request, limit: int) -> bytes:
    """413 as soon as either the declared Content-Length or the bytes streamed exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise MalformedInput("Content-Length is not a number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    return bytes(body)
