"""``trialwatch trials``: list trial versions; activate an amendment and re-screen every patient.

The evaluator service publishes the resulting decisions from its outbox (within seconds), so
this command needs the evaluator's database, not the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy import select

from services.evaluator.amendments import UnknownTrialVersion, activate_and_rescreen
from services.evaluator.bootstrap import default_screener
from services.evaluator.clock import utc_now
from services.evaluator.db import immediate_sqlite_transactions
from services.evaluator.tables import active_trial
from shared.eligibility.decision import TrialRef
from shared.infra.db import make_engine, make_sessionmaker
from shared.settings import EvaluatorSettings

BAR_WIDTH = 40


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "trials", help="list trial versions; activate a protocol amendment",
        description="Trial versions known to the criteria engine and the ones the evaluator "
                    "screens against. The database defaults to EVALUATOR_DATABASE_URL.",
    )
    tools = parser.add_subparsers(dest="trials_command", required=True, metavar="ACTION")
    listing = tools.add_parser("list", help="shipped versions of each trial and the active one")
    listing.add_argument("--database-url", help="evaluator database (EVALUATOR_DATABASE_URL)")
    listing.set_defaults(func=_list)
    activate = tools.add_parser(
        "activate", help="make a version active and re-screen every known patient against it",
        description="Registers TRIAL at VERSION as the active version (several trials can be "
                    "active at once) and re-evaluates every patient the evaluator knows, with a "
                    "progress bar. Decisions record the version used; the running evaluator "
                    "publishes them.",
    )
    activate.add_argument("--trial", required=True, help="trial id, e.g. NCT06920433")
    activate.add_argument("--version", required=True, help="trial version, e.g. 2")
    activate.add_argument("--database-url", help="evaluator database (EVALUATOR_DATABASE_URL)")
    activate.set_defaults(func=_activate)


def _database_url(args: argparse.Namespace) -> str:
    return str(args.database_url or EvaluatorSettings().database_url)


def _list(args: argparse.Namespace) -> int:
    return asyncio.run(_list_async(_database_url(args)))


async def _list_async(url: str) -> int:
    screener = default_screener()
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            registered = {r.trial_id: r for r in await session.execute(select(active_trial))}
    finally:
        await engine.dispose()
    shipped = {t.id: t.version for t in screener.active_trials()}
    print(f"{'TRIAL':<16} {'ACTIVE':<22} {'SOURCE':<12} LATEST SHIPPED")
    for trial_id in sorted({*shipped, *registered}):
        row = registered.get(trial_id)
        active = row.version if row else shipped[trial_id]
        source = "amendment" if row else "shipped"
        print(f"{trial_id:<16} {active:<22} {source:<12} {shipped.get(trial_id, '-')}")
    return 0


def _activate(args: argparse.Namespace) -> int:
    trial = TrialRef(id=args.trial, version=args.version)
    try:
        count = asyncio.run(_activate_async(_database_url(args), trial))
    except UnknownTrialVersion as error:
        print(f"trialwatch trials activate: {error}", file=sys.stderr)
        return 2
    print(f"{trial.id} version {trial.version} active; {count} patients re-screened")
    return 0


async def _activate_async(url: str, trial: TrialRef) -> int:
    engine = make_engine(url)
    immediate_sqlite_transactions(engine)
    try:
        return await activate_and_rescreen(
            make_sessionmaker(engine), default_screener(), trial, utc_now, _progress_bar
        )
    finally:
        await engine.dispose()


def _progress_bar(done: int, total: int) -> None:
    filled = BAR_WIDTH if total == 0 else BAR_WIDTH * done // total
    percent = 100 if total == 0 else 100 * done // total
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    sys.stderr.write(f"\rre-screening [{bar}] {done}/{total} patients {percent:3d}%")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
