"""``trialwatch dictionary``: prints or writes the data dictionary."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from services.cli import dictionary


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="trialwatch")
    dictionary.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["dictionary", *argv])


def test_the_dictionary_is_written_to_the_requested_file(tmp_path: Path) -> None:
    out = tmp_path / "dd.md"
    assert dictionary.run(parse("--trial", "NCT06920433", "--out", str(out))) == 0
    assert out.read_text(encoding="utf-8").startswith("# TrialWatch data dictionary")


def test_an_unknown_trial_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert dictionary.run(parse("--trial", "NCT00000000")) == 2
    assert "unknown trial" in capsys.readouterr().err
