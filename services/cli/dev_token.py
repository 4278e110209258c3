"""``trialwatch dev-token ROLE``: print the development bearer token ``run`` created for a role."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared.infra.auth import Role, load_token_file


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "dev-token", help="print a development bearer token (after `trialwatch run`)",
        description="Print the token `trialwatch run` wrote to DATA_DIR/dev-tokens.json for ROLE, "
                    "e.g. TOKEN=$(trialwatch dev-token lab-system).",
    )
    parser.add_argument("role", choices=[r.value for r in Role])
    parser.add_argument("--data-dir", type=Path, default=Path("var"))
    parser.set_defaults(func=_print_token)


def _print_token(args: argparse.Namespace) -> int:
    path: Path = args.data_dir / "dev-tokens.json"
    if not path.exists():
        print(f"no {path}: start `trialwatch run` first", file=sys.stderr)
        return 2
    for token, principal in load_token_file(path).items():
        if principal.role.value == args.role:
            print(token)
            return 0
    print(f"no {args.role} token in {path}", file=sys.stderr)
    return 2
