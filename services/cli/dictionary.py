"""``trialwatch dictionary``: publish what each criterion reads (Markdown, from the trial files)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared.eligibility.dictionary import render_markdown
from shared.eligibility.loader import TrialFileError, list_trials, load_trial

USAGE_ERROR = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dictionary",
        help="print or write the data dictionary generated from the trial files",
        description="Print (or write with --out) the data dictionary for lab-system "
                    "integrators: for each criterion of each trial, the FHIR resource types, "
                    "codes, units and look-back windows it reads, and which input forms are "
                    "read, kept unread or refused. Generated from the trial files.",
    )
    parser.add_argument("--trial", default=None, help="one trial id (default: every trial)")
    parser.add_argument(
        "--out", default=None, help="write to this file (e.g. docs/data-dictionary.md)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        ids = [args.trial] if args.trial else sorted(list_trials())
        text = render_markdown([load_trial(trial_id) for trial_id in ids])
    except TrialFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0
