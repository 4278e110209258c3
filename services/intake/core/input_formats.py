"""Input formats as a registry: what one format is, and how intake finds it.

An input format is one module in ``services/intake/core/formats/`` that calls ``register`` at
import (the package imports every module in it). It names its media types, reads bytes into
patient updates through the one shared normaliser (``shared.clinical``), and says where it is
posted over HTTP; the raw Kafka topic finds it by its media type (or a ``format`` header).
Adding a format is adding one module: the HTTP route, the OpenAPI document, the raw topic,
the receipts and the metrics all come from this registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from services.intake.core.receipts import EntryReceipt, Note
from shared.clinical.facts import PatientUpdate
from shared.clinical.hl7v2 import DEFAULT_PROCESSING_IDS


@dataclass(frozen=True, slots=True)
class MediaType:
    """A Content-Type read for one format. ``charset`` is the declared one, else UTF-8;
    ``charset_declared`` says which (an HL7 v2 message's own MSH-18 comes before both, see
    ``shared.clinical.hl7v2``)."""

    format: str
    charset: str
    charset_declared: bool = False


@dataclass(frozen=True, slots=True)
class ReadContext:
    """Who sent the input and when: ``source_system`` is the namespace of its patient ids;
    ``sender_zone`` the zone configured for this sender (``INTAKE_HL7V2_ZONES``) for times
    sent without an offset, or None (such times are then refused); ``site_mrn_authority``
    the names of this site's own MRN assigning authority (``INTAKE_MRN_ASSIGNING_AUTHORITY``,
    ``shared.clinical.record_numbers``; empty: not configured); ``processing_ids`` the HL7 v2
    MSH-11 processing ids read (``INTAKE_HL7V2_PROCESSING_IDS``, v2.5.1 table 0103; default P)."""

    source_system: str
    received_at: datetime
    sender_zone: tzinfo | None = None
    site_mrn_authority: frozenset[str] = frozenset()
    processing_ids: frozenset[str] = DEFAULT_PROCESSING_IDS


@dataclass(frozen=True, slots=True)
class Read:
    """What a format read: the updates, and for entry-wise formats what became of each entry."""

    updates: list[PatientUpdate]
    entries: tuple[EntryReceipt, ...] = ()
    # (fact id, path of the element coding the fact: OBX[2].3, Bundle.entry[1].resource.code)
    code_paths: tuple[tuple[str, str], ...] = ()
    # what was read with a warning outside any fact (PID[1].3, a Patient's identifier: other
    # facilities' record numbers not used), for the receipt's own warnings
    notes: tuple[Note, ...] = ()


Reader = Callable[[bytes, MediaType, ReadContext], Read]


@dataclass(frozen=True, slots=True)
class InputFormat:
    """One input format.

    ``name``: the receipt's ``format`` and the metrics label (``fhir-r4``); ``media_types``:
    the Content-Type essences it is read from, lower case; ``read``: bytes -> updates through
    ``shared.clinical``, raising ``shared.clinical.errors.InvalidInput`` or a ``Refusal`` for
    what it cannot read; ``route``: the HTTP path it is posted to; ``summary``, ``body_schema``
    and ``example``: its OpenAPI request body (``example`` synthetic, never a real patient);
    ``description``: the route's OpenAPI description (what the format carries and what is read
    of it); ``reads_media_types_by_default``: False for a format whose media types another format
    reads (a FHIR Subscription notification is ``application/fhir+json`` too): it is then
    read only at its own route, or on the raw topic when the ``format`` header names it.
    """

    name: str
    media_types: tuple[str, ...]
    read: Reader
    route: str
    summary: str
    body_schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    example: Any = None
    reads_media_types_by_default: bool = True
    description: str = ""


_REGISTRY: dict[str, InputFormat] = {}


def register(input_format: InputFormat) -> InputFormat:
    """Add a format; raises ``ValueError`` when its name or route is taken, or when two
    formats would both read one media type by default."""
    taken = [f.name for f in _REGISTRY.values()
             if input_format.name == f.name or input_format.route == f.route
             or (input_format.reads_media_types_by_default and f.reads_media_types_by_default
                 and set(input_format.media_types) & set(f.media_types))]
    if taken:
        raise ValueError(f"input format {input_format.name!r} clashes with {taken[0]!r}")
    _REGISTRY[input_format.name] = input_format
    return input_format


def input_formats() -> tuple[InputFormat, ...]:
    """Every registered format, in registration order."""
    importlib.import_module("services.intake.core.formats")  # each module registers itself
    return tuple(_REGISTRY.values())


def input_format(name: str) -> InputFormat:
    """The format registered under ``name``; ``KeyError`` if there is none."""
    input_formats()
    return _REGISTRY[name]


def default_format_of(essence: str) -> InputFormat | None:
    """The format a media type (its essence, lower case) is read as when no format is named."""
    return next((f for f in input_formats()
                 if f.reads_media_types_by_default and essence in f.media_types), None)
