"""The default ``trialwatch run`` screens three real trials; an admin validates, adds,
activates and retires a trial version over HTTP while it runs, with no restart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from shared.eligibility.loader import TRIALS_DIR
from tests.e2e.pipeline import decisions_for, default_run, poll, post_example

pytestmark = pytest.mark.e2e
THREE = {"NCT06920433", "NCT06946485", "TRIALX-323795"}


def test_three_trials_screen_by_default_and_a_version_is_added_activated_and_retired_live(
    tmp_path: Path,
) -> None:
    with default_run(tmp_path / "var") as run:
        tokens, audit, evaluator, admin = run.tokens, run.audit, run.evaluator, run.admin

        receipt = post_example(run.intake, tokens["lab-system"])
        [patient] = receipt["patient_keys"]
        first = poll(lambda: (lambda d: d if {x["trial_id"] for x in d} >= THREE else None)(
            decisions_for(audit, tokens["auditor"], patient)), timeout_s=30)
        assert first, "decisions for all three trials did not reach the audit API"
        assert all(d["trial_content_hash"].startswith("sha256:") for d in first)

        text = (TRIALS_DIR / "NCT06946485" / "2025-10-03.1.yaml").read_text(encoding="utf-8")
        broken = text.replace("concept: leukocytes", "concept: leukocytez")
        problems = httpx.post(f"{evaluator}/trials/validate", content=broken.encode(),
                              headers={**admin, "content-type": "application/yaml"}, timeout=10)
        assert problems.status_code == 200
        assert {p["criterion"] for p in problems.json()} == {"I6", "I6.1"}
        refused = httpx.post(f"{evaluator}/trials", content=broken.encode(),
                             headers={**admin, "content-type": "application/yaml"}, timeout=10)
        assert refused.status_code == 422

        # .9: a version no shipped file uses (shipped: .1, and .2 with the dose primitive)
        amended = text.replace('version: "2025-10-03.1"', 'version: "2025-10-03.9"')
        added = httpx.post(f"{evaluator}/trials", content=amended.encode(),
                           headers={**admin, "content-type": "application/yaml"}, timeout=10)
        assert added.status_code == 201, added.text
        assert added.json()["trial"] == {"id": "NCT06946485", "version": "2025-10-03.9"}
        coordinator = {"Authorization": f"Bearer {tokens['coordinator']}"}
        assert httpx.post(f"{evaluator}/trials", content=amended.encode(),
                          headers=coordinator, timeout=10).status_code == 403

        activated = httpx.post(f"{evaluator}/trials/NCT06946485/versions/2025-10-03.9/activate",
                               headers=admin, timeout=10)
        assert activated.status_code == 202
        rescreened = poll(lambda: [d for d in decisions_for(audit, tokens["auditor"], patient)
                                   if d["trial_version"] == "2025-10-03.9"], timeout_s=30)
        assert rescreened, "the activation did not re-screen the known patient"
        change = rescreened[0]["registry_change"]
        assert change["action"] == "activate"
        assert change["actor"].startswith("api:")
        assert change["content_hash"] == added.json()["content_hash"]

        # the data dictionary covers the uploaded version now screened (issue 12 item 4)
        dictionary = httpx.get(f"{evaluator}/trials/dictionary", headers=admin, timeout=30)
        assert dictionary.status_code == 200, dictionary.text
        assert "## NCT06946485 — version 2025-10-03.9" in dictionary.text
        assert "## NCT06920433 — version " in dictionary.text
        assert "## Data elements shared between trials" in dictionary.text
        assert httpx.get(f"{evaluator}/trials/dictionary", headers=coordinator,
                         timeout=10).status_code == 403

        retired = httpx.post(f"{evaluator}/trials/NCT06946485/retire",
                             json={"reason": "enrolment complete"}, headers=admin, timeout=10)
        assert retired.status_code == 200, retired.text
        changes = httpx.get(f"{evaluator}/trials/changes", headers=admin, timeout=10).json()
        # the admin's own changes, newest first; the start-up folder sync of the shipped
        # versions ('folder') may still be recording its adds and activations meanwhile
        by_admin = [c for c in changes if str(c["actor"]).startswith("api:")]
        assert [(c["action"], c["version"]) for c in by_admin[:3]] == [
            ("retire", "2025-10-03.9"), ("activate", "2025-10-03.9"), ("add", "2025-10-03.9")]
        assert by_admin[0]["reason"] == "enrolment complete"
        after = httpx.get(f"{evaluator}/trials/dictionary", headers=admin, timeout=30).text
        assert "## NCT06946485 —" not in after, "a retired trial is not screened any more"
        time.sleep(0.2)
