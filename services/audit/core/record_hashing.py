"""Hashing a record fast, byte for byte the way ``shared.hashing`` hashes its hashed form.

The reference (``audit_record.hashed_form`` through ``shared.hashing``) parses the stored
decision JSON and serialises it again, with the standard library, for every record: most of a
record's hashing time. Two facts make that work avoidable without changing a single byte:

- Canonical JSON nests: the canonical text of ``{..., "decision": D, ...}`` is the canonical
  text of the other fields with ``"decision":`` followed by the canonical text of ``D``
  (sorted keys and compact separators apply at every level). The decision and the registry
  change are stored as exactly that text, so it is spliced in as stored.
- The other fields are strings, integers and nulls only. orjson (``OPT_SORT_KEYS``) writes
  those byte-identically to ``json.dumps(sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)``: same escapes, UTF-8, key order by code point
  (tests/unit/audit/test_record_hashing.py holds it against the reference with hypothesis).
  Floats are where the two differ (``1e-05`` against ``0.00001``, NaN against null): a value
  of any other type takes the reference path.

Verification uses the fast hash as a fast path only, and splices a stored text only once orjson
has read it as one whole JSON value: the text hashed is then a JSON object with exactly the
record's fields, so when its hash equals the stored hash it is byte for byte the text the record
was hashed from (SHA-256), and the record means what it meant. Otherwise (a text that is not
canonical or not JSON, a value of another type) the reference decides, so verify reports exactly
what the reference reports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

_SCALARS = (str, int, type(None))


def fast_hash(form: Mapping[str, Any], texts: Mapping[str, str]) -> str | None:
    """``sha256:`` of the canonical JSON of ``form`` with ``texts[k]`` (canonical JSON text)
    standing for ``form[k]`` for each spliced key ``k``; None when a field is not a string, an
    integer or null (the caller falls back to the reference)."""
    top: dict[str, Any] = {}
    for key, value in form.items():
        if key in texts:
            # written as it is, byte for byte (UTF-8), in its key's place
            top[key] = orjson.Fragment(texts[key])
        elif type(value) in _SCALARS:
            top[key] = value
        else:
            return None
    try:
        encoded = orjson.dumps(top, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return None  # e.g. an integer beyond 64 bits, a lone surrogate: the reference decides
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


def is_one_json_value(text: str) -> bool:
    """Whether ``text`` reads as exactly one JSON value (orjson: no trailing data, no NaN)."""
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True
