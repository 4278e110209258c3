"""The raw topic's ``trialwatch-site`` header against ``INTAKE_RAW_SITES`` (issue 14 section
5), on the raw handler over fakes: the allowed sites play the part of a lab token's sites
claim. The real broker: tests/integration/intake/test_raw_site.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.intake.adapters.messaging import RawIntakeHandler
from shared.contracts.events import PatientUpdated
from shared.settings import IntakeSettings
from tests.unit.intake.conftest import NOW
from tests.unit.intake.fakes import FakeUnitOfWork
from tests.unit.intake.test_handlers import FakeDeadLetters, Record

HL7 = {"content-type": "x-application/hl7-v2+er7", "source-system": "lab-feed"}


async def _send(fixtures: Path, allowed: str, site: str | None) -> tuple[str | None, str | None]:
    """(the site stamped on the published update, the dead letter's reason)."""
    uow, dead = FakeUnitOfWork(), FakeDeadLetters()
    handler = RawIntakeHandler(
        uow, dead, lambda: NOW, default_source="raw-feed",  # type: ignore[arg-type]
        max_body_bytes=100_000, sites=IntakeSettings(raw_sites=allowed).raw_site_set())
    headers = HL7 | ({"trialwatch-site": site} if site is not None else {})
    await handler.handle(Record((fixtures / "oru_hemoglobin.hl7").read_bytes()), headers)
    updates = [e for _, e in uow.committed.outbox if isinstance(e, PatientUpdated)]
    assert len(updates) + len(dead.sent) == 1
    return (updates[0].site if updates else None), (dead.sent[0][1] if dead.sent else None)


@pytest.mark.parametrize(("allowed", "header", "stamped", "refused"), [
    ("", None, None, None),                             # as before: no site
    ("", "A", None, "403 site-not-allowed"),            # a header where none is allowed
    ("A", None, "A", None),                             # one site: the listener's default
    ("A", "A", "A", None),
    ("A", "B", None, "403 site-not-allowed"),
    ("A,B", "B", "B", None),
    ("A, B", None, None, "422 site-required"),           # several: the header must name one
    ("A,B", "C", None, "403 site-not-allowed"),
])
async def test_the_header_chooses_among_the_allowed_sites_like_a_lab_tokens_claim(
        fixtures: Path, allowed: str, header: str | None, stamped: str | None,
        refused: str | None) -> None:
    assert await _send(fixtures, allowed, header) == (stamped, refused)


@pytest.mark.parametrize("allowed", ["A,site b", "-A", "A," + "s" * 65])
def test_an_allowed_site_that_is_not_a_site_code_stops_intake_at_start_up(allowed: str) -> None:
    with pytest.raises(ValidationError, match="is not a site code"):
        IntakeSettings(raw_sites=allowed)
