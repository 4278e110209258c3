"""The one site-visibility rule, shared by every service (pure: no framework, no I/O).

A patient's site is the ``sites`` claim of the lab-system token that submitted its data
(``PatientUpdated.site``). A coordinator token with a ``sites`` claim sees only patients of those
sites; one without sees every patient. deploy/SECURITY.md "Site scope".
"""

from __future__ import annotations

SITE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""A site code as token claims name it (letters, digits, '.', '_', '-'; at most 64)."""

SiteScope = frozenset[str] | None
"""The sites a reader may see: None = every site (no ``sites`` claim, or admin)."""


def site_visible(scope: SiteScope, site: str | None) -> bool:
    """Whether a patient of ``site`` is visible within ``scope``: always when ``scope`` is
    None; otherwise only a patient whose site is in ``scope`` (a patient with no known site is
    visible to unscoped readers only: fail closed)."""
    return scope is None or (site is not None and site in scope)
