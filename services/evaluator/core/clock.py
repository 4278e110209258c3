"""The evaluator's clock: the process's one wall clock (``shared.infra.clock``, which watches
it for steps against the monotonic clock); tests pass their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.infra.clock import utc_now

Clock = Callable[[], datetime]

__all__ = ["Clock", "utc_now"]
