"""The fuzz campaign in the default suite, smaller; the full 10,000-request run is
``python -m tests.integration.intake.fuzz_api`` (counts in docs/intake.md)."""

from __future__ import annotations

import os

import pytest

from tests.integration.intake.fuzz_api import campaign

pytestmark = pytest.mark.integration
EXAMPLES = int(os.environ.get("INTAKE_FUZZ_EXAMPLES", "100"))


def test_no_generated_request_gets_a_5xx_or_crashes_intake(database_url: str) -> None:
    counts = campaign(database_url, EXAMPLES, report=lambda _: None)
    assert sum(counts.values()) >= EXAMPLES * 8
    assert [key for key in counts if key[2] >= 500] == []
    statuses = {status for (_, _, status) in counts}
    assert {202, 400, 401, 404, 422} <= statuses
