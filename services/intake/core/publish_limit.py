"""Nothing accepted may be unpublishable: an event larger than the broker's producer publishes
is refused at intake (413), never answered 202 and then retried forever by the relay.

The producer refuses a record whose estimated batch size exceeds its ``max_request_size``
(aiokafka 0.14 ``AIOKafkaProducer._serialize``; default 1,048,576 bytes, configured here by
``KAFKA_MAX_REQUEST_SIZE``). The relay publishes each outbox payload as FastStream encodes a
JSON object: compact with orjson installed, else ``json.dumps`` with its default ASCII
escaping and separators, the larger of the two. The estimate below is that larger encoding
plus the key and a fixed allowance for the record batch framing and the message headers, so
it is never smaller than what the producer measures, whichever encoder FastStream uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.contracts.events import PatientMerged, PatientUpdated

AIOKAFKA_DEFAULT_MAX_REQUEST_SIZE = 1_048_576
# A v2 record batch header is 61 bytes and a record's own framing about 20; FastStream adds
# ``content-type`` and ``correlation_id`` headers (about 70 bytes). 1 KiB leaves room for a
# relay that adds a few more headers.
FRAMING_ALLOWANCE_BYTES = 1024


def ascii_json(document: Any) -> bytes:
    """``json.dumps`` with its defaults: the largest encoding FastStream may use."""
    return json.dumps(document).encode()


@dataclass(frozen=True, slots=True)
class PublishLimit:
    """``max_request_size``: the producer's limit in bytes (aiokafka's ``max_request_size``);
    ``encode``: how the relay's broker encodes a JSON document (the composition root passes
    FastStream's own encoder; the default is the largest it may use)."""

    max_request_size: int = AIOKAFKA_DEFAULT_MAX_REQUEST_SIZE
    encode: Callable[[Any], bytes] = ascii_json

    def size_of(self, event: PatientUpdated | PatientMerged, compact_json: str) -> int:
        """Bytes the producer counts for ``event`` (an upper bound); ``compact_json`` is the
        event as stored in the outbox (``model_dump_json``)."""
        framing = FRAMING_ALLOWANCE_BYTES + len(event.patient_key.encode())
        return len(self.encode(json.loads(compact_json))) + framing

    def fits(self, size: int) -> bool:
        return size <= self.max_request_size

    def excess(self, event: PatientUpdated | PatientMerged, compact_json: str) -> int | None:
        """None when ``event`` (stored as ``compact_json``) fits, else ``size_of`` it (bytes).

        Most events are far below the limit, and re-encoding one to measure it (``json.loads``
        and ``encode``) cost as much as serialising it: that is done only for an event whose
        stored JSON is longer than a third of the room left after the framing. Any JSON
        encoding of the document is at most 3 times its compact UTF-8 form: every token keeps
        or grows to at most 3 times its bytes (``,`` and ``:`` gain a space; a non-ASCII
        character of 2, 3 or 4 UTF-8 bytes becomes ``\\uXXXX``, 6 bytes, or a surrogate pair,
        12; a number's exponent may gain a sign and a zero: ``1e16`` to ``1e+16``), so below
        that the precise count could only say it fits."""
        framing = FRAMING_ALLOWANCE_BYTES + len(event.patient_key.encode())
        if 3 * len(compact_json.encode()) + framing <= self.max_request_size:
            return None
        size = self.size_of(event, compact_json)
        return None if self.fits(size) else size
