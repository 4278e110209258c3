"""Bulk onboarding: ``trialwatch import`` of FHIR Bulk Data NDJSON into intake's outbox, beside
the normaliser alone on the same resources in the same run (its ceiling for one process:
import cannot be faster than reading every resource once, per process reading).

Three runs on fresh databases: over HTTP (``--intake-url``), and direct (``--database-url``,
``services.intake.admin.BulkIntake``) with one process and with ``--workers`` worker
processes (default: the CPUs); the last is the headline figure (``import_per_s``).

The NDJSON is built from the Synthea bundles in ``../shared/data/fhir-synthea`` as a FHIR
Bulk Data ``$export`` writes it (one file per resource type, one resource per line). The
import runs exactly as the command does (``run_import``: batches posted as collection
Bundles, state file, report), against intake's real HTTP API in this process on a fresh
SQLite database (no broker: accepting only queues in the outbox). Figures: resources/s of
wall time and of this process's CPU (both sides of the HTTP call are in it), and the share of
the CPU the normaliser alone takes (HTTP run).

    python benchmarks/bench_import.py [--batch 500] [--bundles N] [--json FILE]

``--bundles N`` exports only the first N of the 24 bundles (``make bench-quick``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import io
import json
import os
import resource
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.cli.bulk_import import ImportState, ndjson_files, run_import  # noqa: E402
from services.intake.admin import BulkIntake  # noqa: E402
from shared.clinical.fhir import normalise_fhir  # noqa: E402
from tests.integration.intake.harness import LAB, api_without_broker, migrate  # noqa: E402

SYNTHEA = REPO / ".." / "shared" / "data" / "fhir-synthea"


def export(folder: Path, bundles: int | None = None) -> int:
    """Writes the $export files of the first ``bundles`` Synthea bundles (all when None);
    returns the number of resources."""
    by_type: dict[str, list[bytes]] = collections.defaultdict(list)
    for path in sorted(SYNTHEA.glob("*.json"))[:bundles]:
        for entry in json.loads(path.read_bytes())["entry"]:
            resource = entry["resource"]
            by_type[resource["resourceType"]].append(
                json.dumps(resource, separators=(",", ":")).encode())
    for kind, lines in by_type.items():
        (folder / f"{kind}.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    return sum(len(lines) for lines in by_type.values())


def normaliser_alone(folder: Path, batch: int) -> float:
    """CPU seconds to read every resource through the normaliser, in collection Bundles."""
    resources = [json.loads(line, parse_float=Decimal) for path in ndjson_files([folder])
                 for line in path.read_bytes().splitlines() if line.strip()]
    started = time.process_time()
    for start in range(0, len(resources), batch):
        bundle = {"resourceType": "Bundle", "type": "collection",
                  "entry": [{"resource": r} for r in resources[start:start + batch]]}
        normalise_fhir(bundle, source_system="bench")
    return time.process_time() - started


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its ended children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _workers_cpu(intake: BulkIntake) -> float:
    """CPU seconds of the import's worker processes so far, read from /proc before they end:
    they are started by the forkserver, so they are not this process's children and
    ``RUSAGE_CHILDREN`` never counts them (the previous figure left them out)."""
    pool = intake._pool  # a benchmark reads the pool it measures
    if pool is None:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for process in list(pool._processes.values()):
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (proc(5))
    return total


async def main(args: argparse.Namespace) -> None:
    if not SYNTHEA.is_dir():
        print(f"skipped: {SYNTHEA} is not here")
        if args.json:  # no figures, but not a failure of the run
            args.json.write_text(json.dumps({"skipped": f"{SYNTHEA} is not here"}))
        return
    print(f"{os.cpu_count()} cores, load average "
          + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    folder = Path(tempfile.mkdtemp())
    count = export(folder, args.bundles)
    database_url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'intake.db'}"
    await migrate(database_url)
    results: dict[str, Any] = {"resources": count}
    async with api_without_broker(database_url) as (client, _):
        client.headers.update(LAB)
        # warm-up: UCUM registry, FHIR model classes (paid once per process, not per resource)
        await run_import(ndjson_files([folder])[:1], client,
                         ImportState(folder / "warm.json"), io.StringIO(), show_progress=False)
        cpu, wall = time.process_time(), time.perf_counter()
        tally = await run_import(ndjson_files([folder]), client,
                                 ImportState(folder / "state.json"), io.StringIO(),
                                 batch_size=args.batch, show_progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"over HTTP (POST /fhir), to intake's outbox: {count} resources ({tally.accepted} "
          f"accepted, {tally.ignored} ignored, {tally.already_had} in batches already held) "
          f"in {wall:.1f} s = {count / wall:,.0f} resources/s wall, {count / cpu:,.0f} "
          "resources/s of CPU")
    results.update(http_import_per_s=count / wall, http_accepted=tally.accepted)
    workers = args.workers or os.cpu_count() or 1
    for processes in sorted({1, workers}):
        direct_url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'intake.db'}"
        await migrate(direct_url)
        wall, cpu = time.perf_counter(), _cpu_with_children()
        async with BulkIntake(direct_url, "lab-a", workers=processes) as intake:
            tally = await run_import(ndjson_files([folder]), intake,
                                     ImportState(folder / f"direct-{processes}.json"),
                                     io.StringIO(), batch_size=args.batch, show_progress=False)
            workers_cpu = _workers_cpu(intake)
        wall, cpu = time.perf_counter() - wall, _cpu_with_children() - cpu + workers_cpu
        print(f"direct (--database-url), {processes} worker process(es), to intake's outbox: "
              f"{tally.accepted} accepted in {wall:.1f} s = {count / wall:,.0f} resources/s "
              f"wall (worker start-up included), {count / cpu:,.0f} resources/s of CPU "
              "(all processes)")
        results[f"direct_{processes}_per_s"] = count / wall
        results.update(import_per_s=count / wall, accepted=tally.accepted, workers=processes)
    alone = normaliser_alone(folder, args.batch)
    results.update(normaliser_cpu_per_s=count / alone)
    print(f"normaliser alone, same resources, batches of {args.batch}: {count / alone:,.0f} "
          f"resources/s of CPU (one process)")
    print("load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    if args.json:
        args.json.write_text(json.dumps(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--bundles", type=int, default=None,
                        help="export only the first N Synthea bundles (default: all 24)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes of the direct path (default: the CPUs)")
    parser.add_argument("--json", type=Path)
    asyncio.run(main(parser.parse_args()))
