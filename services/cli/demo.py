"""``run --demo``: post the sample patients in ``demo_patients/`` to intake, as a lab would.

Each sample bundle was written for the instant in its ``Bundle.timestamp``. At feed time every
clinical date is moved forward by (now - that instant), so look-back windows and washouts mean
the same thing today as when the sample was written; birth dates stay put (patients only get
older). Resource ids and identifiers get a per-run suffix, so a second ``run --demo`` creates new
patients instead of being recognised by intake as a re-send.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from shared.infra.clock import utc_now

DEMO_DIR = Path(__file__).parent / "demo_patients"
_UNSHIFTED = {"birthDate", "timestamp"}
_ID_KEYS = {"id", "value", "reference", "fullUrl"}


def demo_bundles() -> list[Path]:
    return sorted(DEMO_DIR.glob("*.json"))


def prepare(bundle: dict[str, Any], now: datetime, run_id: str) -> dict[str, Any]:
    """The bundle with clinical dates rebased to ``now`` and ids made unique to ``run_id``."""
    shift = now - datetime.fromisoformat(bundle["timestamp"])
    return dict(_walk(bundle, shift, run_id, key=""))


def _walk(node: Any, shift: timedelta, run_id: str, key: str) -> Any:
    if isinstance(node, dict):
        return {k: _walk(v, shift, run_id, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, shift, run_id, key) for v in node]
    if isinstance(node, str) and key not in _UNSHIFTED:
        shifted = _shift_time(node, shift)
        if shifted is not None:
            return shifted
        if key in _ID_KEYS and "demo-" in node:
            return node.replace("demo-", f"demo-{run_id}-")
    return node


def _shift_time(value: str, shift: timedelta) -> str | None:
    if len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return (date.fromisoformat(value) + timedelta(days=shift.days)).isoformat()
        except ValueError:
            return None
    if len(value) >= 20 and value[4] == "-" and value[10] == "T":
        try:
            moved = datetime.fromisoformat(value) + shift
        except ValueError:
            return None
        return moved.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return None


async def feed(intake_url: str, token: str, print_line: Callable[[str], None]) -> int:
    """Post every sample bundle; returns how many intake accepted."""
    accepted = 0
    run_id = uuid.uuid4().hex[:6]
    now = utc_now()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    async with httpx.AsyncClient(base_url=intake_url, headers=headers, timeout=10) as client:
        for path in demo_bundles():
            bundle = prepare(json.loads(path.read_text()), now, run_id)
            response = await client.post("/fhir", content=json.dumps(bundle))
            if response.status_code == 202:
                accepted += 1
                keys = ", ".join(response.json().get("patient_keys", []))
                print_line(f"demo: {path.stem} accepted as patient {keys}")
            else:
                print_line(f"demo: {path.stem} refused: {response.status_code} "
                           f"{response.text[:300]}")
    print_line(f"demo: {accepted} of {len(demo_bundles())} sample patients accepted; "
               "alerts follow as the evaluator decides")
    return accepted
