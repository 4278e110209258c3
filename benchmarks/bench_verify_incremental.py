"""Incremental audit verify on a long chain: what a verify resumed from the newest verified
checkpoint costs, beside the raw ceiling of the new records alone, in the same run (issue 13:
"incremental from the newest verified checkpoint").

    python benchmarks/bench_verify_incremental.py [--records 50000] [--every 1000] [--new 200]

Builds a SQLite chain of ``--records`` records with a checkpoint (checked by the service's
checkpoint writer) every ``--every`` records, verifies it in full once, appends ``--new``
records and a checkpoint, then times the verify resumed from the first walk's
``VerifiedThrough`` (CPU and wall, best of 5). Raw ceiling: the driver's SELECT of the new
records and SHA-256 over each one's hashed bytes: an incremental verify whose cost followed
the new records only. "Chain covered" is every record the result vouches for, divided by the
time. Building the chain takes a few minutes on a loaded machine (``--records 20000`` for a
quick run).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.adapters.checkpoint_files import CheckpointFiles
from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.adapters.sql.tables import records
from services.audit.core.audit_record import hashed_form
from services.audit.core.chain import DecisionChain
from services.audit.core.checkpoint_writer import CheckpointWriter
from services.audit.core.verify import verify
from shared.hashing import canonical_json
from shared.infra.clock import utc_now
from shared.infra.migrations import upgrade
from shared.infra.signing import TrustedKeys
from shared.infra.sql_engine import make_engine
from tests.unit.audit.factories import TEST_DECISION_KEY, decision_event


async def main(args: argparse.Namespace) -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite+aiosqlite:///{folder}/audit.db"
    await asyncio.to_thread(upgrade, "audit", url)
    engine = make_engine(url)
    try:
        store, keys = SqlChainStore(engine), TrustedKeys.of([TEST_DECISION_KEY.public_key()])
        key = Ed25519PrivateKey.generate()
        archive = CheckpointFiles(folder / "checkpoints", key.public_key())
        writer = CheckpointWriter(store, key, archive, lambda: datetime.now(UTC),
                                  decision_keys=keys)
        chain = DecisionChain(store)
        for start in range(0, args.records, args.every):
            await chain.append_many([decision_event(f"pk_{i % 200}", i) for i in
                                     range(start, min(start + args.every, args.records))],
                                    datetime.now(UTC))
            await writer.write_if_advanced()
        full = await verify(store, archive, None, keys, clock=utc_now)
        if not full.report.intact:
            raise SystemExit(f"full walk not intact: {full.report.summary}")
        total = args.records + args.new
        await chain.append_many([decision_event(f"pk_{i % 200}", i) for i in
                                 range(args.records, total)], datetime.now(UTC))
        await writer.write_if_advanced()
        cpu, wall = [], []
        for _ in range(5):
            started, used = time.perf_counter(), time.process_time()
            done = await verify(store, archive, None, keys, clock=utc_now,
                                resume=full.verified_through)
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - used)
            if not done.report.intact or done.resumed_at != args.records:
                raise SystemExit(f"incremental verify failed: {done.report.summary}")
        columns = ", ".join(c.name for c in records.columns)
        raws = []
        for _ in range(5):
            async with engine.connect() as connection:
                driver = (await connection.get_raw_connection()).driver_connection
                started, used = time.perf_counter(), time.process_time()
                cursor = await driver.execute(
                    f"SELECT {columns} FROM audit_record WHERE sequence > ? ORDER BY sequence",
                    (args.records,))
                rows = await cursor.fetchall()
                await cursor.close()
                raws.append((time.perf_counter() - started, time.process_time() - used))
        new_rows = [row for batch in [b async for b in store.record_batches(args.records)]
                    for row in batch]
        bodies = [canonical_json(hashed_form(row)) for row in new_rows]
        started = time.process_time()
        for body in bodies:
            hashlib.sha256(body).hexdigest()
        sha_s = time.process_time() - started
        assert len(rows) == len(bodies) == args.new
    finally:
        await engine.dispose()
    raw_wall = min(w for w, _ in raws) + sha_s
    raw_cpu = min(c for _, c in raws) + sha_s
    figures = {"records": total, "new": args.new, "checkpoints": -(-args.records // args.every) + 1,
               "incremental_cpu_ms": min(cpu) * 1000, "incremental_wall_ms": min(wall) * 1000,
               "covered_per_s_cpu": total / min(cpu), "covered_per_s_wall": total / min(wall),
               "raw_new_only_cpu_ms": raw_cpu * 1000, "raw_new_only_wall_ms": raw_wall * 1000}
    print(f"chain of {total} records, {figures['checkpoints']} checkpoints; "
          f"{args.new} new since the last verified checkpoint")
    print(f"  verify, incremental (best of 5)          {min(cpu) * 1000:8.1f} ms CPU, "
          f"{min(wall) * 1000:8.1f} ms wall: {total / min(cpu):,.0f} records/s of chain "
          f"covered (CPU), {total / min(wall):,.0f}/s (wall)")
    print(f"  raw ceiling: SELECT + sha256 of the {args.new} new records "
          f"{raw_cpu * 1000:6.1f} ms CPU, {raw_wall * 1000:8.1f} ms wall "
          f"(incremental at {raw_cpu / min(cpu):.1%} of it, CPU)")
    print("load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    if args.json:
        args.json.write_text(json.dumps(figures))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50000)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--new", type=int, default=200)
    parser.add_argument("--json", type=Path)
    asyncio.run(main(parser.parse_args()))
