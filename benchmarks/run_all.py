"""Run every benchmark in one go and print one table of the issue-13 goals (not a test).

Each ``bench_*.py`` script runs as its own process with ``--json FILE`` (its human output is
kept, under its own heading), then one table gives, per stage: the figure, its raw ceiling
measured in the same run (raw aiokafka produce, raw aiokafka consume+produce, raw
``executemany``), the ratio, the goal and whether it is met. Absolute figures depend on the
machine and its load (printed first); the ratios are what the goals are stated in.

    python benchmarks/run_all.py [--quick]

``--quick`` shrinks every script's sample so the whole run takes a minute or two on an idle
machine; the figures are noisier, the design (each figure beside its ceiling) the same.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# Script name -> (full arguments, quick arguments).
SCRIPTS: dict[str, tuple[list[str], list[str]]] = {
    "bench_engine": (["--seconds", "3"], ["--seconds", "0.5"]),
    "bench_evaluator": (["--events", "2000"], ["--events", "300", "--rate", "20"]),
    "bench_screening": (["--events", "30", "--patients", "1000,10000,100000"],
                        ["--events", "8", "--patients", "1000,10000", "--batches", "4"]),
    "bench_intake": (
        ["--requests", "2000", "--concurrency", "32"],
        ["--requests", "400", "--bundles", "20", "--concurrency", "32",
         "--raw-messages", "3000"],
    ),
    "bench_audit": (["--records", "2000"], ["--records", "500"]),
    "bench_import": ([], ["--bundles", "6"]),
    "bench_normaliser": ([], ["1"]),
    "bench_units": ([], ["--repeat", "2000"]),
}

ENGINE_FULL = "full evaluation (index build + all criteria)"
ENGINE_INCREMENTAL = "one new platelet count: with_facts + incremental"
ENGINE_RAW = "raw ceiling: one pass over every fact (time, code)"
ENGINE_INCREMENTAL_ROWS = (
    ("platelet count (read by I2, I3 scores and I6)", ENGINE_INCREMENTAL),
    ("ALT (read by I6 only)", "one new ALT: with_facts + incremental"),
    ("another trial's LVEF (not read)",
     "one new LVEF (another trial's): with_facts + incremental"),
)
"""(row label, bench_engine scenario): results the trial reads, then one it does not read."""
INTAKE_SINGLES = "single Observations, {n} clients"


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure, its raw ceiling from the same run and the goal.

    ``ratio`` is figure / ceiling when both exist; ``met`` is None when the row was not
    measured (the script failed or the stage does not exist yet).
    """

    stage: str
    figure: str
    ceiling: str
    ratio: str
    goal: str
    met: bool | None
    note: str = ""


def _rate(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}"


def _missing(stage: str, goal: str, why: str) -> Row:
    return Row(stage, "-", "-", "-", goal, None, why)


def build_rows(results: Mapping[str, Any]) -> list[Row]:
    """The goal table from the scripts' JSON figures (``results[script_name]``; a script that
    failed is absent). Pure: the unit test feeds it canned numbers."""
    rows: list[Row] = []
    engine = results.get("bench_engine")
    if engine:
        facts = engine.get("facts", "?")
        scenarios = engine["scenarios"]
        raw = scenarios.get(ENGINE_RAW, {}).get("cpu_rate")
        ceiling = _rate(raw, "passes/s") if raw else "-"

        def ratio(rate: float) -> str:
            return f"{rate / raw:.2%}" if raw else "-"

        full = scenarios[ENGINE_FULL]["cpu_rate"]
        rows.append(Row(f"engine full evaluation, {facts} facts, 1 core (CPU time)",
                        _rate(full, "eval/s"), ceiling, ratio(full), ">= 5,000/s", full >= 5000,
                        f"{5000 / full:.1f}x short" if full < 5000 else ""))
        for label, scenario in ENGINE_INCREMENTAL_ROWS:
            found = scenarios.get(scenario)
            if found is None:
                continue
            inc = found["cpu_rate"]
            rows.append(Row(f"engine after one new result, incremental: {label}",
                            _rate(inc, "eval/s"), ceiling, ratio(inc), ">= 20,000/s",
                            inc >= 20000, f"{20000 / inc:.1f}x short" if inc < 20000 else ""))
    else:
        rows.append(_missing("engine", ">= 5,000/s full, >= 20,000/s incremental", "no figures"))
    screening = results.get("bench_screening")
    if screening:
        trials = screening["trials"]
        one, thirty = trials["1 trial, incremental"], trials["30 trials, incremental"]
        ratio = trials["ratio_cpu"]
        rows.append(Row("evaluator, new result read by 1 trial: 30 trial versions vs 1 (CPU)",
                        f"{thirty['cpu_ms']:.1f} ms vs {one['cpu_ms']:.1f} ms per event",
                        "-", f"{ratio:.1f}x", "cost <= 2x one trial", ratio <= 2.0,
                        f"full evaluation: {trials['30 trials, full']['cpu_ms']:.1f} ms"))
    else:
        rows.append(_missing("evaluator, 30 trial versions vs 1, fact read by one trial",
                             "cost <= 2x one trial", "no figures"))
    evaluator = results.get("bench_evaluator")
    if evaluator:
        sustained, raw = evaluator["sustained"], evaluator["raw_batch"]
        ratio = sustained / raw
        rows.append(Row("evaluator sustained, SQLite, real engine",
                        _rate(sustained, "events/s"),
                        _rate(raw, "msg/s raw consume+produce (batch)"), f"{ratio:.1%}",
                        ">= 15% of raw", ratio >= 0.15,
                        f"{0.15 / ratio:.1f}x short" if ratio < 0.15 else ""))
        p99 = evaluator["p99_ms"]
        rows.append(Row(f"evaluator p99 event->decision at {evaluator['offered']:.0f} events/s",
                        f"{p99:.1f} ms", "-", "-", "<= 50 ms at half the 15% load",
                        p99 <= 50, f"offered {evaluator['offered'] / (0.075 * raw):.0%} "
                        "of the goal's half load"))
    else:
        rows.append(_missing("evaluator sustained", ">= 15% of raw", "no figures"))
    intake = results.get("bench_intake")
    if intake:
        singles = intake[INTAKE_SINGLES.format(n=intake["concurrency"])]
        rate, raw = singles["requests_per_s"], intake["raw_produce"]
        p99 = singles["p99_ms"]
        met = rate >= 1000 and p99 <= 50
        rows.append(Row(f"intake single POSTs, {intake['concurrency']} clients, SQLite",
                        f"{rate:,.0f} req/s p99 {p99:.0f} ms",
                        _rate(raw, "msg/s raw produce"), f"{rate / raw:.1%}",
                        ">= 1,000/s, p99 <= 50 ms", met,
                        "" if met else f"{1000 / rate:.1f}x short of the rate"
                        if rate < 1000 else "p99 over 50 ms"))
    else:
        rows.append(_missing("intake single POSTs", ">= 1,000/s, p99 <= 50 ms", "no figures"))
    audit = results.get("bench_audit")
    if audit:
        for database, figures in audit.items():
            batch, raw = figures["batch"], figures["raw_executemany"]
            ratio = batch / raw
            rows.append(Row(f"audit ingest, batches, {database}", _rate(batch, "rec/s"),
                            _rate(raw, "rows/s raw executemany"), f"{ratio:.1%}",
                            ">= 50% of raw", ratio >= 0.5,
                            f"{0.5 / ratio:.1f}x short" if ratio < 0.5 else ""))
            verify = figures["verify"]
            ceiling = figures.get("verify_raw_ceiling")
            rows.append(Row(f"audit verify, {database}", _rate(verify, "rec/s"),
                            _rate(ceiling, "rec/s raw SELECT + sha256") if ceiling else "-",
                            f"{verify / ceiling:.1%}" if ceiling else "-",
                            ">= 100,000/s", verify >= 100_000, "; ".join(part for part in (
                                f"{100_000 / verify:.1f}x short" if verify < 100_000 else "",
                                f"every signature again {figures['verify_all_signatures']:,.0f}/s"
                                if "verify_all_signatures" in figures else "",
                                f"incremental {figures['verify_incremental_s'] * 1000:,.0f} ms"
                                if "verify_incremental_s" in figures else "") if part)))
    else:
        rows.append(_missing("audit", ">= 50% of raw; verify >= 100,000/s", "no figures"))
    bulk = results.get("bench_import")
    if bulk and "import_per_s" in bulk:
        rate, raw = bulk["import_per_s"], bulk["normaliser_cpu_per_s"]
        rows.append(Row("bulk onboarding: NDJSON import to intake's outbox",
                        _rate(rate, "res/s"), _rate(raw, "res/s normaliser alone (CPU)"),
                        f"{rate / raw:.1%}", ">= 10,000 resources/s", rate >= 10_000,
                        "; ".join(part for part in (
                            f"{10_000 / rate:.1f}x short" if rate < 10_000 else "",
                            f"direct, {bulk['workers']} worker(s); over HTTP "
                            f"{bulk['http_import_per_s']:,.0f}/s"
                            if "http_import_per_s" in bulk else "") if part)))
    else:
        rows.append(_missing("bulk onboarding (FHIR Bulk Data NDJSON)", ">= 10,000 resources/s",
                             "no figures"))
    growth = screening.get("growth") if screening else None
    if growth:
        sizes = sorted(int(k) for k in growth if k.isdigit())
        rates = [growth[str(n)]["cpu_events_per_s"] for n in sizes]
        per_patient = growth["memory_per_patient_bytes"] / 1024
        # no slower than linear in its work: the work per event does not grow with the
        # number of known patients, so the rate should stay within a small factor
        met = rates[-1] >= rates[0] / 2
        rows.append(Row("growth: evaluator events/s (CPU) at " + "/".join(
                            f"{n // 1000}k" for n in sizes) + " known patients",
                        " / ".join(f"{r:,.0f}" for r in rates), "-",
                        f"{rates[-1] / rates[0]:.2f}x", "no stage slower than linear", met,
                        f"{per_patient:.0f} KiB kept per patient in memory"))
    else:
        rows.append(_missing("growth: events/s at 1k/10k/100k patients",
                             "no worse than linear", "no figures"))
    normaliser = results.get("bench_normaliser")
    if normaliser:
        for label, figures in normaliser.items():
            rows.append(Row(f"normaliser: {label}", _rate(figures["facts_per_s"], "facts/s"),
                            "-", "-", "(context)", None))
    units = results.get("bench_units")
    if units:
        worst = max(units["warm_us"].values())
        rows.append(Row("units: warm conversion, slowest case", f"{worst:.2f} us", "-", "-",
                        "(context)", None))
    return rows


def render(rows: list[Row]) -> str:
    """The rows as one aligned plain-text table; ``met`` prints as met / NOT met / -."""
    header = ("stage", "figure", "raw ceiling (same run)", "ratio", "goal", "met", "note")
    cells = [header] + [
        (r.stage, r.figure, r.ceiling, r.ratio, r.goal,
         "-" if r.met is None else "met" if r.met else "NOT met", r.note)
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def run_script(name: str, arguments: list[str], directory: Path) -> dict[str, Any] | None:
    """Run one script as its own process; its JSON figures, or None when it failed."""
    out = directory / f"{name}.json"
    print(f"\n=== {name} {' '.join(arguments)}", flush=True)
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, str(HERE / f"{name}.py"), *arguments, "--json", str(out)],
        cwd=REPO, check=False,
    )
    print(f"=== {name}: exit {completed.returncode} after {time.perf_counter() - started:.0f} s",
          flush=True)
    if completed.returncode != 0 or not out.exists():
        return None
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small samples, a minute or two")
    parser.add_argument("--only", nargs="*", choices=sorted(SCRIPTS), help="a subset")
    args = parser.parse_args()
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="trialwatch-bench-") as directory:
        for name, (full, quick) in SCRIPTS.items():
            if args.only and name not in args.only:
                continue
            figures = run_script(name, quick if args.quick else full, Path(directory))
            if figures is not None:
                results[name] = figures
    load_after = os.getloadavg()
    print(f"\nPython {platform.python_version()}, {os.cpu_count()} CPUs; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after"
          f"{'; --quick' if args.quick else ''}")
    print(render(build_rows(results)))
    failed = [n for n in SCRIPTS if (not args.only or n in args.only) and n not in results]
    if failed:
        print(f"failed: {', '.join(failed)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
