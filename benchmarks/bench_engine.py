"""Evaluations per second of the full NCT06920433 trial for a realistic patient (not a test).

The patient is the eligible vignette merged with a Synthea bundle of a few hundred resources
(or, without ../shared/data, with synthetic vitals), so the index holds several hundred facts.
Figures: full evaluation (index build + every criterion), evaluation on a pre-built index, and
re-evaluation after one new laboratory result (index.with_facts + evaluation).

    /work/.venv/bin/python benchmarks/bench_engine.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.clinical.facts import ClinicalFact, PatientFacts  # noqa: E402
from shared.clinical.fhir import parse_fhir  # noqa: E402
from shared.clinical.state import facts_from_updates  # noqa: E402
from shared.eligibility.engine import (  # noqa: E402
    build_index,
    evaluate,
    evaluate_incremental,
    evaluate_index,
)
from shared.eligibility.loader import load_trial  # noqa: E402
from tests.unit.eligibility.fhir_builder import AS_OF, eligible_patient  # noqa: E402

SYNTHEA = REPO.parent / "shared" / "data" / "fhir-synthea"


def realistic_patient() -> PatientFacts:
    vignette = facts_from_updates(parse_fhir(eligible_patient().bundle(), source_system="bench"))
    extra: list = []
    bundles = sorted(SYNTHEA.glob("*.json")) if SYNTHEA.is_dir() else []
    sized = [(len(json.loads(p.read_text())["entry"]), p) for p in bundles]
    candidates = [p for n, p in sorted(sized) if 300 <= n <= 500]
    if candidates:
        updates = parse_fhir(json.loads(candidates[0].read_text()), source_system="synthea")
        extra = [f for u in updates for f in u.facts]
    else:
        builder = eligible_patient()
        for day in range(300):
            builder.lab("29463-7", 60 + day % 3, "kg", days=day + 5)
        extra = list(facts_from_updates(parse_fhir(builder.bundle(), source_system="filler")).facts)
    return PatientFacts(demographics=vignette.demographics, facts=vignette.facts + tuple(extra))


def rate(fn: Callable[[], object], seconds: float) -> tuple[float, float]:
    """(per wall-clock second, per CPU second of this process): the second is the one-core
    figure when other processes share the machine."""
    fn()
    count, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            fn()
        count += 50
    return count / elapsed, count / (time.process_time() - cpu_start)


def show(label: str, rates: tuple[float, float]) -> None:
    wall, cpu = rates
    print(
        f"{label + ':':<55} {wall:>8,.0f} /s wall  {cpu:>8,.0f} /s CPU  ({1e6 / cpu:,.0f} us CPU)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    trial = load_trial("NCT06920433")
    patient = realistic_patient()
    index = build_index(trial, patient)

    def one_new(code: str, value: float, unit: str) -> ClinicalFact:
        bundle = eligible_patient().lab(code, value, unit, days=0.5).bundle()
        fact = facts_from_updates(parse_fhir(bundle, source_system="bench-new")).facts[-1]
        assert fact.codes[0].code == code
        return fact

    platelets = one_new("777-3", 150, "10*9/L")  # read by I2 and I3 (scores) and I6/I6.1
    alt = one_new("1742-6", 35, "U/L")  # read by I6/I6.2 only
    decision = evaluate(trial, patient, AS_OF)
    print(f"patient: {len(patient.facts)} facts; {len(trial.criteria)} criteria;", end=" ")
    print(f"status {decision.status.value}")
    full = rate(lambda: evaluate(trial, patient, AS_OF), args.seconds)
    prebuilt = rate(lambda: evaluate_index(trial, index, AS_OF), args.seconds)
    _, state = evaluate_incremental(trial, index, AS_OF, None)
    later = AS_OF + timedelta(hours=1)
    show("full evaluation (index build + all criteria)", full)
    show("evaluation on a pre-built index", prebuilt)
    for name, fact in (("platelet count", platelets), ("ALT", alt)):
        show(
            f"re-evaluation after one new {name}, full",
            rate(lambda f=fact: evaluate_index(trial, index.with_facts([f]), later), args.seconds),
        )
        show(
            f"re-evaluation after one new {name}, incremental",
            rate(
                lambda f=fact: evaluate_incremental(trial, index.with_facts([f]), later, state),
                args.seconds,
            ),
        )
    show(
        "time-only re-evaluation (+1 h), incremental",
        rate(lambda: evaluate_incremental(trial, index, later, state), args.seconds),
    )
    show("index build alone", rate(lambda: build_index(trial, patient), args.seconds))


if __name__ == "__main__":
    main()
