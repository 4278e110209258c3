"""``trialwatch dev-token ROLE``: print (or mint) a development bearer token for ``run``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.cli.dev_token_args import register as register
from shared.infra.auth import Principal, Role, load_token_file, mint_token


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
