"""Registry changes that touch patients: activate a version (re-screen every known patient, as
a resumable job), deactivate or retire a trial (stop screening, close open alerts).

Re-screening runs in chunks, each in its own short transaction (patient rows locked, as for an
event), so the running consumer keeps flowing; decisions go to the outbox and the evaluator's
relay publishes them. The job's progress (patients done, last key) is committed with each
chunk in the registry change row, under a lease: whoever runs it (the CLI with its progress
bar, or the evaluator's registry loop after a crash) continues from the last committed chunk.
Decisions made by the job name the change that caused them (``DecisionMade.registry_change``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import structlog
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.adapters.outbox import OutboxMessage, message_of, messages_of, stage
from services.evaluator.adapters.sql import trial_registry
from services.evaluator.adapters.sql.dialects import insert_ignoring_duplicates
from services.evaluator.adapters.sql.reference_tables import store_screener_tables
from services.evaluator.adapters.sql.stores import (
    SqlPatientRepository,
    SqlUnitOfWork,
    alert_row,
    screening_context,
    stage_deliveries,
    webhooks_by_trial,
)
from services.evaluator.adapters.sql.tables import (
    active_trial as active_trial_table,
)
from services.evaluator.adapters.sql.tables import (
    alert as alert_table,
)
from services.evaluator.adapters.sql.tables import (
    patient_state,
    registry_change,
    review_timer,
    trial_status,
    trial_version,
)
from services.evaluator.adapters.sql.trial_registry import Change, RegistryRefused
from services.evaluator.core.clock import Clock
from services.evaluator.core.ports import CurrentStatus, Screener
from services.evaluator.core.registry_changes import closing_alert, rescreen_patients
from shared.contracts.events import RegistryChangeRef, TrialScreening
from shared.contracts.topics import TRIAL_SCREENING
from shared.eligibility.decision import Status, TrialRef
from shared.eligibility.loader import TrialFileError, list_trials
from shared.eligibility.reads import NOTHING, ReadCodes, trial_read_codes
from shared.eligibility.reference_tables import Tables, load_tables
from shared.eligibility.trial_text import compile_text, content_hash

log = structlog.get_logger(__name__)
Progress = Callable[[int, int], None]
Send = Callable[[Sequence[OutboxMessage]], Awaitable[int]]
"""Publishes rows this process just committed and marks them published (the evaluator's
``EvaluatorOutbox.send``, writer-first). Without one (the CLI: no broker), the staged rows wait
for the running evaluator's relay loop, which takes them after its grace."""
CHUNK = 100
LEASE = timedelta(seconds=30)


class UnknownTrialVersion(LookupError):
    pass


class DecisionAlreadyRecorded(LookupError):
    """A folder activation skipped: the registry recorded a state for the trial first (an
    admin's or the CLI's decision, or another process's activation), and that stands."""


def change_ref(change: Change) -> RegistryChangeRef:
    return RegistryChangeRef(change_id=uuid.UUID(change.change_id), action=change.action,
                             actor=change.actor, at=change.at, trial=change.trial,
                             content_hash=change.content_hash, reason=change.reason)


SCREENING_IDS = uuid.UUID("5d0c6f0e-8a8e-4f7b-9a51-3c2f0e7a9b14")
"""Namespace of ``TrialScreening.event_id``: uuid5 of the registry change's id."""


def screening_message(change: Change, state: str, reads: ReadCodes = NOTHING) -> OutboxMessage:
    """The ``trials.screening.v1`` row of a registry change that set ``trial``'s ``state``
    (``trial_registry.ACTIVE``, ``INACTIVE``, ``RETIRED``): the version, the change, and, when
    active, the codes the version's criteria read. Deterministic from the change: staged twice
    (the change, then the evaluator's start) it is one outbox row and one record."""
    event = TrialScreening(
        event_id=uuid.uuid5(SCREENING_IDS, change.change_id), trial_id=change.trial.id,
        version=change.trial.version, state=state,
        content_hash=change.content_hash, change_id=uuid.UUID(change.change_id), at=change.at,
        codes=list(reads.keys) if state == trial_registry.ACTIVE else [],
        prefixes=[f"{system}|{prefix}" for system, prefix in reads.prefixes]
        if state == trial_registry.ACTIVE else [])
    return OutboxMessage(message_id=str(event.event_id), topic=TRIAL_SCREENING,
                         key=change.trial.id, payload=event.model_dump(mode="json"))


def _reads_of(text: str, screener: Screener) -> ReadCodes:
    return trial_read_codes(compile_text(text, screener_tables(screener)))


async def stage_screening_states(
    sessions: async_sessionmaker[AsyncSession], screener: Screener, clock: Clock,
    send: Send | None = None,
) -> int:
    """Stage (and ``send``) the ``trials.screening.v1`` record of every trial's current registry
    state, as at its last change: the evaluator's start, so intake learns the state of trials
    changed before this topic existed or while its record was lost. A record already staged for
    the same change is not staged again (its id is the change's). Returns how many it staged
    or found staged. A trial whose active text cannot be compiled is logged and skipped."""
    messages: list[OutboxMessage] = []
    async with sessions.begin() as session:
        rows = (await session.execute(select(
            active_trial_table.c.trial_id, active_trial_table.c.version,
            active_trial_table.c.state, active_trial_table.c.content_hash,
            active_trial_table.c.change_id, active_trial_table.c.activated_at))).all()
        for row in rows:
            trial = TrialRef(id=row.trial_id, version=row.version)
            reads = NOTHING
            if row.state == trial_registry.ACTIVE:
                stored = await trial_registry.stored_text(session, trial)
                text = stored[0] if stored is not None else screener.text_of(trial)
                if text is None:
                    log.warning("active trial version without text", trial=trial.id,
                                version=trial.version)
                    continue
                try:
                    reads = _reads_of(text, screener)
                except TrialFileError as error:
                    log.warning("active trial version does not compile", trial=trial.id,
                                error=str(error)[:500])
                    continue
            change_id = row.change_id or str(uuid.uuid5(
                SCREENING_IDS, f"{trial.id}/{trial.version}/{row.state}/{row.content_hash}"))
            change = Change(change_id, row.activated_at, "registry", row.state, trial,
                            row.content_hash or "shipped:" + trial.version)
            messages.append(screening_message(change, row.state, reads))
        await stage(session, messages, clock())
    if send is not None and messages:
        await send_committed(send, messages)
    return len(messages)


async def activate_and_rescreen(
    sessions: async_sessionmaker[AsyncSession],
    screener: Screener,
    trial: TrialRef,
    clock: Clock,
    progress: Progress = lambda done, total: None,
    actor: str = "system",
    send: Send | None = None,
    only_if_undecided: bool = False,
) -> int:
    """Activate ``trial`` and re-screen every known patient; returns how many were re-screened.
    The version must be in the registry or the screener's folder. ``send``: publish each
    chunk's decisions right after its commit (``run_rescreen``). ``only_if_undecided`` (the
    folder sync): activate only if the registry has never recorded a state for the trial,
    checked in the activation's own transaction (``trial_registry.activate_first``); raises
    ``DecisionAlreadyRecorded`` otherwise, changing nothing."""
    async with sessions.begin() as session:
        # the tables its decisions name, stored before they are written (audit replay)
        await store_screener_tables(session, screener, clock())
        stored = await trial_registry.stored_text(session, trial)
        folder_text = screener.text_of(trial)
        if stored is None and folder_text is not None:
            await trial_registry.add_version(session, folder_text, screener_tables(screener),
                                             actor, f"folder:{trial.id}/{trial.version}.yaml",
                                             clock())
            stored = await trial_registry.stored_text(session, trial)
        if stored is not None and screener.content_hash(trial) != stored[1]:
            screener.load_text(stored[0])
        if not screener.has_version(trial):
            raise UnknownTrialVersion(
                f"the criteria engine has no {trial.id} version {trial.version}")
        digest = stored[1] if stored else (screener.content_hash(trial) or "unknown")
        if only_if_undecided:
            first = await trial_registry.activate_first(session, trial, clock(), actor, digest)
            if first is None:
                raise DecisionAlreadyRecorded(
                    f"{trial.id}: the registry records a decision for this trial; the folder's "
                    f"version {trial.version} is not activated over it")
            change = first
        else:
            change = await trial_registry.activate(session, trial, clock(), actor, digest)
        # intake's screened codes follow the registry (trials.screening.v1), in this commit
        text = stored[0] if stored is not None else folder_text
        screening = None if text is None else screening_message(
            change, trial_registry.ACTIVE, _reads_of(text, screener))
        if screening is not None:
            await stage(session, [screening], change.at)
        total = await SqlPatientRepository(session).count_after(None)
        # leased from its first commit: before, the job sat unleased until the first chunk,
        # and a running evaluator's registry loop (resume_unfinished) took it meanwhile
        lease = clock() + LEASE
        await session.execute(update(registry_change)
                              .where(registry_change.c.change_id == change.change_id)
                              .values(rescreen_total=total, rescreen_done=0,
                                      rescreen_lease_until=lease))
    if send is not None and screening is not None:
        await send_committed(send, [screening])
    progress(0, total)
    return await run_rescreen(sessions, screener, change.change_id, clock, progress, send=send,
                              lease=lease)


async def run_rescreen(
    sessions: async_sessionmaker[AsyncSession],
    screener: Screener,
    change_id: str,
    clock: Clock,
    progress: Progress = lambda done, total: None,
    yield_to_lease: bool = False,
    send: Send | None = None,
    lease: datetime | None = None,
) -> int:
    """Run (or continue) the re-screen of an activation until done; returns patients done.
    ``yield_to_lease``: stop when another runner holds the job (the background loop does).
    ``send``: each chunk's staged decisions are published right after the chunk commits, like
    any writer's rows (before, nobody sent them: they waited for the relay loop's grace and
    its topic scan, ~5-7 s). A send that fails leaves them pending for the relay loop; the
    re-screen goes on. ``lease``: the lease this runner already holds (its activation's).
    The trial version's text is taken from the registry when ``screener`` does not hold it
    (a job resumed by an evaluator whose folder lacks a version added through the CLI)."""
    mine: datetime | None = lease
    async with sessions.begin() as session:  # the tables its decisions name (audit replay)
        await store_screener_tables(session, screener, clock())
    while True:
        async with sessions.begin() as session:
            job = (await session.execute(
                select(registry_change).where(registry_change.c.change_id == change_id)
            )).one()
            now = clock()
            if job.completed_at is not None:
                return int(job.rescreen_done or 0)
            lease = job.rescreen_lease_until
            if yield_to_lease and lease is not None and lease > now and lease != mine:
                return int(job.rescreen_done or 0)  # another runner holds it
            change = Change(job.change_id, job.at, job.actor, job.action,
                            TrialRef(id=job.trial_id, version=job.version), job.content_hash,
                            job.reason)
            if job.content_hash and screener.content_hash(change.trial) != job.content_hash:
                stored = await trial_registry.stored_text(session, change.trial)
                if stored is not None:
                    screener.load_text(stored[0])
            uow = SqlUnitOfWork(sessions, screener, clock).bind(session)
            chunk = await uow.patients.keys_after(job.rescreen_after_key, CHUNK)
            rest = await uow.patients.count_after(chunk[-1]) if chunk else 0
            done = int(job.rescreen_done or 0) + len(chunk)
            total = max(int(job.rescreen_total or 0), done + rest)
            staged = await rescreen_patients(uow, screening_context(screener, clock), chunk,
                                             change_ref(change))
            await session.execute(update(registry_change)
                                  .where(registry_change.c.change_id == change_id)
                                  .values(rescreen_done=done, rescreen_total=total,
                                          rescreen_after_key=chunk[-1] if chunk else
                                          job.rescreen_after_key,
                                          rescreen_lease_until=now + LEASE,
                                          completed_at=None if rest else now))
        mine = now + LEASE
        if send is not None and staged:
            await send_committed(send, messages_of(staged))
        progress(done, total)
        if not rest:
            return done


async def send_committed(send: Send, messages: Sequence[OutboxMessage]) -> None:
    """``send`` rows just committed; a failure (broker away) is logged, not raised: the rows
    stay pending and the relay loop publishes them after its grace."""
    try:
        await send(messages)
    except Exception as error:  # broker away: the rows stay pending, the relay loop sends them
        log.warning("committed rows left to the outbox relay", rows=len(messages),
                    error=type(error).__name__)


async def resume_unfinished(
    sessions: async_sessionmaker[AsyncSession], screener: Screener, clock: Clock,
    send: Send | None = None,
) -> int:
    """The evaluator's registry loop: finish any activation re-screen whose runner stopped
    (its lease expired), publishing through ``send``. Returns how many jobs it ran."""
    async with sessions() as session:
        pending = (await session.execute(
            select(registry_change.c.change_id, registry_change.c.rescreen_lease_until)
            .where(registry_change.c.action == "activate",
                   registry_change.c.completed_at.is_(None),
                   registry_change.c.rescreen_total.is_not(None))
            .order_by(registry_change.c.seq))).all()
    ran = 0
    for job in pending:
        if job.rescreen_lease_until is not None and job.rescreen_lease_until > clock():
            continue
        await run_rescreen(sessions, screener, job.change_id, clock, yield_to_lease=True,
                           send=send)
        ran += 1
    return ran


async def stop_screening(
    sessions: async_sessionmaker[AsyncSession],
    trial_id: str,
    action: str,
    reason: str,
    actor: str,
    clock: Clock,
    zone: tzinfo = UTC,
) -> tuple[Change, list[OutboxMessage]]:
    """Deactivate (may be activated again) or retire (never again) a trial: screening stops on
    the next batch; every patient currently eligible gets a ``closed`` alert with the reason
    (its moment written in ``zone``, the site's), stored for the coordinator app, staged for
    publishing and for every webhook registered for the trial (as screening's alerts); the
    trial's statuses and review timers are removed. Returns the change and its alerts."""
    if action not in ("deactivate", "retire"):
        raise ValueError(action)
    now = clock()
    async with sessions.begin() as session:
        states = await trial_registry.trial_states(session)
        current = states.get(trial_id)
        if current is None:
            raise RegistryRefused(f"{trial_id} has no registry entry to {action}")
        version, _ = current
        trial = TrialRef(id=trial_id, version=version)
        stored = await trial_registry.stored_text(session, trial)
        change = Change(str(uuid.uuid4()), now, actor, action, trial,
                        stored[1] if stored else "shipped:" + version, reason)
        await trial_registry.set_state(
            session, trial,
            trial_registry.RETIRED if action == "retire" else trial_registry.INACTIVE, change)
        await trial_registry.record(session, change)
        eligible = (await session.execute(
            select(trial_status, patient_state.c.site)
            .outerjoin(patient_state, patient_state.c.patient_key == trial_status.c.patient_key)
            .where(trial_status.c.trial_id == trial_id,
                   # held by intake: the coordinator was last told what it was before
                   or_(trial_status.c.status == Status.ELIGIBLE.value,
                       trial_status.c.held_from == Status.ELIGIBLE.value)))).all()
        alerts = [closing_alert(str(row.patient_key), CurrentStatus(
            Status.ELIGIBLE, str(row.decision_id), str(row.trial_version), None),
            change_ref(change), row.site, zone) for row in eligible]
        messages = [message_of(a) for a in alerts]
        # intake's screened codes follow the registry (trials.screening.v1), in this commit
        await stage(session, [screening_message(change, _stopped_state(action))], now)
        # where the coordinator app reads alerts, as a screening's alerts are (stores.stage),
        # and to every webhook of the trial, delivered like any other alert
        await insert_ignoring_duplicates(session, alert_table, [alert_row(a) for a in alerts])
        await stage_deliveries(session, alerts, await webhooks_by_trial(session, trial_id))
        await stage(session, messages, now)
        await session.execute(delete(trial_status).where(trial_status.c.trial_id == trial_id))
        await session.execute(delete(review_timer).where(review_timer.c.trial_id == trial_id))
    return change, messages


def _stopped_state(action: str) -> str:
    return trial_registry.RETIRED if action == "retire" else trial_registry.INACTIVE


def stopped_screening_message(change: Change) -> OutboxMessage:
    """The ``trials.screening.v1`` row ``stop_screening`` staged for ``change`` (to send it)."""
    return screening_message(change, _stopped_state(change.action))


FolderFingerprint = tuple[tuple[str, int, int, int], ...]


def folder_fingerprint(folder: Path) -> FolderFingerprint:
    """What the trial files of ``folder`` are now, from their metadata only: each
    ``<TRIAL_ID>/<version>.yaml`` file's relative path, inode, size and modification time (ns),
    sorted. A file added, removed, rewritten or replaced changes it; reading it costs one
    ``stat`` per file (no file is read, no database is asked). A folder that cannot be listed
    gives ``()``."""
    try:
        files = sorted(folder.glob("*/*.yaml"))
    except OSError:
        return ()
    seen: list[tuple[str, int, int, int]] = []
    for file in files:
        try:
            stat = file.stat()
        except OSError:  # removed between the listing and the stat: the next poll sees it
            continue
        seen.append((file.relative_to(folder).as_posix(), stat.st_ino, stat.st_size,
                     stat.st_mtime_ns))
    return tuple(seen)


class FolderSync:
    """The registry loop's view of the trial folder: ``sync_folder`` runs on the first poll
    and then only when ``folder_fingerprint`` changed since the last sync that finished, so
    an unchanged folder costs a ``stat`` per file per poll: no file read, no hash, no
    database read, no activation, no re-screen. (The first sync activates the trials the
    registry never had a state for; states are never deleted, so with the same files a later
    sync finds nothing to do. A file refused by the registry is logged once per change of the
    folder, not every poll.)"""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._synced: FolderFingerprint | None = None

    async def poll(
        self, sessions: async_sessionmaker[AsyncSession], screener: Screener, clock: Clock,
        send: Send | None = None,
    ) -> int | None:
        """``sync_folder`` if the folder changed (its count of changes), else None. The
        fingerprint is taken before the sync: a file changed during it is seen next poll. A
        sync that raised (database away) is tried again next poll."""
        now = folder_fingerprint(self.folder)
        if now == self._synced:
            return None
        made = await sync_folder(sessions, screener, self.folder, clock, send)
        self._synced = now
        return made


async def sync_folder(
    sessions: async_sessionmaker[AsyncSession], screener: Screener, folder: Path, clock: Clock,
    send: Send | None = None,
) -> int:
    """Add every trial file of ``folder`` the registry does not hold yet (actor ``folder``),
    and activate, with a re-screen, the newest version of each trial the registry has never
    had a state for (its decisions published through ``send``). A file whose (trial, version)
    is stored with other text is refused (logged): a changed file needs a new version id.
    Returns how many changes it made.

    The folder never reverses a recorded decision: a trial with a recorded state (active in
    another version, deactivated, retired) is left as it is, and the check is made again in
    each activation's own transaction, so a decision recorded while the sync runs (its
    re-screens can take minutes) stands too."""
    made = 0
    async with sessions() as session:  # a read: the steady state takes no write lock
        stored = {(r.trial_id, r.version): r.content_hash for r in await session.execute(
            select(trial_version.c.trial_id, trial_version.c.version,
                   trial_version.c.content_hash))}
        states = await trial_registry.trial_states(session)
    for trial_id, versions in list_trials(folder).items():
        for version in versions:
            path = folder / trial_id / f"{version}.yaml"
            text = path.read_text(encoding="utf-8")
            if stored.get((trial_id, version)) == content_hash(text):
                continue
            try:
                async with sessions.begin() as session:
                    _, _, added = await trial_registry.add_version(
                        session, text, screener_tables(screener), "folder",
                        f"folder:{trial_id}/{version}.yaml", clock())
                made += added
            except (RegistryRefused, TrialFileError) as error:
                log.warning("trial file not added to the registry", file=f"{trial_id}/{path.name}",
                            error=str(error)[:500])
        if trial_id not in states:
            newest = TrialRef(id=trial_id, version=versions[-1])
            try:
                await activate_and_rescreen(sessions, screener, newest, clock, actor="folder",
                                            send=send, only_if_undecided=True)
                made += 1
            except DecisionAlreadyRecorded as kept:
                log.info("folder version not activated", trial=trial_id, reason=str(kept))
            except UnknownTrialVersion as error:
                log.warning("trial file not activated", trial=trial_id, error=str(error))
    return made


def screener_tables(screener: Screener) -> Tables:
    tables = getattr(screener, "tables", None)
    return tables if isinstance(tables, Tables) else load_tables()
