from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures"
SHARED_DATA = REPO / ".." / "shared" / "data"


def load_fhir_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "fhir" / name).read_text("utf-8"))


def shared_data(subdir: str) -> Path:
    folder = SHARED_DATA / subdir
    if not folder.is_dir():
        pytest.skip(f"shared data {folder} not present")
    return folder
