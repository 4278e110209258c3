"""`trialwatch run` prints one line for each submission intake refuses (fresh user ux: a 422
was seen only by curl; the terminal running the pipeline said nothing): the path and the
reason, never what was sent (a reason quotes the sent value, which may be PHI)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from structlog.testing import capture_logs

from services.cli.refusals_tail import refusal_line, tail_refusals
from services.intake.adapters.telemetry import count_refusal
from services.intake.core.refusals import InvalidClinicalInput
from shared.clinical.errors import Problem


def _refusal_log() -> str:
    refusal = InvalidClinicalInput("2 problems in the input", [
        Problem("Patient.birthDate", "'1961-04-02' is after the day 1960-01-01 the record"
                " arrived"),
        Problem("Observation.valueQuantity.value", "'Roe' is not a FHIR R4 decimal")])
    with capture_logs() as logs:
        count_refusal(refusal, channel="http", format_name="fhir-r4")
    (entry,) = [e for e in logs if e["event"] == "submission_refused"]
    return json.dumps(entry)


def test_intake_logs_a_refusal_with_its_path_and_reason_without_what_was_sent() -> None:
    line = refusal_line(_refusal_log())
    assert line is not None
    assert line.startswith("REFUSED fhir-r4 submission (422 invalid-clinical-input):"
                           " Patient.birthDate: "), line
    assert line.endswith("(+1 more problem in the answer)"), line
    for sent in ("1961", "1960-01-01", "Roe"):
        assert sent not in line, line


def test_the_run_terminal_prints_a_refusal_added_to_intakes_log(tmp_path: Path) -> None:
    log = tmp_path / "intake.log"
    log.write_text('{"event": "submission_refused", "status": 422}\n')  # before: not shown
    printed: list[str] = []

    async def scenario() -> None:
        task = asyncio.create_task(tail_refusals(log, printed.append, poll_s=0.01))
        await asyncio.sleep(0.05)
        with log.open("a") as handle:
            handle.write('{"event": "http_request", "status": 202}\n' + _refusal_log() + "\n")
        for _ in range(100):
            if printed:
                break
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(scenario())
    assert len(printed) == 1, printed
    assert printed[0].startswith("REFUSED fhir-r4 submission (422"), printed
