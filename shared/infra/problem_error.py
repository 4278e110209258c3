"""``Problem``: an HTTP error of a registered RFC 9457 problem type, raised by a route.

A plain ``HTTPException`` gets the generic type of its status (``not-found``, ``conflict``);
a ``Problem`` carries its own ``slug`` (``alert-not-found``, ``registry-refused``), listed in
:data:`shared.problems.PROBLEM_TYPES` and documented in ``docs/problems.md``, and its status is
the type's. The services' handlers (``shared.infra.http.install_http_problems``, intake's
``install_problem_handlers``) answer it with that type and title.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import HTTPException

from shared.problems import ProblemType, problem_type


class Problem(HTTPException):
    """An HTTP error of the registered problem type ``slug`` (its status and title), with
    ``detail`` for this occurrence (a list: each becomes one of ``errors``; never the client's
    input: it can hold PHI or markup) and response ``headers``. Raises ``KeyError`` for an
    unregistered slug."""

    def __init__(self, slug: str, detail: str | list[str],
                 headers: Mapping[str, str] | None = None) -> None:
        kind = problem_type(slug)
        super().__init__(kind.status, detail, headers=dict(headers) if headers else None)
        self.slug = slug

    @property
    def kind(self) -> ProblemType:
        """The registered type."""
        return problem_type(self.slug)


def problem_slug(error: Exception) -> str | None:
    """The registered slug of ``error`` when it is a :class:`Problem`, else None."""
    return error.slug if isinstance(error, Problem) else None
