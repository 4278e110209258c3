"""The ``run`` launcher's supervisor: keeps the embedded broker and the three services running.

A service that dies is restarted alone, after a growing pause (``Backoff``: 0.5 s, 1 s, 2 s ...
up to 30 s, back to 0.5 s once it has stayed up a minute), while the broker and the other
services keep running: the broker keeps the service's queued work and its consumer group's
committed offsets, so it resumes where it stopped. Nothing accepted is lost because every
service commits its offsets only after its work is durable and every consumer drops repeats
by id.

The embedded broker keeps its records in memory, so a broker that dies (or a new ``run``)
starts empty. The accepted updates and decisions it held are still in the services' durable
outboxes: every time a fresh broker starts, the topics are created, both outboxes are marked
unpublished again (``requeue_outbox`` of intake and evaluator) and the services are (re)started,
so intake republishes every accepted update and the evaluator every decision and alert, each
oldest first and ahead of new work. Consumer groups on a fresh broker have no offsets and read
from the earliest record; repeats are dropped by event and decision id. The services are
restarted with the broker because a consumer's in-memory position would be past the end of
the new, empty log.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.evaluator.admin import requeue_outbox as requeue_decisions
from services.intake.admin import requeue_outbox as requeue_updates
from shared.infra.backoff import Backoff
from shared.infra.embedded_broker import EmbeddedBroker, die_with_parent
from shared.infra.kafka import ensure_topics
from shared.settings import KafkaSettings

SERVICES = ("intake", "evaluator", "audit")
SERVICE_ROLES = {"intake": "receives FHIR and HL7 v2", "evaluator": "screens patients, "
                 "coordinator app", "audit": "keeps every decision"}
# A service that has stayed up this long is healthy again: its next crash restarts at once.
STABLE_AFTER_S = 60.0


@dataclass
class Child:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)
    restarts: int = 0
    awaiting_ready: bool = False


def describe_exit(code: int | None) -> str:
    """An exit code as a person reads it: 'killed by SIGKILL', 'exit code 1'."""
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


class Pipeline:
    def __init__(
        self,
        broker: EmbeddedBroker,
        kafka: KafkaSettings,
        urls: dict[str, str],
        env: dict[str, str],
        ports: dict[str, int],
        host: str,
        data_dir: Path,
        verbose: bool,
        say: Callable[[str], None],
    ) -> None:
        self.broker = broker
        self.kafka = kafka
        self.urls = urls
        self.env = env
        self.ports = ports
        self.host = host
        self.data_dir = data_dir
        self.verbose = verbose
        self.say = say
        self.stopping = threading.Event()
        self.children: dict[str, Child] = {}
        self._backoff = {s: Backoff(first_s=0.5, max_s=30.0) for s in SERVICES}
        self._restart_at: dict[str, float] = {}
        self._broker_backoff = Backoff(first_s=0.5, max_s=30.0)

    # -- start and stop --------------------------------------------------------------------

    def start_broker(self) -> tuple[int, int]:
        """Start a fresh broker, create the topics and requeue both outboxes into it.
        Returns (accepted updates, decisions and alerts) that will be published again."""
        self.broker.start()
        asyncio.run(ensure_topics(self.kafka))
        updates = asyncio.run(requeue_updates(self.urls["intake"]))
        decisions = asyncio.run(requeue_decisions(self.urls["evaluator"]))
        if updates or decisions:
            self.say(f"the broker starts empty (it keeps records in memory): replaying "
                     f"{updates} accepted updates and {decisions} decisions and alerts from "
                     f"the services' databases; already-processed ones are skipped by id")
        return updates, decisions

    def start_services(self) -> None:
        self.children = {s: self._spawn(s) for s in SERVICES}
        self._wait_ready(list(self.children.values()))

    def stop(self, timeout_s: float = 15.0) -> None:
        """Services first, gracefully (each finishes and commits its in-flight work), then the
        broker. Nothing is lost: what the broker held is in the services' outboxes."""
        self.stopping.set()
        self._stop_children(timeout_s)
        self.broker.stop()

    def _stop_children(self, timeout_s: float) -> None:
        children = list(self.children.values())
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

    def _spawn(self, service: str, restarts: int = 0) -> Child:
        logs = self.data_dir / "logs" / f"{service}.log"
        log = None if self.verbose else open(logs, "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", service],
            env=self.env, stdout=log, stderr=log, start_new_session=True,
            preexec_fn=die_with_parent,
        )
        if log is not None:
            log.close()  # the child has its own descriptor
        return Child(service, self.ports[service], process, restarts=restarts,
                     awaiting_ready=restarts > 0)

    def _wait_ready(self, children: list[Child], timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(children)
        while pending and not self.stopping.is_set():
            for child in list(pending):
                if child.process.poll() is not None:
                    raise SystemExit(f"{child.name} exited at start "
                                     f"({describe_exit(child.process.returncode)}); see "
                                     f"{self.data_dir / 'logs' / child.name}.log")
                if self._ready(child):
                    pending.remove(child)
                    self.say(f"{child.name} ready ({SERVICE_ROLES.get(child.name, '')}, "
                             f"port {child.port})")
            if pending and time.monotonic() > deadline:
                names = ", ".join(c.name for c in pending)
                raise SystemExit(f"not ready after {timeout_s:.0f}s: {names}")
            if pending:
                time.sleep(0.1)

    def _ready(self, child: Child) -> bool:
        try:
            url = f"http://{self.host}:{child.port}/readyz"
            return httpx.get(url, timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    # -- supervision -----------------------------------------------------------------------

    def check(self) -> None:
        """One supervision round: restart what died, report what came back."""
        code = self.broker.exit_code()
        if code is not None:
            self._recover_broker(code)
            return
        now = time.monotonic()
        for name, child in list(self.children.items()):
            if child.process.poll() is None:
                self._watch_running(child, now)
            elif name not in self._restart_at:
                delay = self._backoff[name].step()
                self._restart_at[name] = now + delay
                self.say(f"{name} stopped unexpectedly ({describe_exit(child.process.returncode)})"
                         f"; restarting it in {delay:.1f} s. The broker and the other services "
                         f"keep running and hold its work, so nothing accepted is lost.")
            elif now >= self._restart_at[name]:
                del self._restart_at[name]
                self.children[name] = self._spawn(name, restarts=child.restarts + 1)

    def _watch_running(self, child: Child, now: float) -> None:
        if child.awaiting_ready and self._ready(child):
            child.awaiting_ready = False
            self.say(f"{child.name} is running again (restart {child.restarts}, ready "
                     f"{now - child.started_at:.1f} s after it was started)")
        if now - child.started_at > STABLE_AFTER_S:
            self._backoff[child.name].reset()

    def _recover_broker(self, code: int) -> None:
        self.say(f"the broker stopped unexpectedly ({describe_exit(code)}). Accepted updates "
                 f"are safe in the services' databases: restarting the broker, then the "
                 f"services, which replay them into it.")
        self._stop_children(timeout_s=5.0)
        self._restart_at.clear()
        self.broker.stop()
        while not self.stopping.is_set():
            try:
                self.start_broker()
                break
            except Exception as error:  # the port still held, Tansu failing: try again
                delay = self._broker_backoff.step()
                self.say(f"the broker did not start ({type(error).__name__}); "
                         f"trying again in {delay:.1f} s")
                self.broker.stop()
                self.stopping.wait(delay)
        if self.stopping.is_set():
            return
        self._broker_backoff.reset()
        self.start_services()
        self.say("the broker and the services are running again")
