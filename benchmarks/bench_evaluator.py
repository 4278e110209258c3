"""Evaluator throughput and latency on a real broker, beside aiokafka's raw consume-and-produce.

Run from the repo root: ``python benchmarks/bench_evaluator.py [--events 2000] [--database-url
URL] [--screener engine|test]``. The broker is ``KAFKA_BOOTSTRAP_SERVERS`` when set, else an
embedded Tansu started here. Prints, for the same broker in the same run:

- raw aiokafka: consume -> produce -> commit, per message (the evaluator's delivery contract)
  and per batch (the broker's ceiling);
- the evaluator: sustained events/s draining a backlog (apply + screen every active trial +
  outbox + publish + commit), and p50/p99 from event publish to decision received, at a steady
  offered load below saturation;
- with ``--growth 1000,10000,100000``: the growth table (``bench_screening.growth_rows``: the
  evaluator's batch path on SQLite with that many known patients, events/s and memory per
  patient).

The trial registry is synced into the fresh database before the evaluator starts, as a
deployed evaluator finds it: the first start's one-off work (compiling every trial file,
activating each trial and re-screening the patients known then) is not part of the sustained
figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402

from services.evaluator.adapters.criteria_engine import CriteriaEngineScreener  # noqa: E402
from services.evaluator.adapters.sql.amendments import sync_folder  # noqa: E402
from services.evaluator.bootstrap import build_app, default_screener  # noqa: E402
from services.evaluator.core.ports import Screener  # noqa: E402
from shared.clinical.facts import (  # noqa: E402
    ClinicalFact,
    Coding,
    Demographics,
    FactKind,
    Provenance,
    Quantity,
    Sex,
)
from shared.contracts.events import DecisionMade, PatientUpdated  # noqa: E402
from shared.contracts.topics import DECISIONS, PATIENT_EVENTS  # noqa: E402
from shared.infra.clock import utc_now  # noqa: E402
from shared.infra.embedded_broker import EmbeddedBroker  # noqa: E402
from shared.infra.kafka import ensure_topics  # noqa: E402
from shared.infra.migrations import upgrade  # noqa: E402
from shared.infra.sql_engine import make_engine, make_sessionmaker  # noqa: E402
from shared.settings import EvaluatorSettings, KafkaSettings  # noqa: E402

LOINC = "http://loinc.org"
LABS = [("2160-0", "mg/dL", 0.9), ("718-7", "g/L", 125.0), ("777-3", "10*9/L", 250.0),
        ("1742-6", "U/L", 30.0)]


def _fact(patient: str, index: int, code: str, unit: str, value: float) -> ClinicalFact:
    return ClinicalFact(
        fact_id=f"{patient}-{code}-{index}", kind=FactKind.OBSERVATION,
        codes=(Coding(system=LOINC, code=code),), status="final",
        effective_start=datetime.now(UTC) - timedelta(days=1, minutes=index),
        value_quantity=Quantity(value=value, unit=unit),
        provenance=Provenance(source_system="bench", format="fhir-r4",
                              resource=f"Observation/{patient}-{code}-{index}"),
    )


def event_for(patient: str, index: int) -> PatientUpdated:
    code, unit, value = LABS[index % len(LABS)]
    now = datetime.now(UTC)
    return PatientUpdated(
        event_id=uuid.uuid4(), occurred_at=now, recorded_at=now, source="bench",
        patient_key=patient, correlation_id=uuid.uuid4(),
        demographics=Demographics(birth_date=date(1990, 1, 1), sex=Sex.FEMALE),
        facts=(_fact(patient, index, code, unit, value),),
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def raw_consume_produce(kafka: KafkaSettings, count: int, per_message: bool) -> float:
    """aiokafka alone: read, write to another topic, commit; returns messages per second."""
    suffix = uuid.uuid4().hex[:8]
    source, sink = f"bench.raw.in.{suffix}", f"bench.raw.out.{suffix}"
    await ensure_topics(kafka, [source, sink])
    payload = event_for("pk-raw", 0).model_dump_json().encode()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all",
                                linger_ms=5)
    await producer.start()
    try:
        batch = [await producer.send(source, payload, key=f"pk-{i % 500}".encode())
                 for i in range(count)]
        await asyncio.gather(*batch)
        consumer = AIOKafkaConsumer(
            source, bootstrap_servers=kafka.bootstrap_servers, group_id=f"bench-{suffix}",
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=kafka.session_timeout_ms,
            heartbeat_interval_ms=kafka.heartbeat_interval_ms,
            rebalance_timeout_ms=kafka.rebalance_timeout_ms,
        )
        await consumer.start()
        try:
            done, started = 0, None
            while done < count:
                records = await consumer.getmany(timeout_ms=200, max_records=500)
                for tp, items in records.items():
                    started = started or time.perf_counter()
                    if per_message:
                        for record in items:
                            await producer.send_and_wait(sink, record.value, key=record.key)
                            await consumer.commit({tp: record.offset + 1})
                    else:
                        sent = [await producer.send(sink, r.value, key=r.key) for r in items]
                        await asyncio.gather(*sent)
                        await consumer.commit({tp: items[-1].offset + 1})
                    done += len(items)
            return count / (time.perf_counter() - (started or time.perf_counter()))
        finally:
            await consumer.stop()
    finally:
        await producer.stop()


class DecisionClock:
    """Receive time of the first message on the decisions topic per causing event: the
    event's ``PatientSnapshot`` (staged first, published with its decisions in one batch) or
    a decision. An event writes decisions only for the trials whose decision it changes
    (docs/evaluator.md), so an event may have a snapshot and no decision."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.seen: dict[uuid.UUID, float] = {}
        self.cpu: dict[uuid.UUID, float] = {}  # this process's CPU seconds at that moment
        self.decisions = 0  # DecisionMade messages received
        self.snapshots = 0
        self._consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers,
                                          group_id=None, enable_auto_commit=False,
                                          fetch_max_wait_ms=20)
        self._partitions = kafka.partitions
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        partitions = [TopicPartition(DECISIONS, p) for p in range(self._partitions)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=1000)
            now, cpu = time.perf_counter(), time.process_time()
            for records in batches.values():
                for record in records:
                    if b'"eligibility.snapshot"' in record.value:
                        self.snapshots += 1
                        cause = json.loads(record.value).get("causation_id")
                        if cause is not None:
                            self.seen.setdefault(uuid.UUID(cause), now)
                            self.cpu.setdefault(uuid.UUID(cause), cpu)
                        continue
                    made = DecisionMade.model_validate_json(record.value)
                    self.decisions += 1
                    if made.causation_id is not None:
                        self.seen.setdefault(made.causation_id, now)
                        self.cpu.setdefault(made.causation_id, cpu)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


async def wait_for(predicate: object, timeout_s: float) -> None:
    assert callable(predicate)
    deadline = time.perf_counter() + timeout_s
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the evaluator did not keep up within the time limit")
        await asyncio.sleep(0.01)


async def commit_group_at_end(kafka: KafkaSettings, group: str) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(PATIENT_EVENTS, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        await consumer.commit(dict(await consumer.end_offsets(partitions)))
    finally:
        await consumer.stop()


async def bench_evaluator(
    kafka: KafkaSettings, database_url: str, screener: Screener, count: int, rate: float
) -> dict[str, float]:
    await asyncio.to_thread(upgrade, "evaluator", database_url)
    if isinstance(screener, CriteriaEngineScreener):
        engine = make_engine(database_url)
        try:  # what the first start does once, before any patient is known
            await sync_folder(make_sessionmaker(engine), screener, screener.trials_dir, utc_now)
        finally:
            await engine.dispose()
    group = f"bench-evaluator-{uuid.uuid4().hex[:8]}"
    await commit_group_at_end(kafka, group)
    patients = [f"pk-bench-{uuid.uuid4().hex[:10]}" for _ in range(max(1, count // 4))]
    backlog = [event_for(patients[i % len(patients)], i) for i in range(count)]
    clock = DecisionClock(kafka)
    await clock.start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all",
                                linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(PATIENT_EVENTS, e.model_dump_json().encode(),
                                    key=e.patient_key.encode()) for e in backlog]
        await asyncio.gather(*sent)
        settings = EvaluatorSettings(database_url=database_url, group_id=group)
        app = build_app(settings, kafka, screener=screener)
        async with app.router.lifespan_context(app):
            backlog_ids = [e.event_id for e in backlog]
            await wait_for(lambda: backlog_ids[0] in clock.seen or len(clock.seen) > 0, 60)
            await wait_for(lambda: all(i in clock.seen for i in backlog_ids), 600)
            times = sorted(clock.seen[i] for i in backlog_ids)
            cpu = sorted(clock.cpu[i] for i in backlog_ids)
            per_event = clock.decisions / max(1, clock.snapshots)
            sustained = (len(times) - 1) / (times[-1] - times[0])
            # CPU of this process (evaluator, its consumer and producer, this clock; not the
            # broker's) per event while the backlog drained
            cpu_ms = (cpu[-1] - cpu[0]) * 1000 / max(1, len(cpu) - 1)
            load_drain = os.getloadavg()[0]

            steady = [event_for(patients[i % len(patients)], count + i)
                      for i in range(int(rate * 10))]
            published: dict[uuid.UUID, float] = {}
            for event in steady:
                published[event.event_id] = time.perf_counter()
                await producer.send_and_wait(PATIENT_EVENTS, event.model_dump_json().encode(),
                                             key=event.patient_key.encode())
                await asyncio.sleep(1 / rate)
            await wait_for(lambda: all(e.event_id in clock.seen for e in steady), 120)
            latencies = [(clock.seen[i] - t) * 1000 for i, t in published.items()]
            load_steady = os.getloadavg()[0]
    finally:
        await producer.stop()
        await clock.stop()
    return {
        "sustained": sustained,
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "offered": rate,
        "decisions_per_event": per_event,
        "cpu_ms_per_event": cpu_ms,
        "load_drain": load_drain,
        "load_steady": load_steady,
    }


def growth_table(growth: dict[str, Any]) -> str:
    """The growth rows as one table: per known-patient count, events/s (wall and of CPU),
    patients kept in memory, and the CPU cost per event relative to the smallest count (1.0x:
    flat; a stage slower than linear in its work would show the ratio growing with the
    count)."""
    sizes = sorted(int(k) for k in growth if k.isdigit())
    lines = ["| known patients | events/s (wall) | events/s (CPU) | CPU per event vs first "
             "| patients in memory |", "|---:|---:|---:|---:|---:|"]
    first = growth[str(sizes[0])]["cpu_events_per_s"] if sizes else 1.0
    for n in sizes:
        row = growth[str(n)]
        lines.append(f"| {n:,} | {row['events_per_s']:,.0f} | {row['cpu_events_per_s']:,.0f} "
                     f"| {first / row['cpu_events_per_s']:.2f}x | {row['cached_patients']:,} |")
    lines.append(f"memory kept per patient (patient cache + engine states, 4 results, 3 "
                 f"trials): {growth['memory_per_patient_bytes'] / 1024:.1f} KiB")
    return "\n".join(lines)


async def run(args: argparse.Namespace, bootstrap: str, embedded: bool) -> None:
    kafka = KafkaSettings(bootstrap_servers=bootstrap, partitions=4)
    await ensure_topics(kafka)
    if args.screener == "test":
        sys.path.insert(0, str(REPO))
        from tests.unit.evaluator.fakes import OneLabScreener

        screener: Screener = OneLabScreener()
    else:
        screener = default_screener()
    trials = ", ".join(f"{t.id}@{t.version}" for t in screener.active_trials())
    database_url = args.database_url or (
        f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bench-evaluator-')}/evaluator.db")
    print(f"broker: {'embedded Tansu' if embedded else bootstrap}; database: "
          f"{database_url.split('://')[0]}; screener: {type(screener).__name__} ({trials})")
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    raw_single = await raw_consume_produce(kafka, args.events, per_message=True)
    raw_batch = await raw_consume_produce(kafka, args.events, per_message=False)
    print(f"aiokafka raw consume-produce-commit, per message: {raw_single:8.0f} msg/s")
    print(f"aiokafka raw consume-produce-commit, per batch:   {raw_batch:8.0f} msg/s")
    result = await bench_evaluator(kafka, database_url, screener, args.events, args.rate)
    print(f"evaluator sustained ({args.events} events backlog): "
          f"{result['sustained']:8.0f} events/s = {result['sustained'] / raw_batch:.2%} of raw "
          f"batch; CPU {result['cpu_ms_per_event']:.1f} ms/event (this process); "
          f"load {result['load_drain']:.1f}")
    print(f"decisions written per event (trials whose decision it changed): "
          f"{result['decisions_per_event']:.2f}")
    print(f"evaluator event->decision at {result['offered']:.0f} events/s offered: "
          f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms; "
          f"load {result['load_steady']:.1f}")
    growth: dict[str, object] = {}
    if args.growth:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from bench_screening import growth_rows

        print("growth with known patients (3 shipped trials, SQLite, no broker):", flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-evaluator-growth-") as tmp:
            growth = await growth_rows(Path(tmp), [int(n) for n in args.growth.split(",")],
                                       batches=10, batch=100)
        print(growth_table(growth))
    if args.json:
        args.json.write_text(json.dumps({**result, "growth": growth, "raw_per_message": raw_single,
                                         "raw_batch": raw_batch, "events": args.events,
                                         "trials": trials}))


def main(args: argparse.Namespace) -> None:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        asyncio.run(run(args, bootstrap, embedded=False))
        return
    with EmbeddedBroker() as broker:  # started outside the loop: its probe runs its own loop
        asyncio.run(run(args, broker.bootstrap_servers, embedded=True))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50.0, help="steady load for latency")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--screener", choices=["engine", "test"], default="engine")
    parser.add_argument("--growth", metavar="N,N,...",
                        help="also print the growth table at these known-patient counts "
                             "(e.g. 1000,10000,100000)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    main(parser.parse_args())
