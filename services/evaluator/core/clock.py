"""The evaluator core's clock port: a callable returning the aware UTC now. The process passes
the one wall clock (``shared.infra.clock.utc_now``, which watches it for steps); tests pass
their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

Clock = Callable[[], datetime]
