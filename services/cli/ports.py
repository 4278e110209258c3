"""Before ``trialwatch run`` starts anything: every port it will listen on must be free.

A busy port used to be reported as "up" (another program answered) and the run died later with
the cause only in a log file. Each busy port is named with its service and the flag that moves
it.
"""

from __future__ import annotations

import errno
import socket


def busy_ports(host: str, ports: dict[str, int]) -> list[str]:
    """One line per port that cannot be bound on ``host`` (empty when all are free)."""
    problems = []
    for service, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as error:
                why = "in use" if error.errno == errno.EADDRINUSE else error.strerror
                problems.append(f"port {port} ({service}) on {host} is {why}: stop what uses "
                                f"it, or choose another with --{service}-port PORT")
    return problems
