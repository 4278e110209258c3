"""How every TrialWatch HTTP service faces slow, large and many clients.

- Connections: at most ``max_connections`` at once (uvicorn ``limit_concurrency``; more get a 503
  at once), idle keep-alive closed after ``KEEP_ALIVE_S``.
- Headers: the request line and headers must arrive within ``HEADER_TIMEOUT_S`` of the
  connection (or of the previous response), and fit in ``MAX_HEADER_BYTES``. When the time is
  up, a request that has begun is answered 408 and the connection closed; a connection on which
  no byte of a request arrived is closed. uvicorn's h11 protocol has no header timeout of its
  own, so a client sending one byte a minute would hold a connection for ever (slowloris).
- A request head (request line and headers) over ``MAX_HEADER_BYTES`` is answered ``431
  Request Header Fields Too Large`` (RFC 6585 section 5) with a problem document, before h11
  parses it and so before any application code (a token verifier, a JSON reader) sees a
  header. h11's own ``max_incomplete_event_size`` bounds only a head still incomplete in its
  buffer: a 100,000-character bearer token arriving in one read was parsed whole and handed to
  the JWT library, and arriving in two reads it was answered 400 and the socket closed at once.
- A request refused at the protocol level (431, or 400 when h11 cannot read it) is answered and
  then the connection half-closed, and what the client still sends is read and discarded (at
  most ``DRAIN_LIMIT_BYTES``, until it stops for ``DRAIN_IDLE_S`` or closes) before the socket
  is closed: a socket closed with request bytes unread is reset by the kernel, and the reset
  discards the answer at the client (the issue 14 probe's forged 100,000-character CDS Hooks
  bearer token got no answer at all).
- A connection is never closed (by the header or the keep-alive timeout) while the kernel
  holds request bytes the event loop has not read yet: on a busy loop the timer can run just
  after the client's next request arrived, and closing then resets it unanswered (clients see
  a connection closed with no response: httpx ``ReadError`` in bench_intake under load).
  Those bytes are read first and the request is served, or answered 408.
- Body: read in full by ``RequestLimits`` before the application runs, each chunk within
  ``BODY_CHUNK_TIMEOUT_S`` and the whole within ``BODY_TIMEOUT_S`` (else 408), at most
  ``max_body_bytes`` (else 413). A too-large body is read to its end and discarded (up to
  ``DRAIN_LIMIT_BYTES``) before the 413 goes out: closing the socket while the client is still
  sending makes its kernel answer with a reset, and the client never sees the 413.
- Text: every string of a JSON body (``application/json``, ``application/*+json`` or no
  content type, as FastAPI reads them), of a form body (``application/x-www-form-urlencoded``)
  and of the query string is checked by ``shared.text_safety`` before the application runs:
  NUL and other C0 controls except TAB/LF/CR, lone surrogates and strings over
  ``MAX_TEXT_CHARS`` answer 422 with a problem document naming each field (``body.reason``,
  ``query.trial_id``), never quoting it. Routes whose body is read by a format's own reader
  (intake's FHIR and HL7 v2 routes, which refuse the same characters at their FHIR or HL7 path,
  entry by entry) are named in ``own_text_paths`` and skipped.
- Access log: ``http_request`` with method, route template (``/patients/{patient_key}/...``,
  never the path as sent), status and duration: no query string, no body, no identifier.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import re
import struct
import sys
import termios
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any
from urllib.parse import parse_qsl

import h11
import structlog
import uvicorn
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from shared.infra import fast_json
from shared.problems import problem_document
from shared.text_safety import text_problems

HEADER_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5
MAX_HEADER_BYTES = 16 * 1024
BODY_CHUNK_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 60.0
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
DRAIN_IDLE_S = 1.0
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

_access = structlog.get_logger("trialwatch.http")
_TIMEOUT_BODY = json.dumps(problem_document(
    408, status=408, detail="the request headers did not arrive in time")).encode()
# RFC 9110 15.5.9: the server would like to close a connection on which a request has begun
_REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
                    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() +
                    b"\r\nconnection: close\r\n\r\n" + _TIMEOUT_BODY)
# what errors="surrogateescape" makes of a byte that is not UTF-8
_UNDECODABLE = re.compile("[\udc80-\udcff]")
# the blank line that ends a request head, as h11 finds it (h11._receivebuffer)
_HEAD_END = re.compile(b"\n\r?\n")


def _refusal(status: int, detail: str) -> bytes:
    """A whole HTTP/1.1 response with a problem document, closing the connection."""
    body = json.dumps(problem_document(status, status=status, detail=detail)).encode()
    reason = {400: b"Bad Request", 431: b"Request Header Fields Too Large"}[status]
    return (b"HTTP/1.1 " + str(status).encode() + b" " + reason +
            b"\r\ncontent-type: application/problem+json\r\ncontent-length: " +
            str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request headers arrive too slowly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        # once a request is refused at the protocol level: bytes discarded since, the loop
        # time the refusal went out, and the timer closing the connection when the client
        # stops sending (None: not refusing)
        self._discarded: int | None = None
        self._refused_at = 0.0
        self._drain_timer: asyncio.TimerHandle | None = None

    def _awaiting_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._header_timer is None and self._awaiting_headers():
            self._header_timer = self.loop.call_later(HEADER_TIMEOUT_S, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _unread_bytes(self) -> int:
        """How many bytes the kernel holds for this connection that the loop has not read
        yet (``FIONREAD``); 0 when that cannot be asked."""
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return 0
        try:
            held = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return 0
        return int(struct.unpack("i", held)[0])

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self._awaiting_headers() or self.transport.is_closing():
            return
        unread = self._unread_bytes()
        if unread and self.transport.is_reading():
            # the request arrived as the timer fell due, on a busy loop: read it first (a timer
            # due now runs after the reads of the next loop iteration), then decide
            self._header_timer = self.loop.call_later(0, self._too_slow)
            return
        # a request's first bytes arrived, its headers unfinished
        begun = bool(unread or self.conn.trailing_data[0])
        _access.info("http_header_timeout", timeout_s=HEADER_TIMEOUT_S,
                     answered=408 if begun else None)
        if begun:
            self.transport.write(_REQUEST_TIMEOUT)
        self.transport.close()

    def timeout_keep_alive_handler(self) -> None:
        """uvicorn's idle keep-alive close, unless the next request has already arrived
        unread (its ``data_received`` cancels the keep-alive timer, but on a busy loop the
        timer can run first: closing with unread bytes resets the connection unanswered)."""
        if not self.transport.is_closing() and self._unread_bytes():
            self.timeout_keep_alive_task = None
            return
        super().timeout_keep_alive_handler()

    def _head_too_large(self) -> bool:
        """Whether the request head h11 holds unparsed (request line and headers, up to the
        blank line that ends them, or all of it when that has not arrived) is over
        ``MAX_HEADER_BYTES``. Only while h11 waits for a request (``IDLE``): a body is bounded
        by ``RequestLimits``."""
        if self.conn.their_state is not h11.IDLE:
            return False
        buffered, _ = self.conn.trailing_data
        if len(buffered) <= MAX_HEADER_BYTES:
            return False
        end = _HEAD_END.search(buffered)
        return (end.end() if end else len(buffered)) > MAX_HEADER_BYTES

    def _refuse(self, status: int, detail: str) -> None:
        """Answer ``status`` with a problem document, half-close, and discard what the client
        still sends until it stops (see the module docstring); nothing more reaches h11."""
        self._disarm()
        self._unset_keepalive_if_required()
        _access.info("http_request_refused", status=status, limit_bytes=MAX_HEADER_BYTES)
        self.transport.write(_refusal(status, detail))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._discarded = 0
        self._refused_at = self.loop.time()
        self._drain_timer = self.loop.call_later(DRAIN_IDLE_S, self._drained)

    def _drained(self) -> None:
        self._drain_timer = None
        self.transport.close()

    def _discard(self, data: bytes) -> None:
        assert self._discarded is not None
        self._discarded += len(data)
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        if (self._discarded > DRAIN_LIMIT_BYTES
                or self.loop.time() - self._refused_at > BODY_TIMEOUT_S):
            self._drained()  # a reset now costs the client nothing it could still read
        else:
            self._drain_timer = self.loop.call_later(DRAIN_IDLE_S, self._drained)

    def handle_events(self) -> None:
        """uvicorn's, after refusing a request head over ``MAX_HEADER_BYTES`` with 431."""
        if self._head_too_large():
            self._refuse(431, f"the request line and headers are larger than "
                              f"{MAX_HEADER_BYTES} bytes")
            return
        super().handle_events()

    def send_400_response(self, msg: str) -> None:
        """What h11 cannot read (uvicorn calls this in its ``except h11.RemoteProtocolError``):
        a 400 problem document (431 when h11 found the head too long), answered as
        ``_refuse`` does. During a request cycle, uvicorn's own answer and close."""
        if self.cycle is not None and not self.cycle.response_complete:
            super().send_400_response(msg)
            return
        error = sys.exc_info()[1]
        if getattr(error, "error_status_hint", 400) == 431:
            self._refuse(431, f"the request line and headers are larger than "
                              f"{MAX_HEADER_BYTES} bytes")
        else:
            self._refuse(400, "the request is not valid HTTP/1.1")

    def eof_received(self) -> None:
        """The client closed its side: a refused connection is closed now, nothing unread."""
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._discarded is not None:
            self._discard(data)
            return
        self._arm()
        super().data_received(data)
        if not self._awaiting_headers() or self._discarded is not None:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._discarded is None:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        super().connection_lost(exc)


def server_config(app: ASGIApp, host: str, port: int, *,
                  max_connections: int = DEFAULT_MAX_CONNECTIONS,
                  **options: Any) -> uvicorn.Config:
    """The uvicorn configuration every service runs with (see the module docstring)."""
    return uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False,
        http=HeaderTimeoutH11Protocol, timeout_keep_alive=KEEP_ALIVE_S,
        limit_concurrency=max_connections, h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        **options,
    )


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class RequestLimits:
    """ASGI middleware: bounded, timed body reading, and the PHI-free access log."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 own_text_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.own_text_paths = frozenset(own_text_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = [0]

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            if "\x00" in scope.get("path", ""):
                # no route takes a NUL, and PostgreSQL text cannot hold one (a key "%00" in a
                # path answered 500 there): refused before any handler or query sees it
                await _problem(observed_send, 400, "the URL holds a NUL character", scope)
                return
            try:
                body = await self._read_body(scope, receive)
            except _Refused as refused:
                await _problem(observed_send, refused.status, refused.detail, scope)
                return
            if body is None:  # the client went away
                return
            problems = _query_problems(scope) + (
                [] if scope.get("path") in self.own_text_paths else _body_problems(scope, body))
            # the JSON document checked here is the one the route reads (ParsedOnceRoute)
            if problems:
                await _problem(observed_send, 422, "a text field holds what no service accepts: "
                               "see errors", scope, problems)
                return
            await self.app(scope, _replay(body, receive), observed_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "(unmatched)"
            _access.info("http_request", method=scope.get("method"), route=route,
                         status=status[0] or None,
                         duration_ms=round((time.perf_counter() - started) * 1000, 1))

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _drain(receive)
            raise _Refused(413, f"the body is larger than {self.max_body_bytes} bytes")
        body = bytearray()
        deadline = time.monotonic() + BODY_TIMEOUT_S
        while True:
            timeout = min(BODY_CHUNK_TIMEOUT_S, deadline - time.monotonic())
            try:
                async with asyncio.timeout(max(timeout, 0.001)):
                    message = await receive()
            except TimeoutError:
                raise _Refused(408, "the body did not arrive in time") from None
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                if message.get("more_body", False):
                    await _drain(receive)
                raise _Refused(413, f"the body is larger than {self.max_body_bytes} bytes")
            if not message.get("more_body", False):
                return bytes(body)


def _query_problems(scope: Scope) -> list[tuple[str, str]]:
    query = scope.get("query_string", b"")
    return _pair_problems(query, "query") if query else []


def _pair_problems(raw: bytes, prefix: str) -> list[tuple[str, str]]:
    """The refused names and values of a query string or URL-encoded form, each at
    ``<prefix>.<name>``. Percent-encoded bytes that are not UTF-8 (an encoded surrogate
    ``%ED%A0%80``, a stray ``%FF``) are refused at their field too."""
    problems = []
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True,
                                 encoding="utf-8", errors="surrogateescape"):
        if _UNDECODABLE.search(name):
            problems.append((prefix, "a name is not UTF-8 once percent-decoded"))
            continue
        problems += text_problems(name, prefix, max_chars=200)
        if _UNDECODABLE.search(value):
            problems.append((f"{prefix}.{name}", "is not UTF-8 once percent-decoded (an "
                             "encoded surrogate or a byte that starts no character)"))
        else:
            problems += text_problems(value, f"{prefix}.{name}")
    return problems


def _media_type(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return None


def _body_problems(scope: Scope, body: bytes) -> list[tuple[str, str]]:
    """The body's refused strings, when it is JSON or a URL-encoded form; a body that does not
    parse is left to the application (it answers its own 400 or 422)."""
    if not body:
        return []
    media = _media_type(scope)
    if media is None or media == "application/json" or (
            media.startswith("application/") and media.endswith("+json")):
        try:
            document = fast_json.loads(body)
        except (ValueError, RecursionError) as error:  # not JSON (UnicodeDecodeError is a
            scope[PARSED_JSON] = (body, None, error)    # ValueError): the route answers it
            return []
        scope[PARSED_JSON] = (body, document, None)
        return text_problems(document, "body")
    if media == "application/x-www-form-urlencoded":
        return _pair_problems(body, "body")
    return []


PARSED_JSON = "trialwatch.parsed_json"
"""Scope key: (body, document, error) of a JSON body ``RequestLimits`` parsed to check it
(``error``: why it is not JSON, else None)."""


class ParsedOnceRequest(Request):
    """A request whose ``json()`` is the document ``RequestLimits`` already parsed from the same
    body (``PARSED_JSON``), else the body parsed by ``fast_json.loads`` (``json.loads``'s value:
    an integer beyond 64 bits exact, NaN and Infinity read as ``json.loads`` reads them, for
    the route's model to refuse). Raises what that parse raised for a body that is not JSON
    (``json.JSONDecodeError``: FastAPI answers 422; ``RecursionError``, nested too deep: 400),
    without parsing it a second time."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            parsed = self.scope.get(PARSED_JSON)
            if parsed is None or parsed[0] != body:
                self._json = fast_json.loads(body)
            elif parsed[2] is not None:
                raise parsed[2]
            else:
                self._json = parsed[1]
        return self._json


class ParsedOnceRoute(APIRoute):
    """The route class of every service router (FastAPI's "custom Request and APIRoute
    class"): its handler reads the body through ``ParsedOnceRequest``, so a JSON body is
    parsed once per request, by ``RequestLimits``, not again by FastAPI."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parsed_once(request: Request) -> Response:
            return await handler(ParsedOnceRequest(request.scope, request.receive))

        return parsed_once


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            if not text.isdigit() or len(text) > 18:
                raise _Refused(400, "Content-Length is not a number of bytes")
            return int(text)
    return None


async def _drain(receive: Receive) -> None:
    """Read and discard the rest of the body (bounded in bytes and time), so the client,
    still sending, reads the error instead of a connection reset."""
    drained = 0
    deadline = time.monotonic() + BODY_TIMEOUT_S
    while drained < DRAIN_LIMIT_BYTES and time.monotonic() < deadline:
        try:
            async with asyncio.timeout(BODY_CHUNK_TIMEOUT_S):
                message = await receive()
        except TimeoutError:
            return
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _problem(send: Send, status: int, detail: str, scope: Scope,
                   errors: list[tuple[str, str]] | None = None) -> None:
    body = json.dumps(problem_document(status, status=status, detail=detail,
                                       instance=scope.get("path", ""),
                                       errors=errors or ())).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})
