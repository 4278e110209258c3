"""Nothing accepted is lost: SIGKILL each service and the broker of ``trialwatch run`` during a
burst of updates, then count that every update answered 202 was decided exactly once.

Each update is a newer platelet count, which NCT06920433 reads (I6.1): its decision changes
with every update, so every accepted update must show up as exactly one NCT06920433 decision
caused by it. The other trials read no platelet count; an update leaves their standing decision
in place and writes none for them (docs/evaluator.md "Only changed decisions are written"), so
for them the count is one standing decision per patient and trial, and never two decisions
for one update.

The embedded broker keeps its records in memory; the launcher restarts a killed service while
the broker keeps running, and refills a restarted broker from the services' outboxes. Figures
(accepted, decided, lost, duplicated) are printed; ``pytest -s`` shows them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.pipeline import REPO as REPO_ROOT
from tests.e2e.pipeline import (
    descendants,
    poll,
    read_until,
    start_run,
    tokens_by_role,
)

pytestmark = pytest.mark.e2e

PATIENTS = 40
UPDATES_PER_PATIENT = 10
# (share of the burst accepted, process killed): each service, then the broker.
KILLS = ((0.15, "evaluator"), (0.35, "intake"), (0.55, "audit"), (0.75, "tansu"))
RESTARTED = "running again"  # what the launcher prints once a restarted process is ready
READS_PLATELETS = "NCT06920433"  # I6.1 platelets >= 20 x10^9/L within 30 days


def bundle(patient: int, update: int, run_id: str) -> bytes:
    """One platelet count for one patient, as a lab sends it (FHIR R4 Bundle, Patient +
    Observation); each update a new Observation id, so intake accepts it as new data."""
    patient_id = f"burst-{run_id}-{patient}"
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"urn:uuid:{patient_id}", "resource": {
            "resourceType": "Patient", "id": patient_id,
            "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1",
                            "value": f"MRN-{run_id}-{patient}"}],
            "gender": "female", "birthDate": "1990-04-12"}},
        {"resource": {
            "resourceType": "Observation", "id": f"{patient_id}-plt-{update}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
            "subject": {"reference": f"urn:uuid:{patient_id}"},
            "effectiveDateTime": _days_ago(UPDATES_PER_PATIENT - update),
            "valueQuantity": {"value": 150 + update, "unit": "10*3/uL",
                              "system": "http://unitsofmeasure.org", "code": "10*3/uL"}}},
    ]}).encode()


def _days_ago(days: int) -> str:
    """A time within the trials' 30-day lab window whenever the test runs, newer per update."""
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)
    return when.isoformat().replace("+00:00", "Z")


class Output:
    """The launcher's terminal, read on a thread so its pipe never fills."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._process = process
        self._thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line.rstrip("\n"))

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)


def pid_of(launcher: int, name: str) -> int:
    for pid in descendants(launcher):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (name == "tansu" and command[0].endswith(b"tansu")) or (
                b"services.cli" in command and name.encode() in command):
            return pid
    raise AssertionError(f"no running {name} below the launcher")


def post_until_accepted(url: str, token: str, body: bytes, give_up_at: float) -> list[str]:
    """Post until intake answers 202 (a re-send of the same content returns the original
    receipt); returns the accepted event ids, [] if intake never accepted it in time."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    while time.monotonic() < give_up_at:
        try:
            response = httpx.post(f"{url}/fhir", content=body, headers=headers, timeout=10)
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if response.status_code == 202:
            return [str(e) for e in response.json()["event_ids"]]
        assert response.status_code >= 500, f"refused: {response.status_code} {response.text}"
        time.sleep(0.2)
    return []


def audit_records(url: str, token: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{url}/decisions", params=params, timeout=30,
                         headers={"Authorization": f"Bearer {token}"}).json()
        records += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return records


def test_sigkill_of_each_service_and_of_the_broker_during_a_burst_loses_no_accepted_update(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    process, ports = start_run(data_dir)
    output = Output(process)
    try:
        read_until(process, "Ctrl-C stops everything", timeout_s=120)
        output.start()
        tokens = tokens_by_role(data_dir / "dev-tokens.json")
        intake = f"http://127.0.0.1:{ports['intake']}"
        audit = f"http://127.0.0.1:{ports['audit']}"
        total = PATIENTS * UPDATES_PER_PATIENT
        run_id = uuid.uuid4().hex[:8]
        # One patient's updates in order (one worker each), several patients at once.
        accepted: list[str] = []
        give_up_at = time.monotonic() + 600

        def feed(patient: int) -> None:
            for update in range(UPDATES_PER_PATIENT):
                accepted.extend(post_until_accepted(
                    intake, tokens["lab-system"], bundle(patient, update, run_id),
                    give_up_at))

        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(feed, p) for p in range(PATIENTS)]
            for share, name in KILLS:
                assert poll(lambda s=share: len(accepted) >= s * total, timeout_s=300,
                            interval_s=0.02), f"burst stalled at {len(accepted)} before {name}"
                victim = pid_of(process.pid, name)
                os.kill(victim, signal.SIGKILL)
                before = output.count(RESTARTED)
                assert poll(lambda b=before: output.count(RESTARTED) > b, timeout_s=120), \
                    f"{name} not back:\n" + "\n".join(output.lines[-20:])
            for future in futures:
                future.result()

        expected = Counter(accepted)
        assert len(expected) == total, "each update is one event, accepted once"

        def by_event(records: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
            return Counter((r["causation_id"], r["trial_id"]) for r in records
                           if r["causation_id"] in expected)

        def all_decided() -> list[dict[str, Any]] | None:
            records = audit_records(audit, tokens["auditor"])
            per_event = by_event(records)
            return records if all((e, READS_PLATELETS) in per_event for e in expected) else None

        records = poll(all_decided, timeout_s=180, interval_s=1.0) or \
            audit_records(audit, tokens["auditor"])
        # Exactly once: one decision of the platelet-reading trial per accepted event, never a
        # second decision of any trial for one event, and a standing decision of every trial
        # for every patient.
        per_decision = by_event(records)
        trials = {r["trial_id"] for r in records}
        standing = {(r["patient_key"], r["trial_id"]) for r in records
                    if r["causation_id"] in expected}
        patients = {r["patient_key"] for r in records if r["causation_id"] in expected}
        decided = sum((event, READS_PLATELETS) in per_decision for event in expected)
        lost = total - decided
        undecided = len(patients) * len(trials) - len(standing)
        duplicated = sum(n - 1 for n in per_decision.values())
        print(f"\naccepted={total} decided={decided} lost={lost} duplicated={duplicated} "
              f"patients={len(patients)} without a standing decision={undecided} "
              f"(trials: {len(trials)}; decisions of the others: "
              f"{sum(n for (_, t), n in per_decision.items() if t != READS_PLATELETS)}; "
              f"kills: {', '.join(name for _, name in KILLS)})")
        for line in output.lines:
            if "stopped unexpectedly" in line or "running again" in line or "replaying" in line:
                print("  terminal:", line)
        assert READS_PLATELETS in trials
        assert len(trials) >= 3
        assert len(patients) == PATIENTS
        assert lost == 0
        assert undecided == 0
        assert duplicated == 0
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


RESTART_PATIENTS = 20
RESTART_UPDATES = 6


def test_sigkill_of_trialwatch_run_itself_then_a_new_run_loses_no_accepted_update(
    tmp_path: Path,
) -> None:
    """A restart of the whole run (issue 14 section 1): ``trialwatch run`` itself is SIGKILLed
    mid-burst, which takes the in-memory broker, every service and whatever the broker held
    but no consumer had applied; a user starts ``run`` again on the same data directory and
    the burst goes on. Every update answered 202 before or after must be decided exactly once:
    the new run refills its fresh broker from intake's and the evaluator's outboxes."""
    data_dir = tmp_path / "var"
    total = RESTART_PATIENTS * RESTART_UPDATES
    run_id = uuid.uuid4().hex[:8]
    accepted: list[str] = []
    give_up_at = time.monotonic() + 600
    process, ports = start_run(data_dir)
    runs = [process]
    try:
        read_until(process, "Ctrl-C stops everything", timeout_s=120)
        Output(process).start()  # keeps the terminal's pipe from filling
        tokens = tokens_by_role(data_dir / "dev-tokens.json")
        intake = f"http://127.0.0.1:{ports['intake']}"
        audit = f"http://127.0.0.1:{ports['audit']}"

        def feed(patient: int) -> None:
            for update in range(RESTART_UPDATES):
                accepted.extend(post_until_accepted(
                    intake, tokens["lab-system"], bundle(patient, update, run_id), give_up_at))

        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(feed, p) for p in range(RESTART_PATIENTS)]
            assert poll(lambda: len(accepted) >= 0.4 * total, timeout_s=300, interval_s=0.02), \
                f"burst stalled at {len(accepted)}"
            children = descendants(process.pid)
            process.kill()  # SIGKILL of the launcher: its children die with it (PDEATHSIG)
            process.wait(30)
            assert poll(lambda: not any(Path(f"/proc/{pid}").exists() for pid in children),
                        timeout_s=60), "the killed run's children outlived it"
            # the same ports and data directory, as a user would start it again
            process = subprocess.Popen(
                [*process.args], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
            runs.append(process)
            read_until(process, "Ctrl-C stops everything", timeout_s=180)
            Output(process).start()
            for future in futures:
                future.result()
        assert len(set(accepted)) == total, "each update is one event, accepted once"
        expected = set(accepted)

        def per_event() -> Counter[tuple[str, str]]:
            return Counter((r["causation_id"], r["trial_id"])
                           for r in audit_records(audit, tokens["auditor"])
                           if r["causation_id"] in expected)

        poll(lambda: all((e, READS_PLATELETS) in per_event() for e in expected),
             timeout_s=180, interval_s=2.0)
        decisions = per_event()
        lost = sum((e, READS_PLATELETS) not in decisions for e in expected)
        duplicated = sum(n - 1 for n in decisions.values())
        print(f"\nwhole-run restart: accepted={total} lost={lost} duplicated={duplicated}")
        assert lost == 0
        assert duplicated == 0
    finally:
        for run in runs:
            if run.poll() is None:
                run.send_signal(signal.SIGINT)
                run.wait(60)
