"""Signed-in coordinator sessions, held in the evaluator process.

The cookie carries only a random session id (HttpOnly, SameSite=Strict, path /ui); the token
the coordinator signed in with stays on the server, because re-identification is done at
intake in the coordinator's own name. Each session has its own CSRF token, which every form
posts back. A restart signs everyone out (the sessions are not persisted, by design: no
bearer token is ever written to a database).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.infra.auth import Principal

COOKIE = "tw_session"


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    token: str
    csrf: str
    expires_at: datetime

    def csrf_matches(self, posted: str) -> bool:
        return hmac.compare_digest(self.csrf.encode(), posted.encode())


class SessionStore:
    def __init__(self, ttl: timedelta) -> None:
        self._ttl = ttl
        self._sessions: dict[str, Session] = {}

    def open(self, principal: Principal, token: str, now: datetime) -> tuple[str, Session]:
        self._forget_expired(now)
        session_id = secrets.token_urlsafe(32)
        session = Session(principal, token, secrets.token_urlsafe(32), now + self._ttl)
        self._sessions[session_id] = session
        return session_id, session

    def find(self, session_id: str | None, now: datetime) -> Session | None:
        session = self._sessions.get(session_id or "")
        if session is None or session.expires_at <= now:
            return None
        return session

    def close(self, session_id: str | None) -> None:
        self._sessions.pop(session_id or "", None)

    def _forget_expired(self, now: datetime) -> None:
        for key in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[key]
