from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "intake"
NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
