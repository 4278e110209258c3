"""Where an auditor's last intact verification ended, kept in a small JSON file so the next
``trialwatch audit verify`` resumes there (``core.verify``).

The file names a checkpoint by sequence and digest; a resumed walk starts there only while that
checkpoint is still trusted (signed, present), so editing the file cannot make a walk skip
records no earlier walk verified. Keep it where the audit host cannot write, beside the public
key, so it cannot be moved back either.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from services.audit.core.chain_walk import VerifiedThrough
from shared.time import iso_z


def read_verified(path: Path) -> VerifiedThrough | None:
    """None when there is no file or it cannot be read (the walk is then a full one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        recorded_at = data.get("recorded_at")
        return VerifiedThrough(
            sequence=int(data["sequence"]), digest=str(data["digest"]),
            signed_since=None if data.get("signed_since") is None else int(data["signed_since"]),
            recorded_at=datetime.fromisoformat(recorded_at) if recorded_at else None)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_verified(path: Path, verified: VerifiedThrough) -> None:
    """Replace the file atomically (temporary name, synced, renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    body = {"sequence": verified.sequence, "digest": verified.digest,
            "signed_since": verified.signed_since,
            "recorded_at": iso_z(verified.recorded_at) if verified.recorded_at else None}
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(json.dumps(body, indent=2) + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
