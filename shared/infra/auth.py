"""Bearer-token authentication with roles, shared by the three HTTP services.

Tokens come from the service's settings: ``<PREFIX>_TOKENS="tok1=lab-system,tok2=auditor"``
or a JSON file ``<PREFIX>_TOKENS_FILE`` mapping token -> {"role": ..., "client": ...}.
``trialwatch run`` writes development tokens to ``var/dev-tokens.json``. Tokens are compared
in constant time; the client name (never the token) is what gets logged and audited.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, status

from shared.settings import ServiceSettings


class Role(StrEnum):
    LAB_SYSTEM = "lab-system"
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    client: str
    role: Role


class TokenRegistry:
    def __init__(self, tokens: dict[str, Principal]) -> None:
        self._tokens = tokens

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> TokenRegistry:
        tokens: dict[str, Principal] = {}
        if settings.tokens_file and settings.tokens_file.exists():
            tokens.update(load_token_file(settings.tokens_file))
        for pair in filter(None, (p.strip() for p in settings.tokens.split(","))):
            token, _, role = pair.partition("=")
            tokens[token] = Principal(client=f"{role}-client", role=Role(role))
        return cls(tokens)

    def authenticate(self, token: str) -> Principal | None:
        found = None
        for known, principal in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = principal
        return found


def load_token_file(path: Path) -> dict[str, Principal]:
    raw = json.loads(path.read_text())
    return {t: Principal(client=v["client"], role=Role(v["role"])) for t, v in raw.items()}


def write_dev_tokens(path: Path) -> dict[str, Principal]:
    """Create (or reuse) one development token per role; the file is readable by its owner only."""
    if path.exists():
        return load_token_file(path)
    tokens = {f"dev-{role.value}-{secrets.token_urlsafe(12)}": Principal(f"dev-{role.value}", role)
              for role in Role}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(
        {t: {"client": p.client, "role": p.role.value} for t, p in tokens.items()}, indent=2))
    path.chmod(0o600)
    return tokens


def require_role(*allowed: Role) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A FastAPI dependency: 401 without a valid bearer token, 403 with the wrong role.

    ``admin`` is allowed everywhere. The registry is read from ``app.state.tokens``.
    """

    async def dependency(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        registry: TokenRegistry = request.app.state.tokens
        principal = registry.authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required",
                                headers={"WWW-Authenticate": "Bearer"})
        if principal.role not in allowed and principal.role is not Role.ADMIN:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"role {principal.role.value} may not do this")
        return principal

    return dependency
