"""Hand the raw topic's bytes to intake untouched.

FastStream decodes a body by its content-type before any handler runs: a record labelled
``application/json`` that is not JSON (or text that is not UTF-8, or a header that is not
UTF-8) would fail there, be nacked and redelivered forever, blocking its partition. Intake
must see such a record to dead-letter it, so the parser keeps undecodable headers (replacing
bad bytes) and the decoder returns the body as bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any


async def tolerant_parser(record: Any, default_parser: Callable[[Any], Awaitable[Any]]) -> Any:
    headers = [(name, value.decode("utf-8", "replace").encode("utf-8"))
               for name, value in (record.headers or ())]
    return await default_parser(dataclasses.replace(record, headers=headers))


async def bytes_decoder(message: Any) -> bytes:
    body: bytes = message.body
    return body
