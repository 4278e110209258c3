"""Which text TrialWatch accepts from outside: one rule for every string of every input.

A string sent to any service (a JSON or form field, a query parameter, a trial file's scalar)
must not hold:

- NUL or another C0 control character other than TAB, LF and CR (U+0000-U+0008, U+000B,
  U+000C, U+000E-U+001F). PostgreSQL ``text`` cannot hold NUL at all (the insert fails: a 500),
  SQLite stores it, so the same input was refused on one database and kept on the other; the
  others end up in logs, CSV exports and HTML where they split or hide content. XML 1.0 2.2
  "Characters" and JSON's own rule for unescaped text (RFC 8259 section 7) exclude the same set.
- A lone surrogate (U+D800-U+DFFF). JSON's ``\\ud800`` escape and YAML's ``"\\ud800"`` decode to
  one in Python, but it is no Unicode scalar value (Unicode 15, D76), so it cannot be encoded in
  UTF-8: the database driver, the log writer or the JSON answer echoing it fails (a 500).
- More than ``MAX_TEXT_CHARS`` characters. No field TrialWatch reads outside FHIR and HL7 v2
  needs more (the longest are a JWT, a URL, a trial file's description); the body limit bounds
  the whole request, this bounds what one field can make a parser or a column do.

Pure: strings in, problems (a path and a reason, never the offending text) out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

MAX_TEXT_CHARS = 65_536
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def character_problem(text: str, max_chars: int = MAX_TEXT_CHARS) -> tuple[int, str] | None:
    """The first reason ``text`` is refused: (0-based character index, reason), or None.

    The reason names the character by code point (``U+0000 (NUL)``) and never quotes the text.
    Over-long text is reported at index ``max_chars``."""
    if len(text) > max_chars:
        return max_chars, f"is longer than {max_chars} characters"
    found = _FORBIDDEN.search(text)
    if found is None:
        return None
    code = ord(found.group())
    if 0xD800 <= code <= 0xDFFF:
        return found.start(), f"holds a lone surrogate U+{code:04X} (not a Unicode character)"
    label = "U+0000 (NUL)" if code == 0 else f"the control character U+{code:04X}"
    return found.start(), (f"holds {label}: control characters other than tab, line feed "
                           "and carriage return are not accepted")


def text_problems(value: Any, path: str = "body",
                  max_chars: int = MAX_TEXT_CHARS) -> list[tuple[str, str]]:
    """Every refused string in a JSON-like value (dicts, lists, strings; keys too), as
    (path, reason): the path joins keys and list indices with ``.`` under ``path``, as
    FastAPI names a field (``body.context.patientId``, ``body.items.0``)."""
    return list(_walk(value, path, max_chars))


def _walk(value: Any, path: str, max_chars: int) -> Iterator[tuple[str, str]]:
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            problem = character_problem(item, max_chars)
            if problem is not None:
                yield where, problem[1]
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                name = str(key)
                problem = character_problem(name, max_chars)
                if problem is not None:
                    yield where, f"a key {problem[1]}"
                    continue
                stack.append((child, f"{where}.{name}"))
        elif isinstance(item, list):
            stack.extend((child, f"{where}.{i}") for i, child in reversed(list(enumerate(item))))
