"""Deterministic fact ids: the same source record, re-sent in any version, keeps its id."""

from __future__ import annotations

import hashlib


def fact_id(source_system: str, resource: str, part: str = "") -> str:
    """Hash of where the fact came from; ``part`` separates several facts of one record."""
    key = "\x1f".join((source_system, resource, part))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
