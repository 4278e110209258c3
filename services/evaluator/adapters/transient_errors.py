"""Which failures mean "try again later" (back off, redeliver) rather than "this message is bad"."""

from __future__ import annotations

from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError

# Failures that say "try again later", not "this message is bad". An IntegrityError is here
# too: it means another process (after a rebalance) applied the same event first.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, OSError, TimeoutError, KafkaError)
