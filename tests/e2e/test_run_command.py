"""The README's run command as a newcomer drives it: up, curl, decision, Ctrl-C, nothing left."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from tests.e2e.pipeline import (
    alive,
    decisions_for,
    descendants,
    interrupt,
    poll,
    post_example,
    read_until,
    start_run,
    tokens_by_role,
)

pytestmark = pytest.mark.e2e


def test_run_demo_brings_the_pipeline_up_decides_a_posted_observation_and_alerts(
    tmp_path: Path,
) -> None:
    # a data directory an older version left readable to others (issue 14 section 5: intake.db
    # maps surrogate keys to MRNs): run takes it back, and what it writes later is private too
    (tmp_path / "var").mkdir(mode=0o755)
    (tmp_path / "var").chmod(0o755)
    process, ports = start_run(tmp_path / "var", extra=("--demo",))
    try:
        banner = read_until(process, "Ctrl-C stops everything", timeout_s=90)
        assert any(f"127.0.0.1:{ports['intake']}" in line for line in banner)
        # each service says when it is ready, before the banner (fresh user: silent start)
        assert {s for s in ("intake", "evaluator", "audit")
                if any(line.startswith(f"{s} ready (") for line in banner)} == {
            "intake", "evaluator", "audit"}, banner
        children = descendants(process.pid)
        assert len(children) >= 4, "broker + three services expected"
        tokens = tokens_by_role(tmp_path / "var" / "dev-tokens.json")

        posted_at = time.monotonic()
        receipt = post_example(f"http://127.0.0.1:{ports['intake']}", tokens["lab-system"])
        [patient_key] = receipt["patient_keys"]
        decisions = poll(lambda: decisions_for(f"http://127.0.0.1:{ports['audit']}",
                                               tokens["auditor"], patient_key), timeout_s=10)
        elapsed = time.monotonic() - posted_at
        assert decisions, "no decision reached the audit API within 10 s"
        # the latency goal (2 s) is a benchmark figure (benchmarks/bench_evaluator.py), not a
        # timed assertion: it is printed here for the log, and the bound above is functional
        print(f"README curl -> decision visible in audit: {elapsed:.2f}s")
        assert {d["patient_key"] for d in decisions} == {patient_key}
        assert all(d["status"] != "eligible" for d in decisions)  # one platelet count is not enough

        # --demo: the eligible sample patient's alert reaches the terminal, once.
        seen = read_until(process, "sample patients accepted", timeout_s=30)
        assert "demo: 4 of 4 sample patients accepted" in seen[-1]
        if not any("ALERT NEWLY ELIGIBLE" in line for line in seen):
            seen += read_until(process, "ALERT NEWLY ELIGIBLE", timeout_s=30)
        # the terminal says what the pipeline did, in counts, never naming a patient (fresh
        # user: silent after the banner while patients were read and screened)
        if not any(line.startswith("progress:") and "alert raised (" in line for line in seen):
            seen += read_until(process, "alert raised (", timeout_s=30)
        progress = [line for line in seen if line.startswith("progress:")]
        assert progress, seen
        assert "screening decisions made" in progress[-1], progress
        assert "1 newly eligible" in progress[-1], progress
        assert not any("pt_" in line for line in progress), progress
    finally:
        exit_code = interrupt(process)
    assert exit_code == 0
    time.sleep(0.2)
    assert [pid for pid in children if alive(pid)] == [], "Ctrl-C left processes behind"
    written = [tmp_path / "var", *(tmp_path / "var").rglob("*")]
    assert {p.name for p in written} >= {"intake.db", "evaluator.db", "audit.db", "logs",
                                         "dev-tokens.json", "evaluator-signing-key.pem"}
    assert {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.lstat().st_mode)) for p in written
            if not p.is_symlink()
            and stat.S_IMODE(p.lstat().st_mode) != (0o700 if p.is_dir() else 0o600)} == {}
