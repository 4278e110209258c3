"""Hand a topic's bytes to the consumer untouched, so a consumer can dead-letter what it
cannot read.

FastStream decodes a body by its content-type before any handler runs, even one that only
takes the raw ``KafkaMessage``: a record labelled ``application/json`` that is not JSON (or
text that is not UTF-8, or a header that is not UTF-8) would fail there, be nacked and
redelivered forever, blocking its partition. The parsers keep undecodable headers (replacing
bad bytes) and the decoder returns the body as bytes (a list of bytes for a batch).
Use as ``broker.subscriber(..., parser=tolerant_parser, decoder=bytes_decoder)``, or
``tolerant_batch_parser`` for a ``batch=True`` subscriber.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any


def _readable_headers(record: Any) -> Any:
    headers = [(name, value.decode("utf-8", "replace").encode("utf-8"))
               for name, value in (record.headers or ())]
    return dataclasses.replace(record, headers=headers)


async def tolerant_parser(record: Any, default_parser: Callable[[Any], Awaitable[Any]]) -> Any:
    return await default_parser(_readable_headers(record))


async def tolerant_batch_parser(
    records: tuple[Any, ...], default_parser: Callable[[Any], Awaitable[Any]]
) -> Any:
    return await default_parser(tuple(_readable_headers(record) for record in records))


async def bytes_decoder(message: Any) -> Any:
    return message.body
