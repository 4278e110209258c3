"""Accepted updates lost when each service and the broker are killed during a burst.

Usage: ``.venv/bin/python benchmarks/kills_during_burst.py [CHECKOUT_DIR]`` (about 3 min).
CHECKOUT_DIR defaults to this checkout; pass an export of an older commit
(``git archive COMMIT | tar -x -C DIR``) for a before figure. Runs that checkout's
``trialwatch run``, posts 40 patients x 10 updates from 8 clients (each re-sent until 202),
SIGKILLs the evaluator, intake, audit and the broker at 15, 35, 55 and 75 % of the burst,
starts ``run`` again whenever it has stopped (as a user would), then stops and starts ``run``
once more (a whole-run restart) and counts, in the audit trail, the accepted updates decided
for every active trial (lost = accepted - decided) and repeats.
The same scenario is the e2e test ``tests/e2e/test_nothing_accepted_is_lost.py``.

``--kills SPEC`` replaces the kill schedule: comma-separated ``share:name`` with name one of
evaluator, intake, audit, tansu or launcher (SIGKILL of ``trialwatch run`` itself, whose
children die with it; it is started again as a user would). ``--kills harsh`` is the issue 14
probe's harder schedule: each service killed again while it is being restarted, the broker
killed again while it is being refilled, and the launcher killed mid-burst:
``0.10:evaluator,0.11:evaluator,0.30:tansu,0.31:tansu,0.50:launcher,0.65:audit,0.66:audit,
0.80:intake,0.81:intake``. ``--pause S`` is the wait after each kill (default 3 s; 0.3 s in
the harsh schedule, so the second kill lands during the restart).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

HARSH = ("0.10:evaluator,0.11:evaluator,0.30:tansu,0.31:tansu,0.50:launcher,0.65:audit,"
         "0.66:audit,0.80:intake,0.81:intake")
_options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
_options.add_argument("checkout", nargs="?", type=Path, default=Path(__file__).resolve().parents[1])
_options.add_argument("--kills", default="0.15:evaluator,0.35:intake,0.55:audit,0.75:tansu")
_options.add_argument("--pause", type=float, default=None)
_args = _options.parse_args()
CHECKOUT = _args.checkout
PATIENTS, UPDATES = 40, 10
_spec = HARSH if _args.kills == "harsh" else _args.kills
KILLS = tuple((float(share), name) for share, name in (k.split(":") for k in _spec.split(",")))
PAUSE_S = _args.pause if _args.pause is not None else (0.3 if _args.kills == "harsh" else 3.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bundle(patient: int, update: int, run_id: str) -> bytes:
    pid = f"burst-{run_id}-{patient}"
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"urn:uuid:{pid}", "resource": {
            "resourceType": "Patient", "id": pid,
            "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1",
                            "value": f"MRN-{run_id}-{patient}"}],
            "gender": "female", "birthDate": "1990-04-12"}},
        {"resource": {"resourceType": "Observation", "id": f"{pid}-plt-{update}", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
                      "subject": {"reference": f"urn:uuid:{pid}"},
                      "effectiveDateTime": days_ago(UPDATES - update),
                      "valueQuantity": {"value": 150 + update, "unit": "10*3/uL",
                                        "system": "http://unitsofmeasure.org",
                                        "code": "10*3/uL"}}}]}).encode()


def days_ago(days: int) -> str:
    """A time within the trials' 30-day lab window (NCT06920433 I6.1) whenever the benchmark
    runs, newer per update. Fixed dates (2026-11-01 + update) aged out of the window: from
    2 December the first two updates of every patient fell outside it, the second changed no
    decision and was counted lost (40 of 400 on 2026-12-03, all processed by the evaluator)."""
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)
    return when.isoformat().replace("+00:00", "Z")


def descendants(pid: int) -> set[int]:
    parents = {}
    for e in Path("/proc").iterdir():
        if e.name.isdigit():
            with contextlib.suppress(OSError):
                parents[int(e.name)] = int((e / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier}
        found |= frontier
    return found


def pid_of(launcher: int, name: str) -> int | None:
    if name == "launcher":
        return launcher
    for pid in descendants(launcher):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (name == "tansu" and cmd[0].endswith(b"tansu")) or (
                b"services.cli" in cmd and name.encode() in cmd):
            return pid
    return None


data_dir = Path(tempfile.mkdtemp()) / "var"
ports = {"intake": free_port(), "evaluator": free_port(), "audit": free_port()}
launcher: subprocess.Popen[bytes] | None = None


def start() -> None:
    global launcher
    launcher = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", "--data-dir", str(data_dir),
         "--intake-port", str(ports["intake"]), "--evaluator-port", str(ports["evaluator"]),
         "--audit-port", str(ports["audit"])], cwd=CHECKOUT,
        stdout=open(data_dir.parent / "run.out", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(CHECKOUT)})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if all(httpx.get(f"http://127.0.0.1:{p}/readyz", timeout=1).status_code == 200
                   for p in ports.values()):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("not up")


def restart_if_stopped() -> None:
    assert launcher is not None
    if launcher.poll() is not None:
        print("launcher stopped: starting `trialwatch run` again", flush=True)
        start()


data_dir.mkdir(parents=True)
start()
tokens = {v["role"]: t for t, v in json.loads((data_dir / "dev-tokens.json").read_text()).items()}
intake = f"http://127.0.0.1:{ports['intake']}"
audit = f"http://127.0.0.1:{ports['audit']}"
run_id = uuid.uuid4().hex[:8]
accepted: list[str] = []
give_up = time.monotonic() + 900


def feed(patient: int) -> None:
    headers = {"Authorization": f"Bearer {tokens['lab-system']}",
               "Content-Type": "application/fhir+json"}
    for update in range(UPDATES):
        while time.monotonic() < give_up:
            try:
                r = httpx.post(f"{intake}/fhir", content=bundle(patient, update, run_id),
                               headers=headers, timeout=10)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            if r.status_code == 202:
                accepted.extend(str(e) for e in r.json()["event_ids"])
                break
            time.sleep(0.2)


stop_watch = threading.Event()


def watch() -> None:
    while not stop_watch.is_set():
        restart_if_stopped()
        time.sleep(0.5)


threading.Thread(target=watch, daemon=True).start()
total = PATIENTS * UPDATES
with ThreadPoolExecutor(max_workers=8) as pool:
    futures = [pool.submit(feed, p) for p in range(PATIENTS)]
    for share, name in KILLS:
        while len(accepted) < share * total:
            time.sleep(0.02)
        victim = None
        while victim is None:
            assert launcher is not None
            victim = pid_of(launcher.pid, name)
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
        print(f"killed {name} at {len(accepted)} accepted "
              f"(load average {os.getloadavg()[0]:.2f})", flush=True)
        time.sleep(PAUSE_S)
    for f in futures:
        f.result()
stop_watch.set()
# The old launcher does not notice a dead broker: the user stops it and starts it again.
assert launcher is not None
launcher.send_signal(signal.SIGINT)
launcher.wait(60)
start()
expected = set(accepted)
deadline = time.monotonic() + 120
while True:
    records, cursor = [], None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{audit}/decisions", params=params, timeout=30,
                         headers={"Authorization": f"Bearer {tokens['auditor']}"}).json()
        records += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    per = Counter((r["causation_id"], r["trial_id"]) for r in records
                  if r["causation_id"] in expected)
    trials = {t for _, t in per} or {"?"}
    decided = sum(all((e, t) in per for t in trials) for e in expected)
    if decided == len(expected) or time.monotonic() > deadline:
        break
    time.sleep(2)
print(f"accepted={len(expected)} decided={decided} lost={len(expected) - decided} "
      f"duplicated={sum(n - 1 for n in per.values())} trials={len(trials)} "
      f"kills={_spec} load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
launcher.send_signal(signal.SIGINT)
launcher.wait(60)
