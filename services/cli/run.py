"""``trialwatch run``: the whole pipeline on one machine, on embedded defaults.

Migrates three SQLite databases, starts the embedded Tansu broker on a free loopback port,
creates the topics, refills the (empty, in-memory) broker from the services' outboxes, starts
intake, evaluator and audit as child processes, waits until each answers ``/readyz``, prints
where everything is, tails coordinator alerts to the terminal, and supervises: a service that
dies is restarted with back-off while the broker keeps running, a broker that dies is restarted
and refilled (``services.cli.supervisor``). Ctrl-C stops the services (gracefully, so in-flight
work commits) and then the broker. Every child is in its own session (the terminal's Ctrl-C
reaches only this launcher, which stops them in order) and dies with the launcher even if the
launcher is killed.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import os
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path

from services.cli import demo
from services.cli.alerts_tail import tail_alerts
from services.cli.migrate import migrate_all
from services.cli.ports import busy_ports
from services.cli.progress import Progress, tail_progress
from services.cli.refusals_tail import tail_refusals
from services.cli.supervisor import SERVICES, Pipeline
from services.evaluator.admin import ensure_webhook_key
from shared.infra.auth import Role, write_dev_tokens
from shared.infra.clock import utc_now
from shared.infra.embedded_broker import EmbeddedBroker
from shared.infra.private import restrict_to_owner
from shared.infra.signing import EventSigner, public_key_path
from shared.settings import KafkaSettings

EVALUATOR_KEY = "evaluator-signing-key.pem"
INTAKE_KEY = "intake-signing-key.pem"
EVALUATOR_WEBHOOK_KEY = "evaluator-webhook-key"


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
    parser.add_argument("--host", default="127.0.0.1",
                        help="listen address of the services (default 127.0.0.1: this machine "
                             "only)")
    parser.add_argument("--intake-port", type=int, default=8081, metavar="PORT",
                        help="intake's HTTP port: FHIR/HL7 v2 in, re-identification (8081)")
    parser.add_argument("--evaluator-port", type=int, default=8082, metavar="PORT",
                        help="evaluator's HTTP port: coordinator app /ui/, worklist, alert "
                             "stream, webhooks, CDS Hooks (8082)")
    parser.add_argument("--audit-port", type=int, default=8083, metavar="PORT",
                        help="audit's HTTP port: the auditor API (8083)")
    parser.add_argument("--partitions", type=int, default=4, metavar="N",
                        help="partitions per topic: how many evaluator/audit consumers can share "
                             "the work (default 4)")
    parser.add_argument("--verbose", action="store_true",
                        help="stream the services' logs here instead of to --data-dir/logs")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    busy = busy_ports(args.host, {"intake": args.intake_port,
                                  "evaluator": args.evaluator_port, "audit": args.audit_port})
    if busy:
        print("\n".join(f"error: {line}" for line in busy), file=sys.stderr)
        return 2
    data_dir: Path = args.data_dir.resolve()
    restrict_to_owner(data_dir)
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    tokens_file = data_dir / "dev-tokens.json"
    tokens = write_dev_tokens(tokens_file)
    # the evaluator's decision-signing key (0600), made before audit starts trusting its public half
    EventSigner.from_file(data_dir / EVALUATOR_KEY).load()
    # intake's hold-notice key, likewise before the evaluator starts trusting its public half
    EventSigner.from_file(data_dir / INTAKE_KEY).load()
    ports = {"intake": args.intake_port, "evaluator": args.evaluator_port,
             "audit": args.audit_port}
    urls = {s: f"sqlite+aiosqlite:///{data_dir / s}.db" for s in SERVICES}
    # the evaluator's migrations seal stored webhook secrets with the key its process will use
    os.environ.setdefault("EVALUATOR_WEBHOOK_KEY_FILE", str(data_dir / EVALUATOR_WEBHOOK_KEY))
    # ... which must exist before they run (a hand-run migrate without it is refused)
    ensure_webhook_key(Path(os.environ["EVALUATOR_WEBHOOK_KEY_FILE"]))
    migrate_all(urls)

    broker = EmbeddedBroker(log_path=data_dir / "logs" / "tansu.log")
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, partitions=args.partitions)
    env = _child_env(kafka, urls, tokens_file, data_dir, args.host, ports)
    pipeline = Pipeline(broker, kafka, urls, env, ports, args.host, data_dir, args.verbose,
                        say=_print_now)
    try:
        pipeline.start_broker()
        pipeline.start_services()
        _banner(args.host, ports, broker.bootstrap_servers, tokens_file, data_dir,
                time.monotonic() - started)
        by_role = {p.role: t for t, p in tokens.items()}
        return _supervise(pipeline, args, by_role)
    finally:
        pipeline.stop()
        print("stopped: services and broker", flush=True)


def _child_env(kafka: KafkaSettings, urls: dict[str, str], tokens_file: Path, data_dir: Path,
               host: str, ports: dict[str, int]) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_PARTITIONS": str(kafka.partitions),
        "AUDIT_CHECKPOINT_DIR": str(data_dir / "checkpoints"),
        "EVALUATOR_SIGNING_KEY_FILE": str(data_dir / EVALUATOR_KEY),
        "EVALUATOR_WEBHOOK_KEY_FILE": env.get("EVALUATOR_WEBHOOK_KEY_FILE")
        or str(data_dir / EVALUATOR_WEBHOOK_KEY),
        "AUDIT_DECISION_KEYS": env.get("AUDIT_DECISION_KEYS")
        or str(public_key_path(data_dir / EVALUATOR_KEY)),
        "INTAKE_SIGNING_KEY_FILE": str(data_dir / INTAKE_KEY),
        "EVALUATOR_INTAKE_KEYS": env.get("EVALUATOR_INTAKE_KEYS")
        or str(public_key_path(data_dir / INTAKE_KEY)),
        "AUDIT_INTAKE_KEYS": env.get("AUDIT_INTAKE_KEYS")
        or str(public_key_path(data_dir / INTAKE_KEY)),
        "INTAKE_EVALUATOR_KEYS": env.get("INTAKE_EVALUATOR_KEYS")
        or str(public_key_path(data_dir / EVALUATOR_KEY)),
        "LOG_FORMAT": env.get("LOG_FORMAT", "json"),
    })
    for service in SERVICES:
        prefix = service.upper()
        env[f"{prefix}_DATABASE_URL"] = urls[service]
        env[f"{prefix}_TOKENS_FILE"] = str(tokens_file)
        env[f"{prefix}_HOST"] = host
        env[f"{prefix}_PORT"] = str(ports[service])
    # the coordinator app re-identifies through intake's audited endpoint
    env["EVALUATOR_INTAKE_URL"] = f"http://{host}:{ports['intake']}"
    return env


def sign_in_command(data_dir: Path, argv0: str | None = None,
                    which: Callable[[str], str | None] | None = None,
                    python: str = sys.executable) -> str:
    """The shell command that prints the coordinator's development token, as a user can paste
    it: ``trialwatch dev-token coordinator`` when the ``trialwatch`` on PATH is this program,
    else the program as it was started (``.venv/bin/trialwatch ...``, or ``<python> -m
    services.cli ...``); ``--data-dir`` added when ``run`` does not use the default ./var."""
    started = argv0 if argv0 is not None else sys.argv[0]
    on_path = (which or shutil.which)("trialwatch")
    if started.endswith(".py"):  # python -m services.cli
        program = f"{shlex.quote(python)} -m services.cli"
    elif on_path and Path(on_path).resolve() == Path(started).resolve():
        program = "trialwatch"
    else:
        program = shlex.quote(started)
    command = f"{program} dev-token coordinator"
    if data_dir != Path("var"):
        command += f" --data-dir {shlex.quote(str(data_dir))}"
    return command


def _banner(host: str, ports: dict[str, int], bootstrap: str, tokens_file: Path,
            data_dir: Path, elapsed_s: float) -> None:
    sign_in = sign_in_command(data_dir)
    print(f"""
TrialWatch is up in {elapsed_s:.1f}s
  intake     http://{host}:{ports['intake']}      (API docs: /docs)
  evaluator  http://{host}:{ports['evaluator']}
    coordinator app  http://{host}:{ports['evaluator']}/ui/  (sign-in token: {sign_in})
    worklist         http://{host}:{ports['evaluator']}/ui/trials/NCT06920433/worklist
    alert stream     http://{host}:{ports['evaluator']}/alerts/stream  (Server-Sent Events)
    CDS Hooks        http://{host}:{ports['evaluator']}/cds-services
  audit      http://{host}:{ports['audit']}
  broker     {bootstrap}  (embedded Tansu, in memory; refilled from the databases)
  data       {data_dir}  (SQLite databases, logs/, checkpoints/)
  tokens     {tokens_file}  (one development bearer token per role)
A service that stops is restarted. Progress (updates received, decisions made, alerts
raised: counts only) and each alert appear below. Ctrl-C stops everything.
""", flush=True)


def _supervise(pipeline: Pipeline, args: argparse.Namespace, tokens: dict[Role, str]) -> int:
    stop = pipeline.stopping
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    background = _Background(pipeline.kafka, args, tokens)
    background.start()
    try:
        while not stop.is_set():
            pipeline.check()
            stop.wait(0.2)
    finally:
        background.stop()
    return 0


class _Background:
    """The alert tail, the progress line (and the demo feed) on their own event loop, beside the
    supervisor."""

    def __init__(self, kafka: KafkaSettings, args: argparse.Namespace,
                 tokens: dict[Role, str]) -> None:
        self._kafka = kafka
        self._args = args
        self._tokens = tokens
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="run-background")
        self._tasks: list[concurrent.futures.Future[object]] = []

    def start(self) -> None:
        self._thread.start()
        # Alerts the evaluator republishes into a refilled broker were shown in an earlier
        # run: only alerts recorded from now on are printed, each once.
        since = utc_now()
        # counts of updates, decisions and alerts, so the terminal is never silent while the
        # pipeline works (fresh user); no patient key. One count for both tails: an alert is
        # counted as its ALERT line is printed, so no progress line after it says "no alert"
        progress = Progress(since)
        self._submit(tail_alerts(self._kafka, print_line=_print_now, recorded_since=since,
                                 shown=progress.alert_shown))
        self._submit(tail_progress(self._kafka, print_line=_print_now, since=since,
                                   progress=progress))
        if not self._args.verbose:  # verbose: intake's log, its refusals, is on the terminal
            # one line per refused submission (path and reason, no sent text): a 422 is seen
            # where the pipeline runs, not only by the sender
            self._submit(tail_refusals(self._args.data_dir.resolve() / "logs" / "intake.log",
                                       _print_now))
        if self._args.demo:
            base = f"http://{self._args.host}:{self._args.intake_port}"
            self._submit(demo.feed(base, self._tokens[Role.LAB_SYSTEM], _print_now))

    def _submit(self, work: Coroutine[object, object, object]) -> None:
        self._tasks.append(asyncio.run_coroutine_threadsafe(work, self._loop))

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                task.result(timeout=5)
        # the Kafka client's own background tasks end before the loop does, so nothing is left
        # pending ("Task was destroyed but it is pending!" on Ctrl-C)
        with contextlib.suppress(BaseException):
            asyncio.run_coroutine_threadsafe(_cancel_remaining(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


async def _cancel_remaining() -> None:
    """Cancel every task still running on this loop but the caller, and wait for them."""
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _print_now(line: str) -> None:
    print(line, flush=True)
