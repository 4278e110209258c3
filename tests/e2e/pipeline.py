"""Helpers to drive the real pipeline: processes, ports, HTTP polling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from shared.infra.embedded_broker import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_OBSERVATION = REPO / "docs" / "examples" / "observation.json"


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren...), read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return state.exists() and state.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def poll(fetch: Callable[[], Any], timeout_s: float, interval_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = fetch()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval_s)


def post_example(intake_url: str, token: str) -> dict[str, Any]:
    response = httpx.post(
        f"{intake_url}/fhir", content=EXAMPLE_OBSERVATION.read_bytes(), timeout=10,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def decisions_for(audit_url: str, token: str, patient_key: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{audit_url}/decisions", params={"patient_key": patient_key},
                         headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def tokens_by_role(tokens_file: Path) -> dict[str, str]:
    return {v["role"]: t for t, v in json.loads(tokens_file.read_text()).items()}


def start_run(
    data_dir: Path, extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[str], dict[str, int]]:
    ports = {"intake": free_port(), "evaluator": free_port(), "audit": free_port()}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", "--data-dir", str(data_dir),
         "--intake-port", str(ports["intake"]), "--evaluator-port", str(ports["evaluator"]),
         "--audit-port", str(ports["audit"]), *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return process, ports


def read_until(process: subprocess.Popen[str], marker: str, timeout_s: float) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} not seen in {timeout_s}s; output:\n" + "\n".join(lines))


def interrupt(process: subprocess.Popen[str], timeout_s: float = 30) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout_s)
