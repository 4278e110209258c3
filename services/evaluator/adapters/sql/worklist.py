"""The coordinator's worklist: patients undetermined for a trial and exactly what is missing.

What most likely leads to a decision first (``core.coordination.RANKING``): fewest criteria
still unknown (none fails, or the patient would be ineligible); among equals, the patient whose
newest record is the most recent (in care now: what is missing can be sent at the next visit; a
Synthea history whose newest record is five years old is least likely to be decided soon); then
fewest items to send. Each patient has one de-duplicated "what to send next" list (``needs``),
each item with the criteria it unblocks.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator.adapters.sql.tables import patient_fact, patient_state, trial_status
from services.evaluator.core.coordination import WorklistEntry, rank
from shared.eligibility.decision import Decision, Status
from shared.eligibility.readable import Need, needs
from shared.sites import SiteScope
from shared.time import as_utc


async def worklist(session: AsyncSession, trial_id: str, limit: int = 100,
                   sites: SiteScope = None) -> list[WorklistEntry]:
    """``sites``: only patients whose site (``evaluator_patient_state.site``) is one of these;
    None: every patient (deploy/SECURITY.md "Site scope")."""
    query = (
        select(trial_status)
        .where(trial_status.c.trial_id == trial_id,
               trial_status.c.status == Status.UNDETERMINED.value)
        .order_by(trial_status.c.unknown_criteria, trial_status.c.patient_key)
    )
    if sites is not None:
        query = query.join(patient_state,
                           patient_state.c.patient_key == trial_status.c.patient_key).where(
            patient_state.c.site.in_(sorted(sites)))
    rows = await session.execute(query)
    entries = []
    for r in rows:
        decision = Decision.model_validate(r.decision) if r.decision is not None else None
        wanted = (needs(decision) if decision is not None
                  else tuple(Need(item=m, unblocks=()) for m in r.missing))
        cited = ({e.fact_id for c in decision.criteria for e in c.evidence if e.fact_id}
                 if decision is not None else set())
        entries.append(WorklistEntry(
            r.patient_key, r.trial_id, r.trial_version, r.unknown_criteria,
            [n.item for n in wanted], r.decision_id, as_utc(r.as_of), wanted, len(cited)))
    # every listed patient's records kept, cited or not: their count, when the newest record
    # arrived (the page's "Last received") and the clinical time of the newest
    # (``coordination.rank``; and, for a patient the decision cites nothing for,
    # the page says its records are not what the criteria read or too old instead of "no data")
    keys = [e.patient_key for e in entries]
    kept: dict[str, tuple[int, datetime | None, datetime | None]] = {}
    for start in range(0, len(keys), 500):  # bounded IN lists
        for row in await session.execute(
                select(patient_fact.c.patient_key, func.count().label("records"),
                       func.max(patient_fact.c.effective_start).label("newest"),
                       func.max(patient_fact.c.received_at).label("arrived"))
                .where(patient_fact.c.patient_key.in_(keys[start:start + 500]))
                .group_by(patient_fact.c.patient_key)):
            kept[row.patient_key] = (row.records, as_utc(row.newest) if row.newest else None,
                                     as_utc(row.arrived) if row.arrived else None)
    entries = [replace(e, on_file=kept[e.patient_key][0], newest_on_file=kept[e.patient_key][1],
                       last_received=kept[e.patient_key][2])
               if e.patient_key in kept else e for e in entries]
    entries.sort(key=rank)
    return entries[:limit]

