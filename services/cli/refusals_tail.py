"""Print each submission intake refuses, one line, on the terminal of ``trialwatch run``.

Intake logs every refusal as ``submission_refused`` (``services/intake/adapters/telemetry.py``:
status, kind, number of problems, the first problem's path and its reason without the sent
text); ``run`` writes intake's log to ``<data dir>/logs/intake.log`` and this reads the lines
added to it. A fresh user posting a wrong message saw the 422 in curl and nothing in the
terminal that runs the pipeline. No patient key, no sent value: the terminal can be shown.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path


def refusal_line(raw: str) -> str | None:
    """The terminal line for one JSON log line of intake, when it is a refusal, else None:
    ``REFUSED fhir-r4 submission (422 invalid-clinical-input): Observation.valueQuantity.value:
    '…' is not a FHIR R4 decimal ... (+2 more problems in the answer)``."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("event") != "submission_refused":
        return None
    text = (f"REFUSED {entry.get('format')} submission ({entry.get('status')}"
            f" {entry.get('kind')})")
    if entry.get("first_path"):
        text += f": {entry['first_path']}: {entry.get('first_reason')}"
    more = int(entry.get("problems") or 0) - 1
    if more > 0:
        text += f" (+{more} more problem{'s' * (more != 1)} in the answer)"
    return text


def _size(log: Path) -> int | None:
    try:
        return log.stat().st_size
    except FileNotFoundError:
        return None


def _read(log: Path, start: int, end: int) -> bytes:
    with log.open("rb") as handle:
        handle.seek(start)
        return handle.read(end - start)


async def tail_refusals(log: Path, print_line: Callable[[str], None],
                        poll_s: float = 0.5) -> None:
    """Print :func:`refusal_line` of every line added to ``log`` from now on, across the log
    being replaced or truncated (a restarted service starts writing where it is)."""
    position = await asyncio.to_thread(_size, log) or 0
    pending = b""
    while True:
        await asyncio.sleep(poll_s)
        size = await asyncio.to_thread(_size, log)
        if size is None:
            continue
        if size < position:  # truncated or replaced: read it from its start
            position, pending = 0, b""
        if size == position:
            continue
        chunk = await asyncio.to_thread(_read, log, position, size)
        position += len(chunk)
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            said = refusal_line(line.decode("utf-8", "replace"))
            if said is not None:
                print_line(said)
