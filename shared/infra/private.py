"""The data directory is private: intake.db maps surrogate keys back to MRNs.

``restrict_to_owner`` makes the directory 0700 and every file below it 0600 (databases,
their WAL and journal files, logs, checkpoints, keys, dev tokens), and sets the process umask
to 077 so files created later by this process and its children are private from the start.
"""

from __future__ import annotations

import os
from pathlib import Path


def restrict_to_owner(data_dir: Path) -> None:
    os.umask(0o077)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    data_dir.chmod(0o700)
    for path in data_dir.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod(0o700 if path.is_dir() else 0o600)
