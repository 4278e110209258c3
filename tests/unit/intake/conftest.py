from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "intake"
# the fake clock's "now": after every message these tests send (their MSH-7 and OBX-14 run to
# 28 Nov 2026); a result later than its message's arrival is refused (shared/clinical/hl7v2.py)
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
