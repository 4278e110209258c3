"""Modifier extensions and implicit rules: elements TrialWatch must understand to read at all.

FHIR R4 Extensibility, "Modifier Extensions" (https://hl7.org/fhir/R4/extensibility.html#modifierExtension):
a modifier extension changes the meaning of the element that carries it (it may negate it, make
it uncertain, or move it to another subject: ehrbase/fhir-bridge#288's GECCO Condition
"uncertainty-of-presence", STU3's observation-focal-subject for a donor's result), and
"Implementations processing the data in resources SHALL check for modifier extensions ...
SHALL NOT process the element/resource if a modifier extension it does not understand is
present". FHIR R4 Resource.implicitRules: "A reference to a set of rules that were followed
when the resource was constructed, and which must be understood when processing the content"
(an element with ?! meaning: a modifier).

TrialWatch understands no modifier extension and no implicit rules. Every one in a resource it
reads (the resource itself, any backbone element: Observation.component, .referenceRange,
Dosage, Condition.stage ..., and its contained resources) is a problem at its path, so the
resource is refused (a transaction whole, a batch entry alone; FHIR R4 http). The whole
resource, not only the element: which elements a modifier changes the meaning of is not known,
and an element left unread may still decide (a refused dose would leave the medication read as
taken). Extensions inside an ordinary ``extension`` are not read at all and are not looked in.

The same walk refuses a primitive that says it has no value while carrying one. FHIR R4 JSON
(json.html, "Representing primitive elements"): a primitive's id and extensions are sent in the
sibling property ``_<name>`` (``valueQuantity._value``, ``_valueString``,
``_effectiveDateTime``, ``_birthDate``; for a repeating primitive, the array ``_<name>``
aligned with ``<name>``). FHIR R4 extension-data-absent-reason
(http://hl7.org/fhir/StructureDefinition/data-absent-reason): "Provides a reason why the
expected value or elements in the element that is extended are missing". Sent beside a value,
the element is both missing and present: which holds is unknown, so it is refused at
``<path>._<name>`` (as obs-6 refuses ``Observation.dataAbsentReason`` beside ``value[x]``).
Before, ``_<name>`` was never looked at and the value was read as if nothing were said of it.
"""

from __future__ import annotations

from typing import Any

from shared.clinical.fhir_values import Reader

_ENTRY_PARTS = ("request", "response", "search")


DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
"""FHIR R4 extension-data-absent-reason: why the element that carries it has no value."""
_KEYS = (b"modifierExtension", b"implicitRules", b"data-absent-reason")


def may_hold(payload: object) -> bool:
    """Whether the input can hold a modifier (or a data-absent-reason) at all: False only for
    JSON text (bytes or str) in which none of the keys (or that extension's name) is written
    and no ``\\u`` escape could spell one
    (``"modifier\\u0045xtension"`` is the same key, RFC 8259 section 7), and not UTF-16 or
    UTF-32 bytes (``json.loads`` reads those; they hold NUL bytes). Walking a 3.4 MB
    Synthea bundle costs ~14 ms; text without them need not be walked."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogatepass")
    if not isinstance(payload, bytes):
        return True
    return b"\\u" in payload or b"\x00" in payload or any(key in payload for key in _KEYS)


def check_resource(reader: Reader, resource: Any, path: str) -> None:
    """Add a problem for every ``modifierExtension`` and ``implicitRules`` in ``resource``, and
    for every primitive sent with a value and a data-absent-reason extension (``_absent``)."""
    _walk(reader, resource, path)


def check_entry(reader: Reader, entry: Any, path: str) -> None:
    """The Bundle entry's own backbone elements (entry, request, response, search): a modifier
    there may change what the entry asks for (FHIR R4 Bundle.entry is a BackboneElement)."""
    if not isinstance(entry, dict):
        return
    _modifier(reader, entry, path)
    for part in _ENTRY_PARTS:
        if isinstance(entry.get(part), dict):
            _modifier(reader, entry[part], f"{path}.{part}")


def check_bundle(reader: Reader, bundle: Any) -> None:
    """``Bundle.implicitRules`` (Bundle is a Resource: no modifierExtension of its own)."""
    if isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle":
        _implicit_rules(reader, bundle, "Bundle")


def _walk(reader: Reader, element: Any, path: str) -> None:
    if isinstance(element, list):
        for index, item in enumerate(element):
            _walk(reader, item, f"{path}[{index}]")
        return
    if not isinstance(element, dict):
        return
    _modifier(reader, element, path)
    if "resourceType" in element:
        _implicit_rules(reader, element, path)
    for key, value in element.items():
        if key in ("extension", "modifierExtension", "text"):
            continue  # ordinary extensions are not read; the narrative is XHTML
        if key.startswith("_") and len(key) > 1:
            _absent(reader, element, key, value, path)
        if isinstance(value, dict | list):
            _walk(reader, value, f"{path}.{key}")


def _modifier(reader: Reader, element: dict[str, Any], path: str) -> None:
    sent = element.get("modifierExtension")
    if not sent:
        return
    urls = [str(item.get("url")) for item in sent if isinstance(item, dict)] if isinstance(
        sent, list) else []
    named = ", ".join(repr(url) for url in urls) or "without a url"
    reader.problem(f"{path}.modifierExtension", (
        f"modifier extension {named} is not understood by TrialWatch: it may change the meaning"
        " of what carries it (negate it, make it uncertain, make it about someone else), and"
        " FHIR R4 Extensibility says an implementation SHALL NOT process the element or"
        " resource if a modifier extension it does not understand is present"))


def _implicit_rules(reader: Reader, resource: dict[str, Any], path: str) -> None:
    if resource.get("implicitRules") is None:
        return
    reader.problem(f"{path}.implicitRules", (
        f"implicit rules {resource['implicitRules']!r} are not understood by TrialWatch: FHIR"
        " R4 Resource.implicitRules names rules that must be understood when processing the"
        " content, so the resource cannot be read"))


def _absence(extended: Any) -> str | None:
    """The data-absent-reason code (or ``'?'``) an element's ``extension`` list carries, else
    None."""
    if not isinstance(extended, dict) or not isinstance(extended.get("extension"), list):
        return None
    for item in extended["extension"]:
        if isinstance(item, dict) and item.get("url") == DATA_ABSENT_REASON:
            code = item.get("valueCode")
            return code if isinstance(code, str) else "?"
    return None


def _absent(reader: Reader, element: dict[str, Any], key: str, extended: Any, path: str) -> None:
    """A problem at ``<path>.<key>`` (``_value``, ``_valueString`` ...; ``<key>[i]`` for a
    repeating primitive) when it carries a data-absent-reason and the primitive it extends
    (``<key>`` without ``_``) is sent with a value (module docstring)."""
    sent = element.get(key[1:])
    pairs: list[tuple[str, Any, Any]]
    if isinstance(extended, list):
        values = sent if isinstance(sent, list) else []
        pairs = [(f"{path}.{key}[{i}]", item, values[i] if i < len(values) else None)
                 for i, item in enumerate(extended)]
    else:
        pairs = [(f"{path}.{key}", extended, sent)]
    for where, item, value in pairs:
        code = _absence(item)
        if code is None or value is None:
            continue
        reader.problem(where, (
            f"a data-absent-reason ({code!r}) is sent beside the value of {key[1:]!r}: FHIR R4"
            " extension-data-absent-reason says the element's value is missing, and one is"
            " sent (FHIR R4 JSON: '_" + key[1:] + "' carries the extensions of the primitive"
            f" '{key[1:]}'): whether the value stands is unknown"))
