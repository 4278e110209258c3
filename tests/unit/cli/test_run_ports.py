"""``trialwatch run`` refuses a busy port before starting anything, naming the flag to change."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from services.cli.main import build_parser, main
from services.cli.ports import busy_ports


def test_a_busy_port_is_named_with_its_service_and_flag() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert busy_ports("127.0.0.1", {"evaluator": port}) == [
            f"port {port} (evaluator) on 127.0.0.1 is in use: stop what uses it, or choose "
            "another with --evaluator-port PORT"]


def test_run_stops_before_creating_anything_when_a_port_is_busy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["run", "--data-dir", str(tmp_path / "data"), "--audit-port", str(port)])
    assert code == 2
    assert "--audit-port PORT" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_every_run_flag_is_described() -> None:
    commands = next(a for a in build_parser()._actions
                    if isinstance(a, argparse._SubParsersAction))
    run = commands.choices["run"]
    flags = [a for a in run._actions if a.option_strings and a.dest != "help"]
    assert len(flags) >= 8
    for action in flags:
        assert len(action.help or "") > 10, f"{action.option_strings} is not described"


def test_a_tool_run_outside_the_project_folder_says_so_without_creating_var(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for command in (["trials", "list"], ["audit", "verify"]):
        assert main(command) == 2
        assert "no database at var/" in capsys.readouterr().err
    assert not (tmp_path / "var").exists()
