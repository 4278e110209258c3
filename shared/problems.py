"""RFC 9457 problem documents: one shape for every error any TrialWatch HTTP service returns.

Every problem has a stable ``type`` URI per kind of problem
(``https://trialwatch.dev/problems/<slug>``, never ``about:blank``), a ``title`` naming the kind,
the HTTP ``status``, a ``detail`` for this occurrence, the ``instance`` (the request path) and
``errors``: each ``{path, reason}`` naming the field (a FHIRPath-like path, ``OBX[2].6`` for
HL7 v2, ``query.since`` for a parameter) and what was expected there. Neither the detail nor a
reason ever quotes the client's input: it can hold PHI or markup.

Every type is listed in :data:`PROBLEM_TYPES` and documented in ``docs/problems.md`` (what it
means, what to do); a unit test keeps the two the same.

Pure: standard library only, so cores and adapters alike may use it.
Source: RFC 9457 "Problem Details for HTTP APIs", sections 3.1 (members) and 4.2 (type URIs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PROBLEM_BASE = "https://trialwatch.dev/problems/"
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    """One kind of problem: ``slug`` (the last segment of its type URI), ``status`` (the HTTP
    status it is usually returned with) and ``title`` (a short summary, the same for every
    occurrence, RFC 9457 3.1.3)."""

    slug: str
    status: int
    title: str

    @property
    def uri(self) -> str:
        """The stable ``type`` URI, ``https://trialwatch.dev/problems/<slug>``."""
        return PROBLEM_BASE + self.slug


_TYPES = (
    # every service
    ProblemType("bad-request", 400, "The request cannot be read"),
    ProblemType("invalid-request", 422, "The request is not valid"),
    ProblemType("unauthenticated", 401, "Sign-in or a valid token is required"),
    ProblemType("forbidden", 403, "Not allowed"),
    ProblemType("not-found", 404, "Not found"),
    ProblemType("method-not-allowed", 405, "This method is not allowed here"),
    ProblemType("request-timeout", 408, "The body did not arrive in time"),
    ProblemType("conflict", 409, "The request conflicts with what is stored"),
    ProblemType("payload-too-large", 413, "The body is larger than this service accepts"),
    ProblemType("unsupported-media-type", 415, "This media type is not accepted here"),
    ProblemType("request-header-fields-too-large", 431,
                "The request's headers are larger than this service accepts"),
    ProblemType("too-many-requests", 429, "Too many requests"),
    ProblemType("internal-error", 500, "The request failed on the server"),
    ProblemType("upstream-failed", 502, "A service this request needs did not answer"),
    ProblemType("storage-unavailable", 503, "Storage unavailable"),
    ProblemType("service-unavailable", 503, "The service is not available now"),
    # intake
    ProblemType("malformed-input", 400, "The body is not well-formed"),
    ProblemType("site-not-allowed", 403, "The named site is not allowed on this listener"),
    ProblemType("site-required", 422, "Name the site in the trialwatch-site header"),
    ProblemType("event-too-large", 413,
                "An event from this input is larger than the broker accepts"),
    ProblemType("invalid-clinical-input", 422,
                "The input cannot be normalised into clinical facts"),
    # a record or a refusal of its own (raised as shared.infra.problem_error.Problem): a
    # client branches on these, not on the status
    ProblemType("patient-not-found", 404, "No such patient"),
    ProblemType("trial-not-in-claims", 403, "The token is not scoped to this trial"),
    ProblemType("role-not-allowed", 403, "This role may not do this"),
    ProblemType("receipt-not-found", 404, "No such receipt"),
    ProblemType("source-identity-not-found", 404, "No patient with that source identity"),
    # evaluator: coordinator app and API
    ProblemType("trial-not-found", 404, "No such active trial"),
    ProblemType("patient-not-screened", 404, "The patient has not been screened for this trial"),
    ProblemType("alert-not-found", 404, "No such alert"),
    ProblemType("webhook-not-found", 404, "No such webhook"),
    ProblemType("form-expired", 403, "This form has expired"),
    ProblemType("cross-site-sign-in", 403, "Sign-in from another site refused"),
    ProblemType("unknown-action", 422, "Not an action the app records"),
    ProblemType("reason-required", 422, "A reason is required"),
    ProblemType("patient-deceased", 409, "The patient is recorded as deceased"),
    ProblemType("enrolment-unconfirmed", 409,
                "Enrolling a patient not found eligible needs a confirmation"),
    ProblemType("intake-lookup-failed", 502, "Intake did not answer the look-up"),
    ProblemType("intake-busy", 503, "Intake is busy: the look-up did not finish in time"),
    # evaluator: trial registry
    ProblemType("trial-file-too-large", 413, "The trial file is larger than the registry takes"),
    ProblemType("trial-file-encoding", 400, "The trial file is not UTF-8 text"),
    ProblemType("invalid-trial-file", 422, "The trial file does not validate"),
    ProblemType("registry-refused", 409, "The trial registry refused this change"),
    ProblemType("trial-version-not-found", 404, "No such trial version"),
    # evaluator: CDS Hooks
    ProblemType("cds-jwt-invalid", 401, "A valid CDS Client JWT is required"),
    ProblemType("wrong-hook", 400, "This CDS service answers another hook"),
    ProblemType("unreadable-order", 400, "A selected order cannot be read"),
    # audit
    ProblemType("decision-not-found", 404, "No such decision"),
    ProblemType("snapshot-not-found", 404, "No such snapshot"),
    ProblemType("site-scoped-token", 403, "A site-scoped token may not read this"),
)

PROBLEM_TYPES: Mapping[str, ProblemType] = {t.slug: t for t in _TYPES}

# The type of a problem raised only with an HTTP status (a FastAPI/Starlette HTTPException).
_BY_STATUS: Mapping[int, str] = {
    400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 408: "request-timeout", 409: "conflict",
    413: "payload-too-large", 415: "unsupported-media-type", 422: "invalid-request",
    429: "too-many-requests", 431: "request-header-fields-too-large", 500: "internal-error",
    502: "upstream-failed",
    503: "service-unavailable",
}


def problem_type(slug: str) -> ProblemType:
    """The registered type for ``slug``. Raises ``KeyError`` for a slug not in
    :data:`PROBLEM_TYPES` (every type must be documented in ``docs/problems.md``)."""
    return PROBLEM_TYPES[slug]


def problem_type_for_status(status: int) -> ProblemType:
    """The generic type for an HTTP status: a 4xx without its own type is ``bad-request``,
    a 5xx ``internal-error``."""
    slug = _BY_STATUS.get(status)
    if slug is None:
        slug = "internal-error" if status >= 500 else "bad-request"
    return PROBLEM_TYPES[slug]


def problem_document(kind: ProblemType | str | int, *, detail: str | None = None,
                     instance: str | None = None, status: int | None = None,
                     title: str | None = None,
                     errors: Iterable[Mapping[str, str] | tuple[str, str]] = ()
                     ) -> dict[str, Any]:
    """The RFC 9457 body (a JSON object) for one problem.

    ``kind``: a :class:`ProblemType`, a registered slug, or an HTTP status (its generic type).
    ``status`` defaults to the type's; ``title`` to the type's (a more specific summary may
    replace it). ``errors``: ``{"path", "reason"}`` mappings or ``(path, reason)`` pairs, the
    field path where the problem is (``""`` when it is not about one field). Returns ``type``,
    ``title``, ``status``, ``detail`` (``None`` when not given), ``instance`` (omitted when
    not given) and ``errors`` (always a list, possibly empty). Raises ``KeyError`` for an
    unregistered slug.
    """
    if isinstance(kind, ProblemType):
        found = kind
    elif isinstance(kind, int):
        found = problem_type_for_status(kind)
    else:
        found = problem_type(kind)
    body: dict[str, Any] = {"type": found.uri, "title": title or found.title,
                            "status": status if status is not None else found.status,
                            "detail": detail}
    if instance is not None:
        body["instance"] = instance
    body["errors"] = [
        {"path": str(e["path"]), "reason": str(e["reason"])} if isinstance(e, Mapping)
        else {"path": str(e[0]), "reason": str(e[1])}
        for e in errors
    ]
    return body
