"""The evaluator's admin entry points: what ``trialwatch`` (services/cli) may call.

The CLI goes through this module only, never through the evaluator's tables or adapters, so
the evaluator can change its storage without touching the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator.adapters.criteria_engine import default_screener
from services.evaluator.adapters.sql.amendments import (
    UnknownTrialVersion,
    activate_and_rescreen,
    stop_screening,
)
from services.evaluator.adapters.sql.dialects import immediate_sqlite_transactions
from services.evaluator.adapters.sql.refill import requeue_outbox
from services.evaluator.adapters.sql.tables import active_trial, registry_change, trial_version
from services.evaluator.adapters.sql.trial_registry import (
    RegistryRefused,
    active_trial_versions,
    add_version,
    text_by_hash,
)
from shared.infra.clock import utc_now

__all__ = [
    "RegistryOverview",
    "RegistryRefused",
    "UnknownTrialVersion",
    "activate_and_rescreen",
    "active_trial_versions",
    "add_version",
    "default_screener",
    "immediate_sqlite_transactions",
    "registry_overview",
    "requeue_outbox",
    "stop_screening",
    "text_by_hash",
    "utc_now",
]


@dataclass(frozen=True, slots=True)
class RegistryOverview:
    """The registry as ``trialwatch trials list`` shows it: each trial's state row by trial id,
    every stored version (by trial, then when added), and the 20 newest changes."""

    states: dict[str, Row[Any]]
    versions: list[Row[Any]]
    changes: list[Row[Any]]


async def registry_overview(session: AsyncSession) -> RegistryOverview:
    states = {r.trial_id: r for r in await session.execute(select(active_trial))}
    versions = (await session.execute(
        select(trial_version).order_by(trial_version.c.trial_id,
                                       trial_version.c.added_at))).all()
    changes = (await session.execute(
        select(registry_change).order_by(registry_change.c.seq.desc()).limit(20))).all()
    return RegistryOverview(states, list(versions), list(changes))

