"""The evaluator's screening in process (core + SQL stores on SQLite + real engine; no broker):
the cost of a new result as active trials grow, and how it grows with known patients (not a
test).

Run from the repo root: ``python benchmarks/bench_screening.py [--events 30]
[--patients 1000,10000,100000] [--json FILE]``. Prints:

- trials: ms per event (wall and CPU) for a 248-fact patient when a new INR arrives, read by
  one trial only (NCT06946485), with that trial alone active and with 30 trial versions active
  (the 3 shipped trials and 27 variants of the two that do not read INR); incremental (the
  evaluator as it runs: patients and engine states kept between batches) and full (every
  batch re-reads the patient and re-evaluates every criterion of every trial), side by side;
- growth: with 1k, 10k, 100k known patients (3 shipped trials, a few results each, loaded
  with executemany), events/s for new results of random known patients (most beyond the
  bounded caches at 100k), and the evaluator's memory per patient kept in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_engine import realistic_patient  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from services.evaluator.adapters.criteria_engine import CriteriaEngineScreener  # noqa: E402
from services.evaluator.adapters.patient_cache import PatientCache  # noqa: E402
from services.evaluator.adapters.sql.dialects import immediate_sqlite_transactions  # noqa: E402
from services.evaluator.adapters.sql.stores import SqlUnitOfWork, screening_context  # noqa: E402
from services.evaluator.adapters.sql.tables import patient_fact, patient_state  # noqa: E402
from services.evaluator.core.patient_events import apply_patient_events  # noqa: E402
from shared.clinical.facts import (  # noqa: E402
    ClinicalFact,
    Coding,
    Demographics,
    FactKind,
    Provenance,
    Quantity,
    Sex,
)
from shared.contracts.events import PatientUpdated  # noqa: E402
from shared.eligibility.loader import TRIALS_DIR  # noqa: E402
from shared.infra.migrations import upgrade  # noqa: E402
from shared.infra.sql_engine import make_engine, make_sessionmaker  # noqa: E402

LOINC = "http://loinc.org"
READS_INR = "NCT06946485"
VARIANTS_OF = ("NCT06920433", "TRIALX-323795")


def _fact(fact_id: str, code: str, unit: str, value: float, when: datetime) -> ClinicalFact:
    return ClinicalFact(
        fact_id=fact_id, kind=FactKind.OBSERVATION, codes=(Coding(system=LOINC, code=code),),
        status="final", effective_start=when, value_quantity=Quantity(value=value, unit=unit),
        provenance=Provenance(source_system="bench", format="fhir-r4",
                              resource=f"Observation/{fact_id}"))


def _event(patient: str, facts: Sequence[ClinicalFact], now: datetime,
           demographics: Demographics | None = None) -> PatientUpdated:
    return PatientUpdated(
        event_id=uuid.uuid4(), occurred_at=now, recorded_at=now, source="bench",
        patient_key=patient, correlation_id=uuid.uuid4(), demographics=demographics,
        facts=tuple(facts))


def trial_folder(directory: Path, thirty: bool) -> Path:
    """The INR trial alone, or the 3 shipped trials and 27 variants of the two others (new
    trial ids, same criteria: none reads INR)."""
    folder = directory / ("thirty" if thirty else "one")
    ids = (READS_INR, *VARIANTS_OF) if thirty else (READS_INR,)
    for trial_id in ids:
        shutil.copytree(TRIALS_DIR / trial_id, folder / trial_id)
    if thirty:
        for n in range(27):
            base = VARIANTS_OF[n % 2]
            variant = f"{base}-V{n:02d}"
            for source in (TRIALS_DIR / base).glob("*.yaml"):
                text = re.sub(rf"(\n  id: ){re.escape(base)}\n", rf"\g<1>{variant}\n",
                              source.read_text(encoding="utf-8"), count=1)
                (folder / variant).mkdir(parents=True, exist_ok=True)
                (folder / variant / source.name).write_text(text, encoding="utf-8")
    return folder


async def _database(directory: Path, name: str) -> tuple[str, AsyncEngine]:
    url = f"sqlite+aiosqlite:///{directory / name}.db"
    await asyncio.to_thread(upgrade, "evaluator", url)
    engine = make_engine(url)
    immediate_sqlite_transactions(engine)
    return url, engine


class Evaluator:
    """The evaluator's batch path in process: one unit of work per batch of events."""

    def __init__(self, engine: AsyncEngine, screener: CriteriaEngineScreener,
                 incremental: bool, cache_patients: int = 2_000) -> None:
        self.sessions = make_sessionmaker(engine)
        self.screener = screener
        self.cache = PatientCache(cache_patients if incremental else 0)
        self.context = screening_context(screener, lambda: datetime.now(UTC))

    async def apply(self, events: Sequence[PatientUpdated]) -> int:
        uow = SqlUnitOfWork(self.sessions, self.screener, self.context.clock, self.cache)
        async with uow:
            applied = await apply_patient_events(uow, self.context, events)
        return len(applied.staged)


async def trials_row(directory: Path, events: int) -> dict[str, Any]:
    patient = realistic_patient()
    results: dict[str, Any] = {"facts": len(patient.facts)}
    for thirty in (False, True):
        folder = trial_folder(directory, thirty)
        for incremental in (True, False):
            screener = CriteriaEngineScreener(folder, max_patients=5000 if incremental else 0)
            trials = len(screener.active_trials())
            _, engine = await _database(directory, f"trials-{trials}-{incremental}")
            evaluator = Evaluator(engine, screener, incremental)
            now = datetime.now(UTC)
            await evaluator.apply([_event("pk-bench", patient.facts, now, patient.demographics)])
            wall: list[float] = []
            cpu: list[float] = []
            for n in range(events + 3):
                inr = _fact(f"inr-{n}", "6301-6", "1", 1.0 + n % 3 / 10,
                            now - timedelta(hours=1) + timedelta(seconds=n))
                started, started_cpu = time.perf_counter(), time.process_time()
                await evaluator.apply([_event("pk-bench", [inr], datetime.now(UTC))])
                if n >= 3:  # the first few settle caches and the SQLite file
                    wall.append((time.perf_counter() - started) * 1000)
                    cpu.append((time.process_time() - started_cpu) * 1000)
            await engine.dispose()
            label = f"{trials} trial{'s' if trials > 1 else ''}, " + (
                "incremental" if incremental else "full")
            results[label] = {"trials": trials, "incremental": incremental,
                              "wall_ms": statistics.median(wall),
                              "cpu_ms": statistics.median(cpu)}
            print(f"  {label:<28} {statistics.median(wall):8.1f} ms/event wall, "
                  f"{statistics.median(cpu):8.1f} ms CPU (median of {events})", flush=True)
    one, thirty_ = results["1 trial, incremental"], results["30 trials, incremental"]
    results["ratio_cpu"] = thirty_["cpu_ms"] / one["cpu_ms"]
    results["ratio_wall"] = thirty_["wall_ms"] / one["wall_ms"]
    full = results["30 trials, full"]["cpu_ms"] / results["1 trial, full"]["cpu_ms"]
    print(f"  30 vs 1 trial: {results['ratio_cpu']:.1f}x CPU, {results['ratio_wall']:.1f}x "
          f"wall incremental ({full:.1f}x CPU with full evaluation)")
    return results


FEW_LABS = [("2160-0", "mg/dL", 0.9), ("718-7", "g/L", 125.0), ("777-3", "10*9/L", 250.0),
            ("1742-6", "U/L", 30.0)]
DEMOGRAPHICS = Demographics(birth_date=date(1980, 5, 1), sex=Sex.FEMALE)


async def _load_patients(engine: AsyncEngine, start: int, stop: int, now: datetime) -> None:
    """Known patients written as rows (executemany), as an import would leave them."""
    demographics = DEMOGRAPHICS.model_dump(mode="json")
    chunk = 5000
    for first in range(start, stop, chunk):
        keys = [f"pk-{n:07d}" for n in range(first, min(stop, first + chunk))]
        states = [{"patient_key": k, "state_version": 1, "demographics": demographics,
                   "last_as_of": now, "updated_at": now} for k in keys]
        facts = []
        for k in keys:
            for code, unit, value in FEW_LABS:
                fact = _fact(f"{k}-{code}", code, unit, value, now - timedelta(days=3))
                facts.append({"patient_key": k, "fact_id": fact.fact_id,
                              "fact": fact.model_dump(mode="json"),
                              "effective_start": fact.effective_start,
                              "received_at": fact.provenance.received_at})
        async with engine.begin() as connection:
            await connection.execute(patient_state.insert(), states)
            await connection.execute(patient_fact.insert(), facts)


async def growth_rows(directory: Path, sizes: Sequence[int], batches: int,
                      batch: int) -> dict[str, Any]:
    _, engine = await _database(directory, "growth")
    screener = CriteriaEngineScreener()  # the 3 shipped trials
    evaluator = Evaluator(engine, screener, incremental=True)
    now = datetime.now(UTC)
    rows: dict[str, Any] = {}
    known = 0
    rng = random.Random(13)
    for size in sizes:
        started = time.perf_counter()
        await _load_patients(engine, known, size, now)
        known = size
        print(f"  {size:,} known patients loaded in {time.perf_counter() - started:.0f} s",
              flush=True)
        await evaluator.apply([_event(f"pk-{rng.randrange(size):07d}", [_fact(
            f"warm-{uuid.uuid4()}", "777-3", "10*9/L", 240.0, now)], datetime.now(UTC))])
        done, took, took_cpu = 0, 0.0, 0.0
        for _ in range(batches):
            events = [_event(f"pk-{rng.randrange(size):07d}", [_fact(
                f"new-{uuid.uuid4()}", "777-3", "10*9/L", 240.0, now - timedelta(minutes=5))],
                datetime.now(UTC)) for _ in range(batch)]
            t0, c0 = time.perf_counter(), time.process_time()
            await evaluator.apply(events)
            took += time.perf_counter() - t0
            took_cpu += time.process_time() - c0
            done += len(events)
        rows[str(size)] = {"events_per_s": done / took, "cpu_events_per_s": done / took_cpu,
                           "cached_patients": len(evaluator.cache)}
        print(f"  {size:>7,} patients: {done / took:7.0f} events/s wall, "
              f"{done / took_cpu:7.0f} events/s of CPU ({batch} events per batch, "
              f"{len(evaluator.cache):,} patients in memory)", flush=True)
    await engine.dispose()
    rows["memory_per_patient_bytes"] = await _memory_per_patient(directory, screener)
    print(f"  memory kept per patient (4 results, 3 trials): "
          f"{rows['memory_per_patient_bytes'] / 1024:.1f} KiB")
    return rows


async def _memory_per_patient(directory: Path, screener: CriteriaEngineScreener) -> float:
    """Bytes the two caches (patients, engine states) hold per patient, by tracemalloc."""
    _, engine = await _database(directory, "memory")
    now = datetime.now(UTC)
    await _load_patients(engine, 0, 600, now)
    fresh = CriteriaEngineScreener()
    evaluator = Evaluator(engine, fresh, incremental=True)
    await evaluator.apply([_event("pk-0000000", [_fact("m-w", "777-3", "10*9/L", 1.0, now)],
                                  now)])
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for first in range(100, 600, 100):
        await evaluator.apply([_event(f"pk-{n:07d}", [_fact(
            f"m-{n}", "777-3", "10*9/L", 240.0, now)], now) for n in range(first, first + 100)])
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    await engine.dispose()
    return (after - before) / 500


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="trialwatch-bench-screening-") as tmp:
        directory = Path(tmp)
        print("new INR (read by one trial) for a realistic patient:", flush=True)
        trials = await trials_row(directory, args.events)
        print("growth with known patients (3 shipped trials):", flush=True)
        growth = await growth_rows(directory, [int(s) for s in args.patients.split(",")],
                                   args.batches, args.batch)
    after = os.getloadavg()
    print(f"load average after {after[0]:.1f}")
    return {"trials": trials, "growth": growth, "load_before": load[0], "load_after": after[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=30, help="events per trial scenario")
    parser.add_argument("--patients", default="1000,10000,100000",
                        help="known-patient counts for the growth table, comma-separated")
    parser.add_argument("--batches", type=int, default=10, help="batches per growth step")
    parser.add_argument("--batch", type=int, default=100, help="events per batch")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    figures = asyncio.run(main_async(args))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
