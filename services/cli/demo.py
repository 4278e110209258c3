"""``run --demo``: post the sample patients in ``demo_patients/`` to intake, as a lab would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

DEMO_DIR = Path(__file__).parent / "demo_patients"


def demo_bundles() -> list[Path]:
    return sorted(DEMO_DIR.glob("*.json"))


async def feed(intake_url: str, token: str, print_line: Callable[[str], None]) -> int:
    """Post every sample bundle; returns how many intake accepted."""
    accepted = 0
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    async with httpx.AsyncClient(base_url=intake_url, headers=headers, timeout=10) as client:
        for path in demo_bundles():
            response = await client.post("/fhir", content=path.read_bytes())
            if response.status_code == 202:
                accepted += 1
                key = response.json().get("patient_keys") or response.json().get("patient_key")
                print_line(f"demo: posted {path.stem} -> accepted, patient {key}")
            else:
                print_line(f"demo: posted {path.stem} -> {response.status_code} "
                           f"{response.text[:200]}")
    print_line(f"demo: {accepted} of {len(demo_bundles())} sample patients accepted; "
               "alerts follow as the evaluator decides")
    return accepted
