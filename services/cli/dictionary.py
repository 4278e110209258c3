"""``trialwatch dictionary``: publish what each criterion reads (Markdown, from the trial texts).

Without a database: the shipped trial files (each trial's newest version, which is what a fresh
evaluator screens). With ``--registry`` (``EVALUATOR_DATABASE_URL``) or ``--database-url``: the
trial versions the evaluator's registry screens now, uploads through ``POST /trials`` and
``trialwatch trials add`` included.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from services.evaluator import admin
from shared.eligibility.dictionary import SHIPPED_SCOPE, render_markdown
from shared.eligibility.loader import TrialFileError, list_trials, load_trial
from shared.eligibility.trial import TrialVersion
from shared.infra.local_codes import LocalCodesFileError, install_site_local_codes
from shared.infra.medication_codes import install_site_medication_codes
from shared.infra.sql_engine import (
    MissingDatabase,
    existing_database,
    make_engine,
    make_sessionmaker,
)
from shared.settings import EvaluatorSettings

USAGE_ERROR = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dictionary",
        help="print or write the data dictionary of the trials screened",
        description="Print (or write with --out) the data dictionary for lab-system "
                    "integrators: for each criterion of each trial, the FHIR resource types, "
                    "codes, units and look-back windows it reads, which data elements several "
                    "trials share, and which input forms are read, kept unread or refused. "
                    "Without a database: the shipped trial files. With --registry or "
                    "--database-url: every trial version active in the evaluator's registry, "
                    "uploaded ones included.",
    )
    parser.add_argument("--trial", default=None, help="one trial id (default: every trial)")
    parser.add_argument(
        "--out", default=None, help="write to this file (e.g. docs/data-dictionary.md)"
    )
    parser.add_argument(
        "--registry", action="store_true",
        help="the trials active in the registry at EVALUATOR_DATABASE_URL",
    )
    parser.add_argument(
        "--database-url", default=None,
        help="the trials active in the registry of this evaluator database",
    )
    parser.set_defaults(func=run)


async def _registry_trials(url: str) -> list[TrialVersion]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await admin.active_trial_versions(
                session, admin.default_screener(EvaluatorSettings().trials_dir))
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    try:
        if args.registry or args.database_url:
            url = existing_database(str(args.database_url or EvaluatorSettings().database_url),
                                    "EVALUATOR_DATABASE_URL or --database-url")
            trials = asyncio.run(_registry_trials(url))
            scope = ("Trials: every version active in the evaluator's trial registry when this "
                     "was generated (uploaded versions included).")
        else:
            trials = [load_trial(trial_id) for trial_id in sorted(list_trials())]
            scope = SHIPPED_SCOPE
        if args.trial:
            trials = [t for t in trials if t.id == args.trial]
            if not trials:
                raise TrialFileError(f"unknown trial {args.trial!r} (not among the trials "
                                     "listed here)")
        install_site_local_codes()  # CLINICAL_LOCAL_CODES_FILE: the site's crosswalk is published
        install_site_medication_codes()  # CLINICAL_MEDICATION_CODES_FILE: likewise
        text = render_markdown(trials, scope=scope)
    except (TrialFileError, MissingDatabase, LocalCodesFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0
