"""``trialwatch import`` names, by resource type, what intake ignored as not read.

Intake's receipt marks an entry of a type TrialWatch does not read (FHIR R4 Immunization: no
criterion of the three trials reads it; AllergyIntolerance was such a type until NCT06920433
2025-11-14.5 E1 read it) as ``ignored`` with "nothing in this entry is screened". Before,
the import summary said only "2 ignored (types TrialWatch does not read)": an operator loading
a site's history could not tell which of its records were among them. Now a line names each
type with its count, never a patient.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

from services.cli import bulk_import

READ = {"Observation", "Patient", "MedicationDispense"}


class IgnoringLink:
    """A link answering each batch as intake does: types it reads accepted, others ignored."""

    ahead = 0

    def prepare(self, body: bytes) -> Any:
        done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        done.set_result(body)
        return done

    async def deliver(self, prepared: Any) -> bulk_import.HttpAnswer:
        bundle = json.loads(await prepared)
        entries = []
        for index, entry in enumerate(bundle["entry"]):
            kind = entry["resource"]["resourceType"]
            read = kind in READ
            entries.append({
                "path": f"Bundle.entry[{index}]", "resource_type": kind,
                "outcome": "accepted" if read else "ignored",
                "warnings": [] if read else [{
                    "path": f"Bundle.entry[{index}]",
                    "reason": f"{kind} resources are not read by TrialWatch: nothing in this"
                              " entry is screened"}]})
        return bulk_import.HttpAnswer(202, entries=entries)


def _resource(kind: str, n: int) -> str:
    return json.dumps({"resourceType": kind, "id": f"r{n}",
                       "patient": {"reference": f"Patient/secret-patient-{n}"}})


async def test_the_summary_names_each_ignored_type_with_its_count(tmp_path: Path) -> None:
    kinds = ["Immunization", "Observation", "Immunization", "FamilyMemberHistory"]
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(_resource(k, n) for n, k in enumerate(kinds)) + "\n")
    tally = await bulk_import.run_import(
        [path], IgnoringLink(), bulk_import.ImportState(tmp_path / "s.json"), io.StringIO(),
        batch_size=2, show_progress=False)
    assert tally.ignored == 3
    assert dict(tally.ignored_types) == {"FamilyMemberHistory": 1, "Immunization": 2}
    (line,) = bulk_import.ignored_summary(tally)
    assert "Immunization 2, FamilyMemberHistory 1" in line
    assert "not screened" in line
    assert "secret-patient" not in line


def test_no_line_when_nothing_was_ignored() -> None:
    assert bulk_import.ignored_summary(bulk_import.Tally(accepted=4)) == []
