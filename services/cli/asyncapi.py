"""``trialwatch asyncapi``: the AsyncAPI document, generated from the declared channels.

Each channel is declared once, in ``shared.contracts.channels``, with the pydantic model that
travels on it; the services wire their consumers from the same declarations, so the document
cannot drift from what runs: a test regenerates it and compares with docs/asyncapi.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from shared.infra.asyncapi import document

DEFAULT_OUT = Path("docs/asyncapi.json")

__all__ = ["document", "register"]


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "asyncapi", help="write the AsyncAPI document of the events",
        description="Write the AsyncAPI 3 document of every topic, its events and their "
                    "schemas, generated from the code (the project keeps it in "
                    "docs/asyncapi.json).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where to write it ('-' for stdout; default {DEFAULT_OUT}, "
                             "relative to the current folder)")
    parser.set_defaults(func=_write)


def _write(args: argparse.Namespace) -> int:
    text = json.dumps(document(), indent=2, sort_keys=True) + "\n"
    if str(args.out) == "-":
        print(text, end="")
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out.absolute()}")
    return 0
