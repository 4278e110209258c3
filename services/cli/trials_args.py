"""The arguments of ``trialwatch trials`` (light: each action's handler is in ``trials``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from services.cli.lazy import Handler


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "trials", help="the trial registry: validate, add, list, activate, deactivate, retire",
        description="Trial versions are data in the evaluator's registry. The database "
                    "defaults to EVALUATOR_DATABASE_URL; changes take effect on a running "
                    "evaluator within its next batch.",
    )
    tools = parser.add_subparsers(dest="trials_command", required=True, metavar="ACTION")

    validate = tools.add_parser("validate", help="report every problem of a trial file")
    validate.add_argument("file", type=Path, help="a trial file (YAML), e.g. "
                          "shared/trials/NCT06920433/2025-11-14.1.yaml")
    validate.set_defaults(func=Handler("trials", "_validate"))

    add = tools.add_parser("add", help="store a trial version (text + content hash)")
    add.add_argument("file", type=Path, help="the trial file (YAML) to store")
    _common(add)
    add.set_defaults(func=Handler("trials", "_add"))

    listing = tools.add_parser("list", help="stored versions, active ones, registry changes")
    _common(listing)
    listing.set_defaults(func=Handler("trials", "_list"))

    activate = tools.add_parser(
        "activate", help="make a version active and re-screen every known patient",
        description="Registers TRIAL at VERSION as the active version (several trials can be "
                    "active at once) and re-evaluates every patient the evaluator knows, with a "
                    "progress bar. Decisions record the version and the change that caused them.",
    )
    activate.add_argument("--trial", required=True, help="trial id, e.g. NCT06920433")
    activate.add_argument("--version", required=True, help="trial version, e.g. 2025-11-14.1")
    _common(activate)
    activate.set_defaults(func=Handler("trials", "_activate"))

    for action, words in (("deactivate", "stop screening (may be activated again)"),
                          ("retire", "stop screening for good")):
        stop = tools.add_parser(action, help=f"{words}; open alerts are closed with the reason")
        stop.add_argument("--trial", required=True)
        stop.add_argument("--reason", required=True, help="recorded and sent with the alerts")
        _common(stop)
        stop.set_defaults(func=Handler("trials", "_stop"), action=action)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="evaluator database (EVALUATOR_DATABASE_URL)")
    parser.add_argument("--actor", default=None,
                        help="who makes the change (default cli:<login name>)")
