"""``trialwatch trials``: the trial registry from the command line.

validate FILE      every problem of a trial file, with line:column, criterion and what is expected
add FILE           store a trial version (its text and content hash) in the registry
list               stored versions, the active one of each trial, and the registry changes
activate           make a version active and re-screen every known patient (progress bar;
                   resumable: run it again, or let the evaluator finish it)
deactivate/retire  stop screening a trial; open alerts are closed with the reason

The running evaluator picks every change up on its next batch (no restart) and publishes the
resulting decisions and alerts from its outbox; this command needs the evaluator's database,
not the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from zoneinfo import ZoneInfo

from services.cli.trials_args import register as register
from services.evaluator import admin
from services.evaluator.admin import (
    RegistryRefused,
    UnknownTrialVersion,
    activate_and_rescreen,
    default_screener,
    immediate_sqlite_transactions,
    stop_screening,
    utc_now,
)
from shared.contracts.envelope import REASON_MAX_LENGTH
from shared.eligibility.decision import TrialRef
from shared.eligibility.loader import TrialFileError
from shared.eligibility.readable import human_time
from shared.eligibility.reference_tables import load_tables
from shared.eligibility.trial_text import validate_text
from shared.infra.sql_engine import existing_database, make_engine, make_sessionmaker
from shared.settings import EvaluatorSettings
from shared.text_safety import character_problem

BAR_WIDTH = 40
OK, PROBLEMS, REFUSED = 0, 1, 2
STOP_REASON_MAX = REASON_MAX_LENGTH


def _database_url(args: argparse.Namespace) -> str:
    return existing_database(str(args.database_url or EvaluatorSettings().database_url),
                             "EVALUATOR_DATABASE_URL or --database-url")


def _actor(args: argparse.Namespace) -> str:
    return str(args.actor or f"cli:{getpass.getuser()}")


def _validate(args: argparse.Namespace) -> int:
    problems = validate_text(args.file.read_text(encoding="utf-8"), load_tables())
    for problem in problems:
        print(f"{args.file}:{problem}")
    if not problems:
        print(f"{args.file}: valid")
    return PROBLEMS if problems else OK



def _add(args: argparse.Namespace) -> int:
    text = args.file.read_text(encoding="utf-8")

    async def add() -> tuple[TrialRef, str, bool]:
        engine = make_engine(_database_url(args))
        immediate_sqlite_transactions(engine)
        try:
            async with make_sessionmaker(engine).begin() as session:
                return await admin.add_version(
                    session, text, load_tables(), _actor(args), f"cli:{args.file.name}", utc_now())
        finally:
            await engine.dispose()

    try:
        trial, digest, added = asyncio.run(add())
    except TrialFileError as error:
        print(f"trialwatch trials add: {error}", file=sys.stderr)
        return PROBLEMS
    except RegistryRefused as error:
        print(f"trialwatch trials add: {error}", file=sys.stderr)
        return REFUSED
    print(f"{trial.id} version {trial.version} {'added' if added else 'already stored'} "
          f"({digest}); activate it with: trialwatch trials activate --trial {trial.id} "
          f"--version {trial.version}")
    return OK


def _list(args: argparse.Namespace) -> int:
    return asyncio.run(_list_async(_database_url(args)))


async def _list_async(url: str) -> int:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            overview = await admin.registry_overview(session)
    finally:
        await engine.dispose()
    states, versions, changes = overview.states, overview.versions, overview.changes
    zone = ZoneInfo(EvaluatorSettings().site_timezone)  # moments as the coordinator app writes
    print(f"{'TRIAL':<16} {'VERSION':<16} {'STATE':<10} {'HASH':<20} ADDED BY")
    stored = {(r.trial_id, r.version) for r in versions}
    folder = default_screener(EvaluatorSettings().trials_dir)
    for trial in sorted(folder.folder_texts, key=lambda t: (t.id, t.version)):
        if (trial.id, trial.version) not in stored:
            print(f"{trial.id:<16} {trial.version:<16} {'in folder':<10} "
                  f"{(folder.content_hash(trial) or '')[7:23]:<20} (added when first activated)")
    for row in versions:
        state = states.get(row.trial_id)
        here = state is not None and state.version == row.version
        label = state.state if here and state is not None else (
            "was active" if row.ever_active else "stored")
        print(f"{row.trial_id:<16} {row.version:<16} {label:<10} {row.content_hash[7:23]:<20} "
              f"{row.added_by} {human_time(row.added_at, zone)}")
    print("\nRECENT CHANGES")
    for c in changes:
        job = ""
        if c.rescreen_total is not None:
            job = f" re-screened {c.rescreen_done}/{c.rescreen_total}" + (
                "" if c.completed_at else " (in progress)")
        reason = f" reason: {c.reason}" if c.reason else ""
        print(f"{human_time(c.at, zone)}  {c.actor} {c.action} {c.trial_id} {c.version} "
              f"{c.content_hash[:23]}{job}{reason}")
    return OK


def _activate(args: argparse.Namespace) -> int:
    trial = TrialRef(id=args.trial, version=args.version)
    try:
        count = asyncio.run(_activate_async(_database_url(args), trial, _actor(args)))
    except (UnknownTrialVersion, RegistryRefused) as error:
        print(f"trialwatch trials activate: {error}", file=sys.stderr)
        return REFUSED
    print(f"{trial.id} version {trial.version} active; {count} patients re-screened")
    return OK


async def _activate_async(url: str, trial: TrialRef, actor: str) -> int:
    engine = make_engine(url)
    immediate_sqlite_transactions(engine)
    try:
        return await activate_and_rescreen(
            make_sessionmaker(engine), default_screener(EvaluatorSettings().trials_dir), trial,
            utc_now, _progress_bar, actor=actor)
    finally:
        await engine.dispose()


def _stop(args: argparse.Namespace) -> int:
    # the same rule as the API's StopRequest.reason (shared.text_safety, 500 characters): an
    # argument can carry controls, and undecodable bytes arrive as lone surrogates
    refused = character_problem(args.reason, STOP_REASON_MAX)
    if refused is not None or not args.reason.strip():
        why = refused[1] if refused is not None else "is empty"
        print(f"trialwatch trials {args.action}: --reason {why}", file=sys.stderr)
        return PROBLEMS

    async def stop() -> int:
        engine = make_engine(_database_url(args))
        immediate_sqlite_transactions(engine)
        try:
            _, alerts = await stop_screening(make_sessionmaker(engine), args.trial, args.action,
                                             args.reason, _actor(args), utc_now,
                                             ZoneInfo(EvaluatorSettings().site_timezone))
            return len(alerts)
        finally:
            await engine.dispose()

    try:
        closed = asyncio.run(stop())
    except RegistryRefused as error:
        print(f"trialwatch trials {args.action}: {error}", file=sys.stderr)
        return REFUSED
    done = "retired" if args.action == "retire" else "deactivated"
    print(f"{args.trial} {done}; {closed} open alert(s) closed")
    return OK


def _progress_bar(done: int, total: int) -> None:
    filled = BAR_WIDTH if total == 0 else BAR_WIDTH * done // total
    percent = 100 if total == 0 else 100 * done // total
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    sys.stderr.write(f"\rre-screening [{bar}] {done}/{total} patients {percent:3d}%")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
