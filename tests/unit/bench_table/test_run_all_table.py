"""The `make bench` table renders canned figures beside their ceilings and judges each goal."""

from __future__ import annotations

from benchmarks.run_all import ENGINE_FULL, ENGINE_INCREMENTAL, build_rows, render

CANNED = {
    "bench_engine": {"facts": 248, "scenarios": {
        ENGINE_FULL: {"cpu_rate": 1000.0}, ENGINE_INCREMENTAL: {"cpu_rate": 25000.0}}},
    "bench_evaluator": {"sustained": 200.0, "raw_batch": 10000.0, "p99_ms": 30.0,
                        "offered": 20.0},
    "bench_intake": {"concurrency": 32, "raw_produce": 20000.0,
                     "single Observations, 32 clients": {"requests_per_s": 80.0,
                                                         "p99_ms": 400.0}},
    "bench_import": {"import_per_s": 2000.0, "normaliser_cpu_per_s": 4000.0},
    "bench_audit": {"sqlite": {"batch": 600.0, "raw_executemany": 1000.0, "verify": 14000.0}},
    "bench_screening": {
        "trials": {"1 trial, incremental": {"cpu_ms": 10.0},
                   "30 trials, incremental": {"cpu_ms": 30.0},
                   "30 trials, full": {"cpu_ms": 300.0}, "ratio_cpu": 3.0},
        "growth": {"1000": {"cpu_events_per_s": 400.0}, "100000": {"cpu_events_per_s": 100.0},
                   "memory_per_patient_bytes": 2048.0},
    },
}


def by_stage(rows: list, prefix: str):  # type: ignore[no-untyped-def]
    return next(r for r in rows if r.stage.startswith(prefix))


def test_each_goal_is_judged_on_its_ratio_to_the_ceiling_of_the_same_run() -> None:
    rows = build_rows(CANNED)
    evaluator = by_stage(rows, "evaluator sustained")
    assert (evaluator.ratio, evaluator.met, evaluator.note) == ("2.0%", False, "7.5x short")
    assert by_stage(rows, "audit ingest").ratio == "60.0%"
    assert by_stage(rows, "audit ingest").met is True
    assert by_stage(rows, "engine full").met is False
    assert by_stage(rows, "engine full").note == "5.0x short"
    assert by_stage(rows, "engine after one new result").met is True
    trials = by_stage(rows, "evaluator, new result read by 1 trial")
    assert (trials.ratio, trials.met) == ("3.0x", False)
    growth = by_stage(rows, "growth")
    assert (growth.figure, growth.ratio, growth.met) == ("400 / 100", "0.25x", False)
    assert "2 KiB" in growth.note
    intake = by_stage(rows, "intake")
    assert (intake.ratio, intake.met) == ("0.4%", False)
    bulk = by_stage(rows, "bulk onboarding")
    assert (bulk.ratio, bulk.met, bulk.note) == ("50.0%", False, "5.0x short")
    assert bulk.ceiling == "4,000 res/s normaliser alone (CPU)"
    direct = build_rows({"bench_import": {"import_per_s": 2000.0, "normaliser_cpu_per_s": 1e3,
                                          "workers": 2, "http_import_per_s": 500.0}})
    assert by_stage(direct, "bulk onboarding").note == (
        "5.0x short; direct, 2 worker(s); over HTTP 500/s")


def test_a_stage_without_figures_is_printed_as_not_measured_rather_than_dropped() -> None:
    rows = build_rows({})
    assert all(r.met is None for r in rows)
    table = render(rows)
    assert "bulk onboarding" in table
    assert "no figures" in table


def test_the_table_prints_one_aligned_line_per_row_with_met_or_not_met() -> None:
    rows = build_rows(CANNED)
    lines = render(rows).splitlines()
    assert len(lines) == len(rows) + 2
    assert lines[0].startswith("stage")
    assert "NOT met" in lines[2]
    assert len({line.index("|") for line in lines if "|" in line}) == 1


def test_engine_rows_print_read_and_unread_results_beside_the_raw_pass_of_the_same_run() -> None:
    from benchmarks.run_all import ENGINE_INCREMENTAL_ROWS, ENGINE_RAW

    scenarios = {ENGINE_FULL: {"cpu_rate": 1000.0}, ENGINE_RAW: {"cpu_rate": 100000.0}}
    for rate, (_, scenario) in zip((3000.0, 9000.0, 90000.0), ENGINE_INCREMENTAL_ROWS,
                                   strict=True):
        scenarios[scenario] = {"cpu_rate": rate}
    rows = build_rows({"bench_engine": {"facts": 248, "scenarios": scenarios}})
    engine = [r for r in rows if r.stage.startswith("engine")]
    assert [(r.ratio, r.met) for r in engine] == [
        ("1.00%", False), ("3.00%", False), ("9.00%", False), ("90.00%", True)]
    assert all(r.ceiling == "100,000 passes/s" for r in engine)
    assert "LVEF" in engine[3].stage
    assert engine[3].note == ""
