"""``trialwatch``: run the pipeline, one service, migrations, and the offline tools."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from services.cli import (
    asyncapi,
    bulk_import,
    dev_token,
    dictionary,
    evaluate,
    migrate,
    outbox,
    run,
    serve,
    trials,
    webhooks,
)
from shared.infra.sql_engine import MissingDatabase

DESCRIPTION = """\
TrialWatch screens every patient against every active trial's eligibility criteria whenever
their data changes and whenever time alone changes the answer, alerts coordinators, and keeps
every decision in a tamper-evident audit trail.

Start here:   trialwatch run --demo      (embedded broker + SQLite, all three services)
Production:   trialwatch migrate; then trialwatch intake | evaluator | audit, one per process,
              configured by KAFKA_*, INTAKE_*, EVALUATOR_*, AUDIT_*, LOG_* environment variables.
"""

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trialwatch", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.register(commands)
    serve.register(commands)
    migrate.register(commands)
    evaluate.register(commands)
    dictionary.register(commands)
    trials.register(commands)
    asyncapi.register(commands)
    dev_token.register(commands)
    bulk_import.register(commands)
    outbox.register(commands)
    webhooks.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MissingDatabase as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
