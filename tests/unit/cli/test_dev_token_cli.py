"""``trialwatch dev-token`` run outside the folder of ``trialwatch run``: where it looked, and how
to point it at the running pipeline's data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli.main import main
from shared.infra.auth import Role, write_dev_tokens


def test_dev_token_run_elsewhere_names_the_full_path_it_looked_at_and_the_data_dir_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["dev-token", "coordinator"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "var" / "dev-tokens.json") in err
    assert "--data-dir" in err
    assert not (tmp_path / "var").exists()


def test_dev_token_reads_the_token_from_the_data_dir_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "elsewhere"
    tokens = write_dev_tokens(data / "dev-tokens.json")
    [coordinator] = [t for t, p in tokens.items() if p.role is Role.COORDINATOR]
    monkeypatch.chdir(tmp_path)
    assert main(["dev-token", "coordinator", "--data-dir", str(data)]) == 0
    assert capsys.readouterr().out.strip() == coordinator
