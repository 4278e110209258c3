"""``trialwatch import --site S`` names which of a several-site lab token's sites the history is
from, in the TrialWatch-Site header intake reads (deploy/SECURITY.md "Site scope")."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.cli import bulk_import


async def _headers_sent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                        site: str | None) -> httpx.Headers:
    seen: list[httpx.Headers] = []

    async def run_import(files: Any, client: httpx.AsyncClient, *_: Any,
                         **__: Any) -> bulk_import.Tally:
        seen.append(client.headers)
        return bulk_import.Tally()

    monkeypatch.setattr(bulk_import, "run_import", run_import)
    args = argparse.Namespace(token="lab-token", intake_url="http://intake", site=site,
                              report=tmp_path / "refused.tsv", batch=10)
    await bulk_import._run(args, [], bulk_import.ImportState(tmp_path / "state.json"))
    [headers] = seen
    return headers


async def test_the_site_option_is_sent_as_the_trialwatch_site_header(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    headers = await _headers_sent(monkeypatch, tmp_path, "site-b")
    assert headers["TrialWatch-Site"] == "site-b"
    assert headers["Authorization"] == "Bearer lab-token"


async def test_without_the_site_option_no_site_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert "TrialWatch-Site" not in await _headers_sent(monkeypatch, tmp_path, None)
