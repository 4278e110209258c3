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


def test_a_registry_database_that_does_not_exist_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'none.db'}"
    assert dictionary.run(parse("--database-url", url)) == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_the_shipped_dictionary_says_which_trials_it_covers(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert dictionary.run(parse()) == 0
    out = capsys.readouterr().out
    assert "the shipped trial files, each trial's newest version" in out
    assert "`trialwatch dictionary --registry`" in out
    assert "## Data elements shared between trials" in out
