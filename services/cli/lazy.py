"""A command handler named by module and function, imported when the command runs.

A command's arguments live in a light module (``*_args``) so that ``trialwatch`` and
``trialwatch COMMAND --help`` build the parser without importing the command's dependencies.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Handler:
    """``services.cli.<module>.<function>(args)``, imported on the first call; returns its exit
    code (int, or None for 0)."""

    module: str
    function: str

    def __call__(self, args: argparse.Namespace) -> int | None:
        run = getattr(importlib.import_module(f"services.cli.{self.module}"), self.function)
        code: int | None = run(args)
        return code
