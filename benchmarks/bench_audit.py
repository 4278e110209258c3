"""Audit trail throughput: records stored per second and verification rate, beside a raw
``executemany`` insert of the same rows into the same database in the same run.

    python benchmarks/bench_audit.py [--records 2000] [--postgres-admin-url URL]

The audit path stores under the chain lock, with the duplicate check, the snapshot
de-duplication and the hash chain, and commits before any offset is committed: measured one
decision per transaction and in the service's batches (one transaction per consumed batch).
The raw insert writes the identical, precomputed rows in one transaction with no checks, so the
gap is the price of those guarantees. Runs on SQLite and, when it answers, PostgreSQL.

Verify is measured as the auditor runs it, after the service's checkpoint writer (timed: it
checks each record's evaluator signature before signing its hash): every signature verified
again (``--signatures all``) and the default (signatures a checkpoint vouches for are not),
in one process and in worker processes, beside its raw ceiling from the same run: the
driver's SELECT of the same rows plus SHA-256 over each record's hashed bytes.
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
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Column, MetaData, Table, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.audit.adapters.checkpoint_files import CheckpointFiles
from services.audit.adapters.parallel_checks import ProcessRecordChecker
from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.adapters.sql.tables import records
from services.audit.core.audit_record import GENESIS_HASH, build_record, hashed_form
from services.audit.core.chain import DecisionChain
from services.audit.core.checkpoint_writer import CheckpointWriter
from services.audit.core.verify import verify
from shared.hashing import canonical_json
from shared.infra.clock import utc_now
from shared.infra.migrations import upgrade
from shared.infra.signing import TrustedKeys
from shared.infra.sql_engine import make_engine
from tests.unit.audit.factories import TEST_DECISION_KEY, decision_event

BATCH = 500
WORKERS = min(4, os.cpu_count() or 1)  # trialwatch audit verify's default --workers
DEFAULT_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


RESULTS: dict[str, dict[str, float]] = {}


async def bench(database_url: str, count: int, label: str) -> None:
    await asyncio.to_thread(upgrade, "audit", database_url)
    events = [decision_event(f"pk_bench_{i % 200}", i) for i in range(count)]
    engine = make_engine(database_url)
    try:
        store = SqlChainStore(engine)
        chain = DecisionChain(store)
        half = count // 2
        started = time.perf_counter()
        for event in events[:half]:
            await chain.append(event, datetime.now(UTC))
        single_s = time.perf_counter() - started
        started = time.perf_counter()
        for start in range(half, count, BATCH):
            await chain.append_many(events[start:start + BATCH], datetime.now(UTC))
        batch_s = time.perf_counter() - started

        # Verify as the auditor runs it: checkpoints signed by the service's writer, which
        # checks each record's evaluator signature before it signs the record's hash (timed:
        # the service pays this once per record, every checkpoint interval).
        decision_keys = TrustedKeys.of([TEST_DECISION_KEY.public_key()])
        with tempfile.TemporaryDirectory() as folder:
            key = Ed25519PrivateKey.generate()
            archive = CheckpointFiles(Path(folder), key.public_key())
            writer = CheckpointWriter(store, key, archive, lambda: datetime.now(UTC),
                                      decision_keys=decision_keys)
            started = time.perf_counter()
            await writer.write_if_advanced()
            writer_s = time.perf_counter() - started

            async def timed(**options: Any) -> tuple[float, Any]:
                checker = options.pop("checker", None)
                started = time.perf_counter()
                try:
                    done = await verify(store, archive, None, decision_keys, clock=utc_now,
                                        checker=checker, **options)
                finally:
                    if checker is not None:
                        checker.close()
                elapsed = time.perf_counter() - started
                if not done.report.intact or done.report.records_checked != count:
                    raise SystemExit(f"verification failed ({options}): {done.report.summary}")
                return elapsed, done

            # Every signature verified again (--signatures all), one process: the old default.
            deep_s, _ = await timed(signatures="all")
            # The default: signatures the checkpoints vouch for are not verified again.
            verify_s, full = await timed()
            if full.report.signatures_vouched != count:
                raise SystemExit(f"expected {count} vouched signatures: {full.report}")
            # The same with the per-record checks in worker processes, start-up included.
            parallel_s, _ = await timed(checker=ProcessRecordChecker(decision_keys, WORKERS))
            deep_parallel_s, _ = await timed(
                signatures="all", checker=ProcessRecordChecker(decision_keys, WORKERS))
            # Incremental: a tenth more records since the last intact walk, then a checkpoint.
            newer = [decision_event(f"pk_bench_{i % 200}", i)
                     for i in range(count, count + count // 10)]
            await chain.append_many(newer, datetime.now(UTC))
            await writer.write_if_advanced()
            started = time.perf_counter()
            resumed = await verify(store, archive, None, decision_keys,
                                   resume=full.verified_through, clock=utc_now)
            incremental_s = time.perf_counter() - started
            if not resumed.report.intact or resumed.resumed_at != count:
                raise SystemExit(f"incremental verification failed: {resumed.report.summary}")

        # The verify's raw ceilings, same rows: the driver's SELECT of every column, fetched
        # in one go with no conversion, and SHA-256 over each record's hashed bytes.
        # Best of three each: one short read on a shared machine is easily preempted.
        select_s = min([await _raw_select(engine, count) for _ in range(3)])
        hashed = [canonical_json(hashed_form(row)) for batch in
                  [b async for b in store.record_batches()] for row in batch][:count]
        sha_s = min(_sha256_s(hashed) for _ in range(3))

        # Same columns, keys and unique constraints; no trigger, no foreign key, no index.
        raw_table = Table("bench_raw_audit_record", MetaData(), *(
            Column(c.name, c.type, primary_key=c.primary_key, unique=bool(c.unique),
                   nullable=c.nullable, autoincrement=False) for c in records.columns))
        rows, prev = [], GENESIS_HASH
        for index, event in enumerate(events):
            record = build_record(event, index + 1, prev, datetime.now(UTC))
            rows.append(record.columns())
            prev = record.record_hash
        async with engine.begin() as connection:
            await connection.run_sync(lambda c: raw_table.create(c))
        started = time.perf_counter()
        async with engine.begin() as connection:
            await connection.execute(insert(raw_table), rows)
        raw_s = time.perf_counter() - started
        async with engine.begin() as connection:
            await connection.execute(text("DROP TABLE bench_raw_audit_record"))
    finally:
        await engine.dispose()

    raw_verify_s = select_s + sha_s
    RESULTS[label] = {"single": half / single_s, "batch": (count - half) / batch_s,
                      "verify": count / verify_s, "verify_one_process": count / verify_s,
                      "verify_workers_rate": count / parallel_s, "verify_workers": WORKERS,
                      "verify_all_signatures": count / deep_s,
                      "verify_all_signatures_workers": count / deep_parallel_s,
                      "verify_raw_ceiling": count / raw_verify_s,
                      "raw_select": count / select_s, "raw_sha256": count / sha_s,
                      "checkpoint_writer": count / writer_s,
                      "raw_executemany": count / raw_s,
                      "verify_incremental_s": incremental_s,
                      "verify_incremental": (count + count // 10) / incremental_s}
    print(f"{label}: {count} records")
    print(f"  audit ingest, one decision per transaction  {half / single_s:>10,.0f} records/s")
    print(f"  audit ingest, batches of {BATCH} (the service)  "
          f"{(count - half) / batch_s:>10,.0f} records/s")
    print(f"  raw executemany of the same rows            {count / raw_s:>10,.0f} rows/s "
          f"(ingest at {(count - half) / batch_s / (count / raw_s):.1%})")
    print(f"  checkpoint writer, checking each signature  {count / writer_s:>10,.0f} records/s")
    print(f"  verify, full, every signature again (all)   {count / deep_s:>10,.0f} records/s; "
          f"{WORKERS} workers {count / deep_parallel_s:,.0f}/s")
    print(f"  verify, full, default (vouched skipped)     {count / verify_s:>10,.0f} records/s; "
          f"{WORKERS} workers {count / parallel_s:,.0f}/s (start-up included)")
    print(f"  raw ceiling: driver SELECT + sha256         {count / raw_verify_s:>10,.0f} records/s "
          f"(SELECT {count / select_s:,.0f}/s, sha256 {count / sha_s:,.0f}/s; "
          f"verify at {raw_verify_s / verify_s:.1%})")
    print(f"  verify, incremental after {count // 10} new records  "
          f"{incremental_s * 1000:>7,.0f} ms "
          f"({(count + count // 10) / incremental_s:,.0f} records/s of chain covered)")


def _sha256_s(bodies: list[bytes]) -> float:
    started = time.perf_counter()
    for body in bodies:
        hashlib.sha256(body).hexdigest()
    return time.perf_counter() - started


async def _raw_select(engine: Any, count: int) -> float:
    """Seconds to fetch the first ``count`` records' columns through the driver itself."""
    columns = ", ".join(c.name for c in records.columns)
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        started = time.perf_counter()
        if engine.dialect.name == "sqlite":
            cursor = await driver.execute(
                f"SELECT {columns} FROM audit_record ORDER BY sequence LIMIT ?", (count,))
            rows = await cursor.fetchall()
            await cursor.close()
        else:
            rows = await driver.fetch(
                f"SELECT {columns} FROM audit_record ORDER BY sequence LIMIT $1", count)
        elapsed = time.perf_counter() - started
    assert len(rows) == count
    return elapsed


async def _postgres_database(admin_url: str) -> str | None:
    name = f"trialwatch_bench_{uuid.uuid4().hex[:10]}"
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with asyncio.timeout(3), engine.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        print(f"postgresql: skipped, {type(error).__name__} at {admin_url}")
        return None
    finally:
        await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def _drop_postgres_database(admin_url: str, url: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(
                f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--postgres-admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; SQLite WAL synchronous=FULL")
    with tempfile.TemporaryDirectory() as directory:
        await bench(f"sqlite+aiosqlite:///{directory}/bench.db", args.records, "sqlite")
    url = await _postgres_database(args.postgres_admin_url)
    if url is not None:
        try:
            await bench(url, args.records, "postgresql")
        finally:
            await _drop_postgres_database(args.postgres_admin_url, url)
    if args.json:
        args.json.write_text(json.dumps(RESULTS))


if __name__ == "__main__":
    asyncio.run(main())
