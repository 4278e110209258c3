"""Which failures mean "try again later" and which mean "this record can never go": the one set
every consumer, relay and background loop uses.

Transient: the database or the broker is away, slow or busy (connection refused, timeouts, a
lost leader, a rebalance). Back off and try again; nothing is lost. A database IntegrityError
counts too: after a rebalance another process may have applied the same event first, and the
retry finds it done.

Unpublishable: the broker (or the producer before it) refuses the record itself - larger than
the producer's ``max_request_size`` or the topic's ``max.message.bytes``, corrupt, invalid for
the topic, or a value the serializer cannot encode. Trying again gives the same answer forever,
so such a record goes to a dead-letter table instead (``shared.infra.outbox``).
"""

from __future__ import annotations

from aiokafka.errors import (
    CorruptRecordException,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnsupportedForMessageFormatError,
)
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout

UNPUBLISHABLE: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    InvalidTopicError,
    UnsupportedForMessageFormatError,
    # the payload itself cannot be serialized (a non-finite float, a lone surrogate)
    TypeError,
    ValueError,
    UnicodeError,
)

# For ``except`` clauses. KafkaError includes the unpublishable broker answers above: a caller
# that publishes should ask ``is_transient`` instead.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    DBAPIError, DisconnectionError, PoolTimeout, OSError, TimeoutError, KafkaError,
)


def is_unpublishable(error: BaseException) -> bool:
    """True when ``error`` says the record itself can never be published."""
    return isinstance(error, UNPUBLISHABLE)


def is_transient(error: BaseException) -> bool:
    """True when trying again later may succeed (and the record is not at fault)."""
    return isinstance(error, TRANSIENT_ERRORS) and not is_unpublishable(error)
