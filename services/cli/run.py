"""``trialwatch run``: the whole pipeline on one machine, on embedded defaults.

Starts the embedded Tansu broker on a free loopback port, creates the topics, migrates three
SQLite databases, starts intake, evaluator and audit as child processes, waits until each
answers ``/readyz``, prints where everything is, tails coordinator alerts to the terminal, and
on Ctrl-C stops the services (gracefully, so in-flight work commits) and then the broker.
Every child is in its own session (the terminal's Ctrl-C reaches only this launcher, which
stops them in order) and dies with the launcher even if the launcher is killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.cli import demo
from services.cli.alerts_tail import tail_alerts
from services.cli.migrate import migrate_all
from shared.infra.auth import Role, write_dev_tokens
from shared.infra.embedded_broker import EmbeddedBroker, die_with_parent
from shared.infra.kafka import ensure_topics
from shared.settings import KafkaSettings

SERVICES = ("intake", "evaluator", "audit")


@dataclass
class Child:
    name: str
    port: int
    process: subprocess.Popen[bytes]


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "run", help="run the whole pipeline on embedded defaults (broker + SQLite)",
        description="Start the embedded Kafka-API broker (Tansu) and the three services on this "
                    "machine, with SQLite databases under --data-dir. Ctrl-C stops everything.",
    )
    parser.add_argument("--demo", action="store_true",
                        help="feed sample patients; newly-eligible alerts appear here")
    parser.add_argument("--data-dir", type=Path, default=Path("var"),
                        help="databases, logs, checkpoints and dev tokens (default ./var)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address of the services")
    parser.add_argument("--intake-port", type=int, default=8081)
    parser.add_argument("--evaluator-port", type=int, default=8082)
    parser.add_argument("--audit-port", type=int, default=8083)
    parser.add_argument("--partitions", type=int, default=4, help="partitions per topic")
    parser.add_argument("--verbose", action="store_true",
                        help="stream the services' logs here instead of to --data-dir/logs")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    data_dir: Path = args.data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    tokens_file = data_dir / "dev-tokens.json"
    tokens = write_dev_tokens(tokens_file)
    ports = {"intake": args.intake_port, "evaluator": args.evaluator_port,
             "audit": args.audit_port}

    broker = EmbeddedBroker(log_path=data_dir / "logs" / "tansu.log")
    broker.start()
    children: list[Child] = []
    try:
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers,
                              partitions=args.partitions)
        asyncio.run(ensure_topics(kafka))
        urls = {s: f"sqlite+aiosqlite:///{data_dir / s}.db" for s in SERVICES}
        migrate_all(urls)
        env = _child_env(kafka, urls, tokens_file, data_dir, args.host, ports)
        children = [_spawn(s, ports[s], env, data_dir, args.verbose) for s in SERVICES]
        _wait_ready(args.host, children)
        _banner(args.host, ports, broker.bootstrap_servers, tokens_file, data_dir,
                time.monotonic() - started)
        by_role = {p.role: t for t, p in tokens.items()}
        return asyncio.run(_supervise(kafka, children, args, by_role))
    finally:
        _stop(children)
        broker.stop()
        print("stopped: services and broker", flush=True)


def _child_env(kafka: KafkaSettings, urls: dict[str, str], tokens_file: Path, data_dir: Path,
               host: str, ports: dict[str, int]) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_PARTITIONS": str(kafka.partitions),
        "AUDIT_CHECKPOINT_DIR": str(data_dir / "checkpoints"),
        "LOG_FORMAT": env.get("LOG_FORMAT", "json"),
    })
    for service in SERVICES:
        prefix = service.upper()
        env[f"{prefix}_DATABASE_URL"] = urls[service]
        env[f"{prefix}_TOKENS_FILE"] = str(tokens_file)
        env[f"{prefix}_HOST"] = host
        env[f"{prefix}_PORT"] = str(ports[service])
    return env


def _spawn(service: str, port: int, env: dict[str, str], data_dir: Path, verbose: bool) -> Child:
    log = None if verbose else open(data_dir / "logs" / f"{service}.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", service],
        env=env, stdout=log, stderr=log, start_new_session=True,
        preexec_fn=die_with_parent,
    )
    return Child(service, port, process)


def _wait_ready(host: str, children: list[Child], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    pending = list(children)
    with httpx.Client(timeout=1.0) as client:
        while pending:
            for child in list(pending):
                if child.process.poll() is not None:
                    raise SystemExit(f"{child.name} exited at start (code "
                                     f"{child.process.returncode}); see its log")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"http://{host}:{child.port}/readyz").status_code == 200:
                        pending.remove(child)
            if pending and time.monotonic() > deadline:
                names = ", ".join(c.name for c in pending)
                raise SystemExit(f"not ready after {timeout_s:.0f}s: {names}")
            if pending:
                time.sleep(0.1)


def _banner(host: str, ports: dict[str, int], bootstrap: str, tokens_file: Path,
            data_dir: Path, elapsed_s: float) -> None:
    print(f"""
TrialWatch is up in {elapsed_s:.1f}s
  intake     http://{host}:{ports['intake']}      (API docs: /docs)
  evaluator  http://{host}:{ports['evaluator']}
  audit      http://{host}:{ports['audit']}
  broker     {bootstrap}  (embedded Tansu, in memory)
  data       {data_dir}  (SQLite databases, logs/, checkpoints/)
  tokens     {tokens_file}  (one development bearer token per role)
Alerts appear below. Ctrl-C stops everything.
""", flush=True)


async def _supervise(kafka: KafkaSettings, children: list[Child], args: argparse.Namespace,
                     tokens: dict[Role, str]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tasks: list[asyncio.Task[object]] = [
        asyncio.create_task(tail_alerts(kafka, print_line=_print_now)),
    ]
    if args.demo:
        base = f"http://{args.host}:{args.intake_port}"
        tasks.append(asyncio.create_task(demo.feed(base, tokens[Role.LAB_SYSTEM], _print_now)))
    exit_code = 0
    try:
        while not stop.is_set():
            crashed = [c for c in children if c.process.poll() is not None]
            if crashed:
                _print_now(f"{crashed[0].name} stopped unexpectedly "
                           f"(code {crashed[0].process.returncode}); shutting down")
                exit_code = 1
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return exit_code


def _print_now(line: str) -> None:
    print(line, flush=True)


def _stop(children: list[Child], timeout_s: float = 15.0) -> None:
    # All three get SIGTERM at once and shut down gracefully: each finishes and commits its
    # in-flight work. The embedded broker keeps records in memory, so events published but
    # not yet consumed when it stops are gone; intake's outbox and the databases persist.
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for child in children:
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
