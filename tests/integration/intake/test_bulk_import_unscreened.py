"""``trialwatch import`` on the real databases says which imported codes no active trial
screens, over HTTP (intake's 202 receipts, the shipped trials as INTAKE_TRIALS_DIR) and on the
direct path (``--database-url``: ``BulkIntake`` checks the same ScreenedCodes port), counted
per ``system|code`` in the summary, never naming a patient.

Before: over HTTP the receipts' "accepted but not screened by any criterion" warnings were
dropped by the importer; on the direct path nothing was checked at all."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest

from services.cli.bulk_import import (
    ImportState,
    Tally,
    ndjson_files,
    run_import,
    unscreened_summary,
)
from services.intake.adapters.trial_codes import TrialFileCodes
from services.intake.admin import BulkIntake
from tests.integration.intake.harness import LAB, api_without_broker, migrate
from tests.integration.intake.test_bulk_import import hemoglobin, patient

pytestmark = pytest.mark.integration
CHOLESTEROL = "http://loinc.org|2093-3"  # LOINC 2093-3: read by no shipped trial's criteria


def _export(folder: Path) -> Path:
    folder.mkdir()
    (folder / "Patient.ndjson").write_text("".join(json.dumps(patient(n)) + "\n"
                                                   for n in range(3)))
    lines = []
    for n in range(3):
        lines.append(json.dumps(hemoglobin(n, 1)))  # LOINC 718-7: screened
        cholesterol = hemoglobin(n, 2)
        cholesterol["id"] = f"bulk-{n}-chol"
        cholesterol["code"] = {"coding": [{"system": "http://loinc.org", "code": "2093-3"}]}
        cholesterol["valueQuantity"] = {"value": 190, "unit": "mg/dL",
                                        "system": "http://unitsofmeasure.org", "code": "mg/dL"}
        lines.append(json.dumps(cholesterol))
    (folder / "Observation.ndjson").write_text("\n".join(lines) + "\n")
    return folder


def _checked(tally: Tally) -> None:
    assert tally.accepted == 9, tally
    assert dict(tally.unscreened) == {CHOLESTEROL: 3}
    text = "\n".join(unscreened_summary(tally))
    assert f"{CHOLESTEROL}: 3" in text
    assert "bulk-" not in text
    assert "MRN" not in text


async def test_the_import_over_http_counts_the_codes_no_trial_screens(
    database_url: str, tmp_path: Path
) -> None:
    await migrate(database_url)
    files = ndjson_files([_export(tmp_path / "export")])
    async with api_without_broker(database_url) as (client, app):
        app.state.intake = dataclasses.replace(app.state.intake, screened=TrialFileCodes())
        client.headers.update(LAB)
        tally = await run_import(files, client, ImportState(tmp_path / "s.json"),
                                 io.StringIO(), batch_size=4, show_progress=False)
    _checked(tally)


async def test_the_direct_import_counts_the_codes_no_trial_screens(
    database_url: str, tmp_path: Path
) -> None:
    await migrate(database_url)
    files = ndjson_files([_export(tmp_path / "export")])
    async with BulkIntake(database_url, "lab-a") as intake:
        tally = await run_import(files, intake, ImportState(tmp_path / "s.json"),
                                 io.StringIO(), batch_size=4, show_progress=False)
    _checked(tally)
