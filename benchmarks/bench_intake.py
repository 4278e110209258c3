"""Intake throughput and latency over real HTTP on loopback, beside aiokafka's raw produce rate
against the same broker in the same run.

Starts the embedded broker (Tansu, memory storage), migrates a fresh database (SQLite by
default, ``--database-url`` for PostgreSQL), runs intake as a child process exactly as
production does (``python -m services.cli intake``), then measures:

  1. raw produce: aiokafka, acks=all, messages the size of a PatientUpdated event;
  2. single resources: POST /fhir of one Observation each, ``--concurrency`` clients;
  3. bundles: POST /fhir of a Bundle (Patient + ``--bundle-size`` Observations) each;
  4. relay drain: how long until every accepted event is on the broker.

    python benchmarks/bench_intake.py [--requests 2000] [--bundles 200] [--concurrency 16]

Group commit (issue 13) shares one transaction among up to INTAKE_GROUP_COMMIT_MAX_MEMBERS
concurrent submissions (default 64); run with INTAKE_GROUP_COMMIT_MAX_MEMBERS=1 for one commit
per submission, the behaviour before it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.intake.core import examples  # noqa: E402
from shared.contracts.topics import ALL_TOPICS, PATIENT_EVENTS  # noqa: E402
from shared.infra.embedded_broker import EmbeddedBroker, free_port  # noqa: E402
from shared.infra.kafka import ensure_topics  # noqa: E402
from shared.infra.migrations import upgrade  # noqa: E402
from shared.settings import KafkaSettings  # noqa: E402

TOKEN = "bench-lab-token"


def observation(n: int) -> dict[str, Any]:
    return {**examples.OBSERVATION, "id": f"bench-{n}", "meta": {"versionId": "1"},
            "subject": {"reference": f"Patient/bench-{n % 500}"},
            "valueQuantity": {**examples.OBSERVATION["valueQuantity"], "value": 10 + n % 50 / 10}}


def bundle(n: int, size: int) -> dict[str, Any]:
    patient_url = f"urn:uuid:{uuid.UUID(int=n)}"
    entries = [{"fullUrl": patient_url,
                "resource": {"resourceType": "Patient", "id": f"bundle-{n}", "gender": "female",
                             "birthDate": "1990-04-02"}}]
    for i in range(size):
        resource = {**observation(n * 1000 + i), "subject": {"reference": patient_url}}
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": resource})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def raw_produce_rate(kafka: KafkaSettings, count: int, size: int) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all",
                                enable_idempotence=False)
    await producer.start()
    try:
        payload = b"x" * size
        started = time.perf_counter()
        futures = [await producer.send("bench.raw", payload, key=str(i % 500).encode())
                   for i in range(count)]
        await asyncio.gather(*futures)
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def post_all(client: httpx.AsyncClient, bodies: list[bytes],
                   concurrency: int) -> tuple[float, list[float], list[str]]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    event_ids: list[str] = []

    async def worker() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post("/fhir", content=body)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 202:
                raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
            event_ids.extend(response.json()["event_ids"])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, event_ids


async def wait_published(kafka: KafkaSettings, event_ids: set[str], timeout_s: float) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    try:
        partitions = [TopicPartition(PATIENT_EVENTS, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        started = time.perf_counter()
        missing = set(event_ids)
        while missing and time.perf_counter() - started < timeout_s:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batch.values():
                for record in records:
                    missing.discard(json.loads(record.value)["event_id"])
        if missing:
            raise TimeoutError(f"{len(missing)} events not published in {timeout_s}s")
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def start_intake(kafka: KafkaSettings, database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "KAFKA_BOOTSTRAP_SERVERS":
           kafka.bootstrap_servers, "INTAKE_DATABASE_URL": database_url,
           "INTAKE_TOKENS": f"{TOKEN}=lab-system", "INTAKE_PORT": str(port), "LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "services.cli", "intake"], cwd=REPO, env=env)


async def wait_ready(base_url: str, timeout_s: float = 120) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("intake did not become ready")


RESULTS: dict[str, Any] = {}


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def report(label: str, seconds: float, latencies: list[float], units: int, unit: str) -> None:
    RESULTS[label] = {"requests_per_s": len(latencies) / seconds, "units_per_s": units / seconds,
                      "p50_ms": percentile(latencies, 0.5) * 1000,
                      "p99_ms": percentile(latencies, 0.99) * 1000}
    print(f"{label}: {len(latencies)} requests in {seconds:.2f} s = "
          f"{len(latencies) / seconds:.0f} requests/s, {units / seconds:.0f} {unit}/s; "
          f"latency p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
          f"mean {statistics.fmean(latencies) * 1000:.1f} ms")


async def main(args: argparse.Namespace) -> None:
    broker = EmbeddedBroker()
    await asyncio.to_thread(broker.start)
    intake: subprocess.Popen[bytes] | None = None
    try:
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
        await ensure_topics(kafka, [*ALL_TOPICS, "bench.raw"])
        database_url = args.database_url or (
            f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'intake.db'}")
        await asyncio.to_thread(upgrade, "intake", database_url)
        port = free_port()
        intake = start_intake(kafka, database_url, port)
        base_url = f"http://127.0.0.1:{port}"
        await wait_ready(base_url)
        print(f"broker: Tansu (memory) at {broker.bootstrap_servers}; database: "
              f"{database_url.split('://')[0]}; intake: child process at {base_url}; "
              f"{os.cpu_count()} cores, {load()}")

        event_size = len(json.dumps(observation(0))) + 600
        rate = await raw_produce_rate(kafka, args.raw_messages, event_size)
        print(f"raw aiokafka produce (acks=all, {event_size} B, pipelined): "
              f"{rate:.0f} messages/s")
        RESULTS["raw_produce"] = rate
        RESULTS["concurrency"] = args.concurrency

        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}
        limits = httpx.Limits(max_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits,
                                     timeout=60) as client:
            warm_up = [json.dumps(observation(2 * 10**6 + n)).encode() for n in range(100)]
            await post_all(client, warm_up, 4)  # lazy imports, model schemas, connections
            unloaded = [json.dumps(observation(10**6 + n)).encode() for n in range(200)]
            seconds, latencies, _ = await post_all(client, unloaded, 1)
            report("single Observations, one client (unloaded latency)", seconds, latencies,
                   len(unloaded), "resources")
            singles = [json.dumps(observation(n)).encode() for n in range(args.requests)]
            cpu_before = process_cpu_s(intake.pid)
            seconds, latencies, single_events = await post_all(client, singles, args.concurrency)
            cpu_ms = (process_cpu_s(intake.pid) - cpu_before) / len(singles) * 1000
            report(f"single Observations, {args.concurrency} clients", seconds, latencies,
                   len(singles), "resources")
            RESULTS["intake_cpu_ms_per_request"] = cpu_ms
            print(f"  intake process CPU per request (all its threads, relay included): "
                  f"{cpu_ms:.2f} ms, i.e. at most {1000 / cpu_ms:.0f} requests/s per core")
            singles_rate = len(singles) / seconds
            print(f"  ratio to raw aiokafka produce: {singles_rate / rate:.2%}"
                  f" (group commit: at most {os.environ.get('INTAKE_GROUP_COMMIT_MAX_MEMBERS', 64)}"
                  " submissions per transaction, INTAKE_GROUP_COMMIT_MAX_MEMBERS)")
            drained = await wait_published(kafka, set(single_events), 120)
            print(f"  all {len(single_events)} events on the broker {drained:.2f} s after the "
                  "last 202 was counted from the consumer's start")

            bundles = [json.dumps(bundle(n, args.bundle_size)).encode()
                       for n in range(args.bundles)]
            seconds, latencies, bundle_events = await post_all(client, bundles, args.concurrency)
            report(f"bundles (Patient + {args.bundle_size} Observations), "
                   f"{args.concurrency} clients", seconds, latencies,
                   len(bundles) * (args.bundle_size + 1), "resources")
            await wait_published(kafka, set(bundle_events), 120)
        print(f"done; {load()}")
        if args.json:
            args.json.write_text(json.dumps(RESULTS))
    finally:
        if intake is not None:
            intake.terminate()
            intake.wait(15)
        await asyncio.to_thread(broker.stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--bundles", type=int, default=200)
    parser.add_argument("--bundle-size", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--raw-messages", type=int, default=20000)
    parser.add_argument("--database-url")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    asyncio.run(main(parser.parse_args()))
