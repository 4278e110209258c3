"""Signed-in coordinator sessions, stored in the evaluator's database so a restart (or a second
evaluator behind the same address) keeps everyone signed in until the session expires.

The cookie carries only a random session id (256 bits; HttpOnly, SameSite=Strict, path /ui).
The database keeps, per session, a SHA-256 of that id (the row key), the client name, a CSRF
token and the coordinator's token sealed with AES-256-GCM under a key derived from the session
id (re-identification is done at intake in the coordinator's own name, so the token must be
kept). The id itself is never stored: a copy of the table yields neither a cookie that works
nor a token. Every request re-authenticates the unsealed token against the token registry,
so a token withdrawn from the registry ends its sessions at once. Expired rows are removed
when a session is opened; signing out deletes the row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.adapters.sql.tables import ui_session
from shared.infra.auth import Principal
from shared.time import as_utc

COOKIE = "tw_session"
_ROW = b"trialwatch-ui-session-row\x00"
_SEAL = b"trialwatch-ui-session-seal\x00"


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    token: str
    csrf: str
    expires_at: datetime

    def csrf_matches(self, posted: str) -> bool:
        return hmac.compare_digest(self.csrf.encode(), posted.encode())


def _row_key(session_id: str) -> str:
    return hashlib.sha256(_ROW + session_id.encode()).hexdigest()


def _seal(session_id: str, token: str, row: str) -> str:
    nonce = os.urandom(12)
    key = hashlib.sha256(_SEAL + session_id.encode()).digest()
    sealed = AESGCM(key).encrypt(nonce, token.encode(), row.encode())
    return base64.b64encode(nonce + sealed).decode()


def _unseal(session_id: str, sealed: str, row: str) -> str | None:
    raw = base64.b64decode(sealed)
    key = hashlib.sha256(_SEAL + session_id.encode()).digest()
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], row.encode()).decode()
    except InvalidTag:
        return None


class SessionStore:
    """Sessions over the evaluator's database, each valid for ``ttl`` after sign-in."""

    def __init__(self, db: async_sessionmaker[AsyncSession], ttl: timedelta) -> None:
        self._db = db
        self._ttl = ttl

    async def open(self, principal: Principal, token: str, now: datetime) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        row = _row_key(session_id)
        session = Session(principal, token, secrets.token_urlsafe(32), now + self._ttl)
        async with self._db.begin() as db:
            await db.execute(delete(ui_session).where(ui_session.c.expires_at <= now))
            await db.execute(ui_session.insert().values(
                session_hash=row, client=principal.client,
                token_sealed=_seal(session_id, token, row), csrf=session.csrf, created_at=now,
                expires_at=session.expires_at))
        return session_id, session

    async def find(
        self, session_id: str | None, now: datetime,
        authenticate: Callable[[str], Principal | None],
    ) -> Session | None:
        """The session of this cookie value, or None: unknown, expired, or its token no longer
        valid (``authenticate`` is the token registry's check, None when refused)."""
        if not session_id:
            return None
        row = _row_key(session_id)
        async with self._db() as db:
            found = (await db.execute(select(ui_session).where(
                ui_session.c.session_hash == row))).first()
        if found is None or as_utc(found.expires_at) <= now:
            return None
        token = _unseal(session_id, found.token_sealed, row)
        principal = authenticate(token) if token is not None else None
        if principal is None:
            return None
        return Session(principal, token or "", found.csrf, as_utc(found.expires_at))

    async def close(self, session_id: str | None) -> None:
        if not session_id:
            return
        async with self._db.begin() as db:
            await db.execute(delete(ui_session).where(
                ui_session.c.session_hash == _row_key(session_id)))
