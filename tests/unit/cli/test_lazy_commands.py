"""``trialwatch`` imports only the module of the command it runs: help, a bad command, a light
command (dev-token) and the help of trials and evaluate (their arguments are in light modules)
load no database, broker or engine library, and every help text is the one the full parser
(every command's module imported) prints."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli.main import build_parser

HEAVY = ("sqlalchemy", "alembic", "faststream", "aiokafka", "shared.eligibility.engine")

PROBE = """
import json, sys
from services.cli.main import main
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "heavy": [m for m in json.loads(sys.argv[2]) if m in sys.modules]}),
      file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["--help"], ["nosuch"], ["dev-token", "--help"],
                                  ["dev-token", "coordinator", "--data-dir", "{tmp}"],
                                  ["trials", "--help"], ["trials", "list", "--help"],
                                  ["evaluate", "--help"]],
                         ids=["help", "bad-command", "dev-token-help", "dev-token", "trials-help",
                              "trials-list-help", "evaluate-help"])
def test_a_light_command_loads_no_database_broker_or_engine_module(
    argv: list[str], tmp_path: Path,
) -> None:
    # A fresh interpreter: other tests' imports would hide what the command itself loads.
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)],
                          capture_output=True, text=True, timeout=120, check=False)
    result = json.loads(done.stderr.strip().splitlines()[-1])
    assert result["code"] in (0, 2), done.stderr
    assert result["heavy"] == [], f"trialwatch {' '.join(argv)} imported {result['heavy']}"



@pytest.mark.parametrize("argv", [["--help"], ["nosuch"], ["dev-token", "--help"],
                                  ["trials", "--help"], ["evaluate", "--help"]],
                         ids=["help", "bad-command", "dev-token-help", "trials-help",
                              "evaluate-help"])
def test_help_loads_no_web_or_validation_library(argv: list[str]) -> None:
    light = ("fastapi", "pydantic", "httpx", "structlog")
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(light)],
                          capture_output=True, text=True, timeout=120, check=False)
    result = json.loads(done.stderr.strip().splitlines()[-1])
    assert result["code"] in (0, 2), done.stderr
    assert result["heavy"] == [], f"trialwatch {' '.join(argv)} imported {result['heavy']}"


def _commands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_the_top_level_help_is_the_full_parsers() -> None:
    assert build_parser(command=None).format_help() == build_parser().format_help()
    assert build_parser(command="nosuch").format_help() == build_parser().format_help()


def test_each_commands_help_is_the_full_parsers() -> None:
    full = _commands(build_parser()).choices
    assert len(full) >= 13
    for name, parser in full.items():
        light = _commands(build_parser(command=name))
        assert list(light.choices) == list(full), name
        assert light.choices[name].format_help() == parser.format_help(), name
        assert light.choices[name]._defaults == parser._defaults, name
