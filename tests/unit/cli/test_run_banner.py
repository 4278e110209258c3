"""``trialwatch run``'s banner tells how to sign in with a command a user can paste."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from services.cli import run


def _sign_in_hint(capsys: pytest.CaptureFixture[str], data_dir: Path) -> str:
    run._banner("127.0.0.1", {"intake": 8001, "evaluator": 8002, "audit": 8003},
                "127.0.0.1:9092", data_dir / "dev-tokens.json", data_dir, 1.0)
    line = next(line for line in capsys.readouterr().out.splitlines()
                if "coordinator app" in line)
    return line.split("(sign-in token: ")[1].rstrip(")")


def test_the_banner_names_the_program_as_started_when_it_is_not_on_path(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [".venv/bin/trialwatch", "run"])
    monkeypatch.setattr(run.shutil, "which", lambda name: None)
    assert _sign_in_hint(capsys, Path("var")) == ".venv/bin/trialwatch dev-token coordinator"


def test_the_banner_says_trialwatch_when_that_is_the_program_on_path(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    program = tmp_path / "bin" / "trialwatch"
    program.parent.mkdir()
    program.touch()
    monkeypatch.setattr(sys, "argv", [str(program), "run"])
    monkeypatch.setattr(run.shutil, "which", lambda name: str(program))
    data = tmp_path / "my data"
    assert _sign_in_hint(capsys, data) == (
        f"trialwatch dev-token coordinator --data-dir {shlex.quote(str(data))}")


def test_python_dash_m_is_named_as_such() -> None:
    assert run.sign_in_command(Path("var"), argv0="/x/services/cli/__main__.py",
                               which=lambda name: None, python="/v/bin/python") == (
        "/v/bin/python -m services.cli dev-token coordinator")
