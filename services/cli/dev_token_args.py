"""The arguments of ``trialwatch dev-token`` (light: the command itself is
``dev_token._print_token``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from services.cli.lazy import Handler
from shared.infra.roles import Role


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "dev-token", help="print a development bearer token (after `trialwatch run`)",
        description="Print the token `trialwatch run` wrote to DATA_DIR/dev-tokens.json for ROLE, "
                    "e.g. TOKEN=$(trialwatch dev-token lab-system). With --trial (and --site) "
                    "mint a new token scoped to those trials; running services pick it up.",
    )
    parser.add_argument("role", choices=[r.value for r in Role])
    parser.add_argument("--data-dir", type=Path, default=Path("var"),
                        help="the data folder of `trialwatch run` (its banner prints it as "
                             "`data`; default ./var, relative to the current folder)")
    parser.add_argument("--trial", action="append", default=[],
                        help="mint a token scoped to this trial id (repeatable; '*' = every trial)")
    parser.add_argument("--site", action="append", default=[],
                        help="add a site claim to the minted token (repeatable)")
    parser.add_argument("--client", help="client name of the minted token (logged, audited)")
    parser.set_defaults(func=Handler("dev_token", "_print_token"))
