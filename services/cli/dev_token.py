"""``trialwatch dev-token ROLE``: print (or mint) a development bearer token for ``run``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared.infra.auth import Principal, Role, load_token_file, mint_token


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
    parser.set_defaults(func=_print_token)


def _print_token(args: argparse.Namespace) -> int:
    path: Path = args.data_dir / "dev-tokens.json"
    if not path.exists():
        print(f"no {path.absolute()}: start `trialwatch run` first; if it is running, run this "
              "in the folder where it was started or pass --data-dir (the `data` folder its "
              "banner prints)", file=sys.stderr)
        return 2
    if args.trial or args.site:
        role = Role(args.role)
        client = args.client or f"dev-{role.value}-{'-'.join(args.trial) or 'sites'}"
        print(mint_token(path, Principal(client, role, frozenset(args.trial),
                                         frozenset(args.site))))
        return 0
    for token, principal in load_token_file(path).items():
        if principal.role.value == args.role:
            print(token)
            return 0
    print(f"no {args.role} token in {path}", file=sys.stderr)
    return 2
