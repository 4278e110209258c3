"""Evaluations per second of the full NCT06920433 trial for a realistic patient (not a test).

The patient is the eligible vignette merged with a Synthea bundle of a few hundred resources
(or, without ../shared/data, with synthetic vitals), so the index holds several hundred facts.
Scenarios: full evaluation (index build + every criterion), evaluation on a pre-built index,
re-evaluation after one new laboratory result (``index.with_facts`` + evaluation, full and
incremental), time-only re-evaluation, the index build alone, and one new result added to a
record of 5,000 more results (``with_facts`` should not grow with the record).

Each scenario prints evaluations per second of wall-clock and of CPU time (the one-core figure
when other processes share the machine) and the p50/p99 of a single evaluation, in
microseconds, by wall clock and by this thread's CPU time. Pin it to one core:

    taskset -c 0 /work/.venv/bin/python benchmarks/bench_engine.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
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
from shared.eligibility.version import ENGINE_VERSION  # noqa: E402
from tests.unit.eligibility.fhir_builder import AS_OF, eligible_patient  # noqa: E402

SYNTHEA = REPO.parent / "shared" / "data" / "fhir-synthea"


def realistic_patient() -> PatientFacts:
    vignette = facts_from_updates(parse_fhir(eligible_patient().bundle(), source_system="bench"))
    extra: list[ClinicalFact] = []
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


@dataclass(frozen=True)
class Figures:
    wall_rate: float
    cpu_rate: float
    wall_p50: float
    wall_p99: float
    cpu_p50: float
    cpu_p99: float


def _percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def measure(fn: Callable[[], object], seconds: float) -> Figures:
    """Each call timed by wall clock and by this thread's CPU clock."""
    for _ in range(20):
        fn()
    wall_ns: list[int] = []
    cpu_ns: list[int] = []
    perf, thread = time.perf_counter_ns, time.thread_time_ns
    start, cpu_start = time.perf_counter(), time.process_time()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            w0, c0 = perf(), thread()
            fn()
            c1, w1 = thread(), perf()
            wall_ns.append(w1 - w0)
            cpu_ns.append(c1 - c0)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    wall_ns.sort()
    cpu_ns.sort()
    count = len(wall_ns)
    return Figures(
        count / elapsed,
        count / cpu,
        _percentile(wall_ns, 0.5),
        _percentile(wall_ns, 0.99),
        _percentile(cpu_ns, 0.5),
        _percentile(cpu_ns, 0.99),
    )


RESULTS: dict[str, dict[str, float]] = {}
RAW_PASS = "raw ceiling: one pass over every fact (time, code)"


def show(label: str, f: Figures) -> None:
    RESULTS[label] = asdict(f)
    print(
        f"{label:<52} {f.cpu_rate:>8,.0f} {f.wall_rate:>8,.0f}"
        f" {f.cpu_p50:>8,.1f} {f.cpu_p99:>8,.1f} {f.wall_p50:>8,.1f} {f.wall_p99:>8,.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
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
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(
        f"{ENGINE_VERSION}; Python {platform.python_version()}; cores allowed {cores};"
        f" load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"patient: {len(patient.facts)} facts; {len(trial.criteria)} criteria;", end=" ")
    print(f"status {decision.status.value}")
    print(
        f"{'scenario':<52} {'eval/s':>8} {'eval/s':>8} {'p50 us':>8} {'p99 us':>8}"
        f" {'p50 us':>8} {'p99 us':>8}"
    )
    print(f"{'':<52} {'CPU':>8} {'wall':>8} {'CPU':>8} {'CPU':>8} {'wall':>8} {'wall':>8}")
    _, state = evaluate_incremental(trial, index, AS_OF, None)
    later = AS_OF + timedelta(hours=1)
    show(
        "full evaluation (index build + all criteria)",
        measure(lambda: evaluate(trial, patient, AS_OF), args.seconds),
    )
    show(
        "evaluation on a pre-built index",
        measure(lambda: evaluate_index(trial, index, AS_OF), args.seconds),
    )
    for name, fact in (("platelet count", platelets), ("ALT", alt)):
        show(
            f"one new {name}: with_facts + full evaluation",
            measure(
                lambda f=fact: evaluate_index(trial, index.with_facts([f]), later), args.seconds
            ),
        )
        show(
            f"one new {name}: with_facts + incremental",
            measure(
                lambda f=fact: evaluate_incremental(trial, index.with_facts([f]), later, state),
                args.seconds,
            ),
        )
    series = [state, index]

    def one_more() -> None:
        # the evaluator's pattern: each result evaluated from the state the last one left
        # (the same platelet count sent again, so the index stays the same size)
        newer = series[1].with_facts([platelets])
        series[0] = evaluate_incremental(trial, newer, later, series[0])[1]
        series[1] = newer

    show("platelet counts in a series: with_facts + incremental", measure(one_more, args.seconds))
    lvef = one_new("10230-1", 55, "%")  # read by NCT06946485 only
    show(
        "one new LVEF (another trial's): with_facts + incremental",
        measure(lambda: evaluate_incremental(trial, index.with_facts([lvef]), later, state),
                args.seconds),
    )
    # a site screens every new result against each active trial: the three shipped trials
    trials = [trial, *(load_trial(t) for t in ("NCT06946485", "TRIALX-323795"))]
    states = [evaluate_incremental(t, index, AS_OF, None)[1] for t in trials]

    def all_trials(fact: ClinicalFact) -> None:
        newer = index.with_facts([fact])
        for t, s in zip(trials, states, strict=True):
            evaluate_incremental(t, newer, later, s)

    for name, fact in (("ALT", alt), ("LVEF", lvef)):
        show(
            f"one new {name}: with_facts + incremental, 3 trials",
            measure(lambda f=fact: all_trials(f), args.seconds),
        )
    show(
        "time-only re-evaluation (+1 h), incremental",
        measure(lambda: evaluate_incremental(trial, index, later, state), args.seconds),
    )
    show("index build alone", measure(lambda: build_index(trial, patient), args.seconds))
    # growth: the same new result added to a record of years of results (5,000 more platelet
    # counts, one a day): with_facts edits persistent maps, so it should not grow with the record
    long_record = PatientFacts(demographics=patient.demographics, facts=patient.facts + tuple(
        platelets.model_copy(update={
            "fact_id": f"history-{n}",
            "effective_start": (platelets.effective_start or AS_OF) - timedelta(days=n + 2),
        })
        for n in range(5000)
    ))
    # (not ``platelets`` itself: it and ``alt`` share a fact id, one replaces the other)
    long_index = build_index(trial, long_record)
    _, long_state = evaluate_incremental(trial, long_index, AS_OF, None)
    show("record +5,000 results: new ALT, with_facts",
         measure(lambda: long_index.with_facts([alt]), args.seconds))
    show("record +5,000 results: new ALT, with_facts + incr.",
         measure(lambda: evaluate_incremental(trial, long_index.with_facts([alt]), later,
                                              long_state), args.seconds))
    facts = patient.facts

    def one_pass() -> None:
        # the raw ceiling: the least any evaluation must do, reading each fact's time and code
        for fact in facts:
            _ = (fact.effective_start or fact.effective_end, fact.codes[0].code if fact.codes
                 else None)

    show(RAW_PASS, measure(one_pass, args.seconds))
    if args.json:
        args.json.write_text(json.dumps({"facts": len(patient.facts), "scenarios": RESULTS}))


if __name__ == "__main__":
    main()
