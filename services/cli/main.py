"""``trialwatch``: run the pipeline, one service, migrations, and the offline tools.

Each command's module (and with it sqlalchemy, faststream, the engine...) is imported only when
that command is named on the command line: ``trialwatch --help``, a bad command and a light
command load none of the others. The top-level help is built from ``COMMANDS`` (name, module,
one-line help); ``tests/unit/cli/test_lazy_commands.py`` checks it against the full parser.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

DESCRIPTION = """\
TrialWatch screens every patient against every active trial's eligibility criteria whenever
their data changes and whenever time alone changes the answer, alerts coordinators, and keeps
every decision in a tamper-evident audit trail.

Start here:   trialwatch run --demo      (embedded broker + SQLite, all three services)
Production:   trialwatch migrate; then trialwatch intake | evaluator | audit, one per process,
              configured by KAFKA_*, INTAKE_*, EVALUATOR_*, AUDIT_*, LOG_* environment variables.
"""

# (command, module under services.cli that registers it, its one-line help), in help order.
# A module registering several commands (serve: intake, evaluator, audit) is listed once per
# command, consecutively.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("run", "run", "run the whole pipeline on embedded defaults (broker + SQLite)"),
    ("intake", "serve",
     "accept FHIR R4 and HL7 v2 patient updates and publish patient events"),
    ("evaluator", "serve",
     "re-screen patients on every change and when time passes; publish decisions"),
    ("audit", "serve",
     "store decisions in the tamper-evident record and serve the auditor API"),
    ("migrate", "migrate", "apply database migrations"),
    ("evaluate", "evaluate_args",
     "evaluate one patient's FHIR R4 / HL7 v2 record against a trial (offline)"),
    ("dictionary", "dictionary", "print or write the data dictionary of the trials screened"),
    ("trials", "trials_args",
     "the trial registry: validate, add, list, activate, deactivate, retire"),
    ("asyncapi", "asyncapi", "write the AsyncAPI document of the events"),
    ("dev-token", "dev_token_args", "print a development bearer token (after `trialwatch run`)"),
    ("import", "bulk_import",
     "onboard history from FHIR Bulk Data NDJSON files into a running intake"),
    ("outbox", "outbox",
     "outbox dead letters: list them, retry or drop one (with a reason)"),
    ("webhooks", "webhooks", "webhook secret keys: rotate-key, retire-keys"),
)

_EVERY = object()


def build_parser(command: str | object | None = _EVERY) -> argparse.ArgumentParser:
    """The ``trialwatch`` parser.

    ``command`` absent: every command's module is imported and registers its full sub-parser.
    ``command`` a name (or None): only the module of that command is imported (none for None or
    an unknown name); the other commands get a sub-parser with their one-line help only, enough
    for the top-level help and for argparse's "invalid choice" error.
    """
    parser = argparse.ArgumentParser(
        prog="trialwatch", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = {module for name, module, _ in COMMANDS if command is _EVERY or name == command}
    registered: set[str] = set()
    for name, module, help_text in COMMANDS:
        if module not in wanted:
            commands.add_parser(name, help=help_text)
        elif module not in registered:
            registered.add(module)
            importlib.import_module(f"services.cli.{module}").register(commands)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The command named in ``argv``: its first word that is not an option (``trialwatch``
    itself takes only -h/--help), or None."""
    for position, word in enumerate(argv):
        if word == "--":
            return argv[position + 1] if position + 1 < len(argv) else None
        if not word.startswith("-"):
            return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command_in(argv)).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except Exception as error:
        # Only a command that imported the database plumbing can raise MissingDatabase.
        sql_engine = sys.modules.get("shared.infra.sql_engine")
        if sql_engine is not None and isinstance(error, sql_engine.MissingDatabase):
            print(f"error: {error}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())
