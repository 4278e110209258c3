"""``trialwatch import`` says, in its summary, which codes of what it imported no active trial
screens, as intake's HTTP receipt warns about each one ("accepted but not screened by any
criterion"): counts per ``system|code``, never a patient id (the counts come from the
receipts' warnings, whose ``codes`` carry only the codes).

Before: the importer counted accepted/refused/ignored lines only; a site onboarding years of
history coded in its lab's own codes was told nothing, while an older LOINC-coded result
decided in the place of each of them."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

from services.cli import bulk_import

LOCAL = "https://lab.example-hospital.org/fhir/CodeSystem/result-codes"


class ReceiptsLink:
    """A link answering each batch with a 202 receipt warning about every Observation coded
    in the lab's own CodeSystem (as intake does with its ScreenedCodes)."""

    ahead = 0

    def prepare(self, body: bytes) -> Any:
        done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        done.set_result(body)
        return done

    async def deliver(self, prepared: Any) -> bulk_import.HttpAnswer:
        bundle = json.loads(await prepared)
        entries = []
        for index, entry in enumerate(bundle["entry"]):
            resource = entry["resource"]
            warnings = [
                {"path": f"Bundle.entry[{index}].resource.code",
                 "reason": "result accepted but not screened by any criterion",
                 "codes": [f"{c['system']}|{c['code']}" for c in resource["code"]["coding"]]}
                for coding in resource.get("code", {}).get("coding", [])[:1]
                if coding["system"] == LOCAL]
            entries.append({"path": f"Bundle.entry[{index}]", "outcome": "accepted",
                            "resource_type": resource["resourceType"], "warnings": warnings})
        return bulk_import.HttpAnswer(202, entries=entries)


def _observation(n: int, system: str, code: str) -> str:
    return json.dumps({"resourceType": "Observation", "id": f"o{n}", "status": "final",
                       "code": {"coding": [{"system": system, "code": code}]},
                       "subject": {"reference": f"Patient/secret-patient-{n}"}})


async def test_the_tally_counts_unscreened_codes_per_system_and_code(tmp_path: Path) -> None:
    lines = [_observation(0, LOCAL, "PLT"), _observation(1, "http://loinc.org", "777-3"),
             _observation(2, LOCAL, "PLT"), _observation(3, LOCAL, "HGB")]
    path = tmp_path / "Observation.ndjson"
    path.write_text("\n".join(lines) + "\n")
    tally = await bulk_import.run_import(
        [path], ReceiptsLink(), bulk_import.ImportState(tmp_path / "s.json"), io.StringIO(),
        batch_size=2, show_progress=False)
    assert tally.accepted == 4
    assert dict(tally.unscreened) == {f"{LOCAL}|PLT": 2, f"{LOCAL}|HGB": 1}
    assert tally.unscreened_facts == 3


def test_the_summary_names_each_unscreened_code_with_its_count_and_no_patient() -> None:
    tally = bulk_import.Tally(accepted=4, unscreened_facts=3)
    tally.unscreened.update({f"{LOCAL}|PLT": 2, f"{LOCAL}|HGB": 1})
    text = "\n".join(bulk_import.unscreened_summary(tally))
    assert "3 accepted resources" in text
    assert f"{LOCAL}|PLT: 2" in text
    assert f"{LOCAL}|HGB: 1" in text
    assert text.index("|PLT") < text.index("|HGB")  # most frequent first
    assert "CLINICAL_LOCAL_CODES_FILE" in text
    assert "INTAKE_TRIALS_DIR" in text
    assert "secret-patient" not in text


def test_no_summary_line_when_every_code_is_screened() -> None:
    assert bulk_import.unscreened_summary(bulk_import.Tally(accepted=4)) == []
