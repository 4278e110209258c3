"""Bearer-token authentication with roles, shared by the three HTTP services.

Tokens come from the service's settings: ``<PREFIX>_TOKENS="tok1=lab-system,tok2=auditor"``
(a coordinator's trials after ``@``: ``tok3=coordinator@NCT06920433|NCT0000001``; sites after
``/``: ``tok4=coordinator@NCT06920433/site-a|site-b``, ``tok5=lab-system/site-a``; the syntax
and its checks in ``shared.token_claims``) or a JSON file
``<PREFIX>_TOKENS_FILE`` mapping token -> {"role", "client", "trials", "sites"}. The file is
re-read when it changes, so ``trialwatch dev-token coordinator --trial T`` can mint a scoped
token for a running pipeline. Tokens are compared in constant time; the client name (never the
token) is what gets logged and audited.

Claims: a coordinator sees only the trials listed in ``trials`` (``"*"`` grants every trial;
no claim grants none) and, when it has a ``sites`` claim, only patients of those sites (a
patient with no site included out); no ``sites`` claim means every site. A lab-system token's
``sites`` claim is the site intake stamps on what it submits (``submitting_site``). ``admin``
is unscoped. Every refusal is logged as ``access_refused`` with the client, role, route and
the reason: never a patient identifier (surrogate keys only). deploy/SECURITY.md "Site scope".
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.infra.problem_error import Problem
from shared.infra.roles import Role as Role
from shared.settings import ServiceSettings
from shared.sites import site_visible
from shared.token_claims import parse_inline_tokens

EVERY_TRIAL = "*"
_log = structlog.get_logger("trialwatch.access")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls: the client name (logged), the role, and a coordinator's scope claims.

    ``trials``: trial ids this principal may see (``"*"`` = all). ``sites``: site codes; for a
    coordinator the sites whose patients it may see (empty = every site), for a lab system
    the sites it may submit for (``submitting_site``).
    """

    client: str
    role: Role
    trials: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()

    @property
    def every_trial(self) -> bool:
        return self.role is Role.ADMIN or EVERY_TRIAL in self.trials

    def may_see_trial(self, trial: str) -> bool:
        return self.every_trial or trial in self.trials

    def visible(self, trials: set[str] | frozenset[str]) -> frozenset[str]:
        """The subset of ``trials`` this principal may see."""
        return frozenset(trials) if self.every_trial else frozenset(trials) & self.trials

    @property
    def every_site(self) -> bool:
        """No ``sites`` claim (or admin): every patient, whatever their site, and none."""
        return self.role is Role.ADMIN or not self.sites

    @property
    def site_scope(self) -> frozenset[str] | None:
        """The sites whose patients this principal may see; None = every site (no filter)."""
        return None if self.every_site else self.sites

    def may_see_site(self, site: str | None) -> bool:
        """Whether a patient of ``site`` is visible: always without a ``sites`` claim; with
        one, only a patient whose site is claimed (a patient with no site is not)."""
        return site_visible(self.site_scope, site)


class SiteChoiceRefused(Exception):
    """A lab-system submission whose site cannot be decided from its token: ``status`` is 403
    (a site outside the token's claims) or 422 (several claimed, none named)."""

    def __init__(self, status_code: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.reason = reason
        self.detail = detail

    @property
    def slug(self) -> str:
        """Its registered problem type (docs/problems.md): ``site-not-allowed`` (403) or
        ``site-required`` (422)."""
        return "site-not-allowed" if self.status_code == 403 else "site-required"


def submitting_site(principal: Principal, named: str | None) -> str | None:
    """The site stamped on what ``principal`` (a lab system) submits, from its ``sites`` claim.

    No claim: no site (``named`` must be absent too). One claimed site: that site (``named``,
    if given, must be it). Several: ``named`` (the ``TrialWatch-Site`` header) must be one of
    them. The payload never chooses: MSH-4 and ``meta.source`` are sender-asserted.
    Raises ``SiteChoiceRefused``.
    """
    if named is not None and named not in principal.sites:
        raise SiteChoiceRefused(403, "site_not_in_claims",
                                "this token is not scoped to the site it names")
    if named is not None:
        return named
    if len(principal.sites) > 1:
        raise SiteChoiceRefused(
            422, "site_required",
            "this token claims several sites: name one in the TrialWatch-Site header")
    return next(iter(principal.sites), None)


class TokenRegistry:
    """Tokens from settings plus a token file that is re-read whenever it changes."""

    def __init__(self, tokens: dict[str, Principal], file: Path | None = None) -> None:
        self._static = tokens
        self._file = file
        self._file_stamp: tuple[int, int] | None = None
        self._from_file: dict[str, Principal] = {}

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> TokenRegistry:
        """The inline ``<PREFIX>_TOKENS`` (``shared.token_claims``: a client name before ``:``,
        the role, trials after ``@``, sites after ``/``; an unnamed entry's client name is
        ``<role>-client`` for its role's first, ``<role>-client-<n>`` after) and the token
        file."""
        tokens = {entry.token: Principal(client=entry.client, role=Role(entry.role),
                                         trials=entry.trials, sites=entry.sites)
                  for entry in parse_inline_tokens(settings.tokens)}
        return cls(tokens, settings.tokens_file)

    def _tokens(self) -> dict[str, Principal]:
        if self._file is not None:
            try:
                stat = self._file.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
                if stamp != self._file_stamp:
                    self._from_file, self._file_stamp = load_token_file(self._file), stamp
            except (OSError, ValueError):
                self._from_file, self._file_stamp = {}, None
        return {**self._from_file, **self._static}

    def authenticate(self, token: str) -> Principal | None:
        found = None
        for known, principal in self._tokens().items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = principal
        return found


def principal_of(claims: dict[str, Any]) -> Principal:
    """A principal from one token file entry ``{"role", "client", "trials"?, "sites"?}``."""
    return Principal(client=str(claims["client"]), role=Role(claims["role"]),
                     trials=frozenset(map(str, claims.get("trials", ()))),
                     sites=frozenset(map(str, claims.get("sites", ()))))


def claims_of(principal: Principal) -> dict[str, Any]:
    entry: dict[str, Any] = {"client": principal.client, "role": principal.role.value}
    if principal.trials:
        entry["trials"] = sorted(principal.trials)
    if principal.sites:
        entry["sites"] = sorted(principal.sites)
    return entry


def load_token_file(path: Path) -> dict[str, Principal]:
    raw = json.loads(path.read_text())
    return {t: principal_of(v) for t, v in raw.items()}


def save_token_file(path: Path, tokens: dict[str, Principal]) -> None:
    """Write the token file atomically, readable by its owner only (0600 from creation)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({t: claims_of(p) for t, p in tokens.items()}, handle, indent=2)
    os.replace(temporary, path)


def write_dev_tokens(path: Path) -> dict[str, Principal]:
    """Create (or reuse) one development token per role; the file is readable by its owner only.

    The development coordinator is granted every trial (``"*"``) explicitly; scoped ones are
    minted with ``trialwatch dev-token coordinator --trial T``.
    """
    if path.exists():
        return load_token_file(path)
    tokens = {
        f"dev-{role.value}-{secrets.token_urlsafe(12)}": Principal(
            f"dev-{role.value}", role,
            trials=frozenset({EVERY_TRIAL}) if role is Role.COORDINATOR else frozenset())
        for role in Role
    }
    save_token_file(path, tokens)
    return tokens


def mint_token(path: Path, principal: Principal) -> str:
    """Add a new token for ``principal`` to the token file and return it."""
    tokens = load_token_file(path) if path.exists() else {}
    token = f"dev-{principal.role.value}-{secrets.token_urlsafe(12)}"
    tokens[token] = principal
    save_token_file(path, tokens)
    return token


def refuse(request: Request, principal: Principal | None, code: int, reason: str,
           detail: str, *, slug: str | None = None, **context: str) -> HTTPException:
    """Log a refused attempt (client, role, route, reason; never PHI) and build its HTTP error:
    of the registered problem type ``slug`` when given (``Problem``: a record of another site
    is refused with the same type as an unknown one), else the status's generic type.

    ``context`` may carry trial ids and surrogate keys only.
    """
    _log.warning("access_refused", status=code, reason=reason, method=request.method,
                 route=getattr(request.scope.get("route"), "path", ""),
                 client=principal.client if principal else None,
                 role=principal.role.value if principal else None, **context)
    headers = {"WWW-Authenticate": "Bearer"} if code == status.HTTP_401_UNAUTHORIZED else None
    if slug is not None:
        return Problem(slug, detail, headers=headers)
    return HTTPException(code, detail, headers=headers)


def require_site(request: Request, principal: Principal, site: str | None,
                 patient_key: str) -> None:
    """404 (logged as ``site_not_in_claims``, surrogate key only) unless the principal may see
    a patient of ``site``: a patient of another site is answered as an unknown patient."""
    if not principal.may_see_site(site):
        raise refuse(request, principal, status.HTTP_404_NOT_FOUND, "site_not_in_claims",
                     "no such patient", slug="patient-not-found", patient_key=patient_key[:64])


def require_trial(request: Request, principal: Principal, trial: str) -> None:
    """403 (logged) unless the principal's claims include ``trial``."""
    if not principal.may_see_trial(trial):
        raise refuse(request, principal, status.HTTP_403_FORBIDDEN, "trial_not_in_claims",
                     "this token is not scoped to that trial", slug="trial-not-in-claims",
                     trial=trial[:64])


# Declared on every route that needs a token, so the OpenAPI document names the scheme and
# /docs can authorise; the dependency below still reads and checks the header itself.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="a token issued to the client (`trialwatch dev-token ROLE`)")


def require_role(*allowed: Role) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A FastAPI dependency: 401 without a valid bearer token, 403 with the wrong role.

    ``admin`` is allowed everywhere. The registry is read from ``app.state.tokens``.
    """

    async def dependency(
        request: Request,
        declared: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
    ) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        registry: TokenRegistry = request.app.state.tokens
        principal = registry.authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise refuse(request, None, status.HTTP_401_UNAUTHORIZED, "no_valid_token",
                         "a valid bearer token is required")
        if principal.role not in allowed and principal.role is not Role.ADMIN:
            raise refuse(request, principal, status.HTTP_403_FORBIDDEN, "role_not_allowed",
                         f"role {principal.role.value} may not do this", slug="role-not-allowed")
        return principal

    return dependency
