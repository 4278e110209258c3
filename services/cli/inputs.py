"""Input files for ``trialwatch evaluate --input``: FHIR R4 JSON or HL7 v2, detected by content.

Each file is read through the same normaliser intake uses (``shared.clinical``), in the order
given, so an integrator can run their feed's messages offline. A file is:

- FHIR R4 JSON (first non-blank character ``{``): one resource or a Bundle, as ``POST /fhir``;
- HL7 v2 ER7 (first segment ``MSH``, or a batch ``FHS``/``BHS``): one message or several (a
  batch file, v2.5.1 2.10.3: each ``MSH`` starts a message; ``FHS``/``BHS``/``BTS``/``FTS`` are
  batch envelopes, not results). Bytes are decoded by MSH-18 (as intake does).

All FHIR files share one source namespace (``file``) so that a later version of a resource
replaces an earlier one across files; HL7 v2 messages are named by MSH-4/MSH-3, as intake names
them, so a correction in a later file replaces the result of an earlier one.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

from shared.clinical.errors import InvalidInput, Problem
from shared.clinical.facts import PatientUpdate
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import DEFAULT_PROCESSING_IDS, parse_hl7v2

FHIR_SOURCE = "file"
_MLLP = b"\x0b\x1c"
_BATCH_ENVELOPES = (b"FHS", b"BHS", b"BTS", b"FTS")
_SEGMENT_END = re.compile(rb"\r\n|\r|\n")


class InputError(Exception):
    """A file that cannot be read or is refused; ``problems`` name each element and why.

    ``more`` holds the other refused files (or batch messages) of the same run, so that one run
    names every refusal, not only the first.
    """

    def __init__(self, message: str, problems: tuple[Problem, ...] = (),
                 more: tuple[InputError, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems
        self.more = more

    def each(self) -> tuple[InputError, ...]:
        """This refusal and every other one of the run, in input order."""
        return (self, *self.more)


@dataclass(frozen=True)
class ReadInput:
    """What one file (or one message of an HL7 v2 batch file) became."""

    label: str  # "labs.hl7" or "labs.hl7 message 2"
    format: str  # "fhir-r4" or "hl7v2"
    updates: tuple[PatientUpdate, ...]


def read_inputs(paths: list[str], sender_zone: tzinfo | None = None,
                processing_ids: frozenset[str] = DEFAULT_PROCESSING_IDS) -> list[ReadInput]:
    """Every file in order; raises ``InputError`` naming every file (or message) refused.
    ``processing_ids``: the HL7 v2 MSH-11 processing ids read (v2.5.1 table 0103; as intake's
    INTAKE_HL7V2_PROCESSING_IDS, default P: a training or debugging message is refused)."""
    read: list[ReadInput] = []
    refused: list[InputError] = []
    for path in paths:
        try:
            read.extend(read_input(path, sender_zone, processing_ids))
        except InputError as error:
            refused.extend(error.each())
    if refused:
        first, *more = refused
        raise InputError(str(first), first.problems, tuple(more))
    return read


def read_input(path: str, sender_zone: tzinfo | None = None,
               processing_ids: frozenset[str] = DEFAULT_PROCESSING_IDS) -> list[ReadInput]:
    name = Path(path).name
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    head = data.lstrip(codecs.BOM_UTF8 + _MLLP + b" \t\r\n")
    if head.startswith(b"{"):
        return [_fhir(name, data)]
    if head.startswith((b"MSH", *_BATCH_ENVELOPES)) or data.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    ):
        return _hl7v2(name, data, sender_zone, processing_ids)
    raise InputError(
        f"{name}: neither FHIR R4 JSON (starts with '{{') nor HL7 v2 (starts with MSH)"
    )


def _fhir(name: str, data: bytes) -> ReadInput:
    try:
        document: Any = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{name}: not JSON ({error})") from None
    if not isinstance(document, dict):
        raise InputError(f"{name}: a FHIR resource must be a JSON object")
    try:
        updates = parse_fhir(document, source_system=FHIR_SOURCE)
    except InvalidInput as error:
        raise InputError(f"{name}: refused FHIR R4 input", error.problems) from None
    return ReadInput(label=name, format="fhir-r4", updates=tuple(updates))


def _hl7v2(name: str, data: bytes, sender_zone: tzinfo | None,
           processing_ids: frozenset[str]) -> list[ReadInput]:
    messages = split_messages(data)
    if not messages:
        raise InputError(f"{name}: no MSH segment")
    read = []
    refused = []
    for number, message in enumerate(messages, start=1):
        label = name if len(messages) == 1 else f"{name} message {number}"
        try:
            updates = parse_hl7v2(message, sender_zone=sender_zone,
                                  processing_ids=processing_ids)
        except InvalidInput as error:
            refused.append(InputError(f"{label}: refused HL7 v2 message", error.problems))
            continue
        read.append(ReadInput(label=label, format="hl7v2", updates=tuple(updates)))
    if refused:
        first, *more = refused
        raise InputError(str(first), first.problems, tuple(more))
    return read


def split_messages(data: bytes) -> list[bytes]:
    """A batch file's messages: each MSH segment starts one; batch envelopes are dropped.

    Text in UTF-16 (with a byte-order mark) is passed whole: its segments are not ASCII bytes.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return [data]
    data = data.removeprefix(codecs.BOM_UTF8)
    messages: list[list[bytes]] = []
    for segment in _SEGMENT_END.split(data):
        segment = segment.strip(_MLLP + b" \t")
        if not segment or segment.startswith(_BATCH_ENVELOPES):
            continue
        if segment.startswith(b"MSH"):
            messages.append([])
        elif not messages:
            kind = segment[:3].decode("latin-1")
            raise InputError(f"a {kind!r} segment before the first MSH: not an HL7 v2 message")
        messages[-1].append(segment)
    return [b"\r".join(segments) + b"\r" for segments in messages]
