"""The trial registry: trial versions as data, and which version of each trial is screened.

A trial version is stored once, as the exact text added (a folder file, an upload or
``trialwatch trials add``), with its content hash; (trial, version) can never be re-added with
other text, and a version that was ever active is kept forever (the migration's triggers), so
every decision can be replayed against the text it used. Every change (add, activate,
deactivate, retire) is a row naming who, when and the hash.

Which trials are screened: each trial's row in ``evaluator_active_trial`` (state ``active``);
a trial with no row falls back to the screener's shipped default (the engine's newest file),
so a fresh database screens the shipped trials until the registry says otherwise. The consumer
and the timers read this on every batch, so a change takes effect on a running evaluator with
no restart; a version the screener has not compiled yet is compiled from its stored text then.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator.adapters.sql.dialects import insert_if_absent, upsert
from services.evaluator.adapters.sql.tables import active_trial, registry_change, trial_version
from services.evaluator.core.ports import Screener
from shared.eligibility.decision import TrialRef
from shared.eligibility.loader import TrialFileError
from shared.eligibility.reference_tables import Tables, load_tables
from shared.eligibility.trial import TrialVersion
from shared.eligibility.trial_text import compile_text, content_hash

ACTIVE, INACTIVE, RETIRED = "active", "inactive", "retired"


class RegistryRefused(ValueError):
    """A registry change that is not allowed; the message says why."""


@dataclass(frozen=True, slots=True)
class Change:
    """One registry change as recorded: who did what to which version, when, with which text."""

    change_id: str
    at: datetime
    actor: str
    action: str
    trial: TrialRef
    content_hash: str
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"change_id": self.change_id, "at": self.at, "actor": self.actor,
                "action": self.action, "trial_id": self.trial.id, "version": self.trial.version,
                "content_hash": self.content_hash, "reason": self.reason}


async def add_version(
    session: AsyncSession, text: str, tables: Tables, actor: str, source: str, now: datetime,
) -> tuple[TrialRef, str, bool]:
    """Store a trial version's text. Returns (trial, hash, added); ``added`` is False when the
    identical text was already stored. Raises ``TrialFileError`` for a file with problems and
    ``RegistryRefused`` when (trial, version) is stored with other text."""
    digest = content_hash(text)
    known = (await session.execute(
        select(trial_version.c.trial_id, trial_version.c.version)
        .where(trial_version.c.content_hash == digest))).first()
    if known is not None:
        return TrialRef(id=known.trial_id, version=known.version), digest, False
    compiled = compile_text(text, tables)
    trial = TrialRef(id=compiled.id, version=compiled.version)
    stored = await _stored_hash(session, trial)
    if stored is None:
        # Another process (the evaluator's folder sync, the CLI) may be adding the same version
        # right now: insert-if-absent waits for it instead of failing on the duplicate key.
        added = await insert_if_absent(session, trial_version, {
            "trial_id": trial.id, "version": trial.version, "content_hash": digest,
            "text": text, "source": source[:200], "added_by": actor[:128], "added_at": now,
            "ever_active": False})
        if added:
            await record(session, Change(str(uuid.uuid4()), now, actor, "add", trial, digest))
            return trial, digest, True
        stored = await _stored_hash(session, trial)
    if stored == digest:
        return trial, digest, False
    raise RegistryRefused(
        f"{trial.id} version {trial.version} is already stored with other text ({stored}); "
        "a changed file needs a new version id")


async def _stored_hash(session: AsyncSession, trial: TrialRef) -> str | None:
    return (await session.execute(
        select(trial_version.c.content_hash)
        .where(trial_version.c.trial_id == trial.id, trial_version.c.version == trial.version)
    )).scalar_one_or_none()


async def record(session: AsyncSession, change: Change, rescreen_total: int | None = None) -> None:
    values = change.as_dict() | {"actor": change.actor[:128]}
    if rescreen_total is not None:
        values |= {"rescreen_total": rescreen_total, "rescreen_done": 0}
    await session.execute(registry_change.insert().values(**values))


async def stored_text(session: AsyncSession, trial: TrialRef) -> tuple[str, str] | None:
    """(text, content hash) of a stored version, or None."""
    row = (await session.execute(
        select(trial_version.c.text, trial_version.c.content_hash)
        .where(trial_version.c.trial_id == trial.id, trial_version.c.version == trial.version)
    )).first()
    return (row.text, row.content_hash) if row else None


async def set_state(
    session: AsyncSession, trial: TrialRef, state: str, change: Change,
) -> str | None:
    """Make ``trial`` the trial's version in ``state``; returns the state it replaced."""
    previous = (await session.execute(
        select(active_trial.c.state).where(active_trial.c.trial_id == trial.id)
    )).scalar_one_or_none()
    if previous == RETIRED:
        raise RegistryRefused(f"{trial.id} was retired; a retired trial is never screened again")
    await upsert(
        session, active_trial,
        {"trial_id": trial.id, "version": trial.version, "activated_at": change.at,
         "state": state, "content_hash": change.content_hash, "change_id": change.change_id},
        keys=("trial_id",),
    )
    if state == ACTIVE:
        await session.execute(
            update(trial_version)
            .where(trial_version.c.trial_id == trial.id, trial_version.c.version == trial.version)
            .values(ever_active=True))
    return previous


async def activate(session: AsyncSession, trial: TrialRef, now: datetime,
                   actor: str = "system", content_hash_: str | None = None) -> Change:
    """Record the activation of a version (the re-screen is ``amendments``'s job)."""
    digest = content_hash_ or (await _hash_of(session, trial))
    change = Change(str(uuid.uuid4()), now, actor, "activate", trial, digest)
    await set_state(session, trial, ACTIVE, change)
    await record(session, change)
    return change


async def activate_first(session: AsyncSession, trial: TrialRef, now: datetime, actor: str,
                         content_hash_: str | None = None) -> Change | None:
    """Record the activation of ``trial`` only if the registry has never recorded a state for
    its trial (the folder sync's rule: it never reverses a recorded decision). The state row is
    inserted if absent, in the caller's transaction: on PostgreSQL a concurrent transaction
    recording the trial's state first (an admin's activation of another version) makes this
    wait for it and then record nothing. Returns the change, or None when a state was recorded
    first: that decision stands."""
    digest = content_hash_ or (await _hash_of(session, trial))
    change = Change(str(uuid.uuid4()), now, actor, "activate", trial, digest)
    taken = await insert_if_absent(session, active_trial, {
        "trial_id": trial.id, "version": trial.version, "activated_at": change.at,
        "state": ACTIVE, "content_hash": change.content_hash, "change_id": change.change_id})
    if not taken:
        return None
    await session.execute(
        update(trial_version)
        .where(trial_version.c.trial_id == trial.id, trial_version.c.version == trial.version)
        .values(ever_active=True))
    await record(session, change)
    return change


async def _hash_of(session: AsyncSession, trial: TrialRef) -> str:
    stored = await stored_text(session, trial)
    return stored[1] if stored else "shipped:" + trial.version


async def active_trials(session: AsyncSession, screener: Screener) -> tuple[TrialRef, ...]:
    """The trial versions to screen now: the registry's active ones, and each shipped trial the
    registry has no row for. A stored version the screener has not compiled is compiled here."""
    rows = (await session.execute(select(active_trial))).all()
    registered = {r.trial_id for r in rows}
    chosen = {t.id: t for t in screener.active_trials() if t.id not in registered}
    for row in rows:
        if row.state != ACTIVE:
            continue
        trial = TrialRef(id=row.trial_id, version=row.version)
        if row.content_hash and screener.content_hash(trial) != row.content_hash:
            stored = await stored_text(session, trial)
            if stored is not None:
                screener.load_text(stored[0])
        chosen[trial.id] = trial
    return tuple(sorted(chosen.values(), key=lambda t: t.id))


async def trial_states(session: AsyncSession) -> dict[str, tuple[str, str]]:
    """Trial id -> (version, state) for every trial the registry has a row for."""
    return {r.trial_id: (r.version, r.state) for r in await session.execute(select(active_trial))}


async def text_by_hash(session: AsyncSession, trial: TrialRef, digest: str) -> str | None:
    """The stored text of ``trial`` if it is the text with ``digest`` (for ``audit replay``)."""
    stored = await stored_text(session, trial)
    return stored[0] if stored is not None and stored[1] == digest else None


async def active_trial_versions(session: AsyncSession, screener: Screener) -> list[TrialVersion]:
    """Every trial version screened now, compiled, by trial id: the registry's active versions
    (uploads through ``POST /trials`` and ``trialwatch trials add`` included, read from their
    stored text) and the shipped default of each trial the registry has no row for (the same
    choice the consumer makes, ``trial_registry.active_trials``). Raises ``TrialFileError`` when
    an active version has neither stored nor shipped text."""
    tables = getattr(screener, "tables", None)
    if not isinstance(tables, Tables):
        tables = load_tables()
    versions: list[TrialVersion] = []
    for trial in await active_trials(session, screener):
        stored = await stored_text(session, trial)
        text = stored[0] if stored is not None else screener.text_of(trial)
        if text is None:
            raise TrialFileError(f"{trial.id} version {trial.version} is active but its text "
                                 "is neither stored in the registry nor shipped")
        versions.append(compile_text(text, tables))
    return versions
