"""What an auditor asks the record for: the filter of a record query."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from shared.time import iso_z


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Records of one patient key, trial, trial version and status, decided in
    ``[decided_from, decided_to)``; None matches anything. ``sites``: the asking token's site
    scope (``Principal.site_scope``): only records whose site is one of these (a record
    without a site is left out); None = every record, whatever its site."""

    patient_key: str | None = None
    trial_id: str | None = None
    trial_version: str | None = None
    status: str | None = None
    decided_from: datetime | None = None
    decided_to: datetime | None = None
    sites: frozenset[str] | None = None

    def as_log(self) -> dict[str, Any]:
        """The filter as the access log keeps it (JSON-ready; the site scope as a sorted
        list)."""
        return {k: (iso_z(v) if isinstance(v, datetime)
                    else sorted(v) if isinstance(v, frozenset) else v)
                for k, v in asdict(self).items() if v is not None}
