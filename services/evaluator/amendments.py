"""Protocol amendments: activate a trial version and re-screen every known patient against it.

Patients are re-screened in chunks, each in its own short transaction (patient rows locked, as
for an event), so the running consumer keeps flowing; decisions go to the outbox, and the
evaluator's relay publishes them like any other. Decisions name the version they used
(``decision.trial``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator import trial_registry
from services.evaluator.clock import Clock
from services.evaluator.patient_state import all_patient_keys
from services.evaluator.screener import Screener
from services.evaluator.unit_of_work import Screening, Trigger
from shared.eligibility.decision import TrialRef

Progress = Callable[[int, int], None]
CHUNK = 100
_AMENDMENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://trialwatch.org/ns/evaluator/amend")


class UnknownTrialVersion(LookupError):
    pass


async def activate_and_rescreen(
    sessions: async_sessionmaker[AsyncSession],
    screener: Screener,
    trial: TrialRef,
    clock: Clock,
    progress: Progress = lambda done, total: None,
) -> int:
    """Returns how many patients were re-screened."""
    if not screener.has_version(trial):
        raise UnknownTrialVersion(f"the criteria engine has no {trial.id} version {trial.version}")
    activation = clock()
    async with sessions.begin() as session:
        await trial_registry.activate(session, trial, activation)
        keys = await all_patient_keys(session)
    correlation = uuid.uuid5(_AMENDMENT_NAMESPACE, f"{trial.id}|{trial.version}|{activation}")
    progress(0, len(keys))
    done = 0
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        async with sessions.begin() as session:
            screening = Screening(session, screener, clock)
            await screening.load(chunk)
            for key in chunk:
                if screening.survivor_of(key) != key:  # merged away meanwhile: not screened
                    continue
                state = screening.state(key)
                now = clock()
                as_of = max(now, state.last_as_of) if state.last_as_of else now
                screening.screen(state, [trial], Trigger(as_of, correlation), now)
            await screening.flush()
        done += len(chunk)
        progress(done, len(keys))
    return len(keys)
